#!/usr/bin/env bash
# Update the running stack to the image tag FROTA_IMAGE_TAG with a few seconds
# of refused requests instead of ~45 s (docs/operations.md, section 3):
#
#   FROTA_IMAGE_TAG=$(git rev-parse --short HEAD) deploy/update.sh
#   FROTA_IMAGE_TAG=<previous commit> deploy/update.sh --no-build    # rollback
#
# A plain `docker compose up -d` stops every app container first, runs the
# migrations, and starts the gateway only once the services' first health
# check has passed (30 s): clients get no answer all that time. Here instead:
#   1. the image is built (unless --no-build: a rollback to an image built
#      before) while the old release keeps serving;
#   2. the migrations run (a one-off `migrate` container) - the old release
#      serves meanwhile, so a migration must suit both releases (ours add
#      before they remove; a release whose notes say otherwise is updated with
#      `docker compose up -d --wait` and its downtime);
#   3. auth, fleet, media and web each get a second container of the new image
#      beside the old one; the gateway reaches whichever answers (a service
#      name resolves to both, and a refused connection tries the next address);
#      once the new ones are healthy the old ones are stopped and removed;
#   4. the job workers (fleet-worker, media-worker) are recreated: each old one
#      finishes its running jobs (up to 20 s) and the new one takes the queue
#      on; jobs wait meanwhile, nothing is lost (they are rows in PostgreSQL);
#   5. the gateway, which holds the published port, is recreated: the only
#      moment clients are refused (its stop and boot, a few seconds);
#   6. it waits for /health 200 - every service, its database and Redis -
#      and for the new workers' own health checks.
# COMPOSE names the compose command (default `docker compose`).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${FROTA_IMAGE_TAG:?set FROTA_IMAGE_TAG to the tag to update to}"
export FROTA_IMAGE_TAG
read -r -a compose <<< "${COMPOSE:-docker compose}"
SERVICES=(auth fleet media web)
WORKERS=(fleet-worker media-worker)
WAIT_SECONDS=180

say() { echo "update: $(date +%T) $*" >&2; }

health_of() { docker inspect --format '{{.State.Health.Status}}' "$1"; }

if [ "${1:-}" != --no-build ]; then
    say "building frota:$FROTA_IMAGE_TAG (the running release keeps serving)"
    "${compose[@]}" build
fi

say "migrating"
"${compose[@]}" run --rm --no-deps migrate

declare -A old
scale=()
for service in "${SERVICES[@]}"; do
    old[$service]="$("${compose[@]}" ps --quiet "$service")"
    if [ "$(wc -w <<< "${old[$service]}")" != 1 ]; then
        say "expected one running $service container, found: ${old[$service]:-none}"
        exit 1
    fi
    scale+=(--scale "$service=2")
done

say "starting the new ${SERVICES[*]} beside the old ones"
"${compose[@]}" up --detach --no-deps --no-recreate "${scale[@]}" "${SERVICES[@]}"
new=()
for service in "${SERVICES[@]}"; do
    container="$("${compose[@]}" ps --quiet "$service" | grep -v "${old[$service]}" || true)"
    if [ -z "$container" ]; then
        say "no new $service container started; the old ones still serve"
        exit 1
    fi
    new+=("$container")
done
deadline=$((SECONDS + WAIT_SECONDS))
for container in "${new[@]}"; do
    until [ "$(health_of "$container")" = healthy ]; do
        if [ "$SECONDS" -gt "$deadline" ]; then
            say "container $container not healthy within ${WAIT_SECONDS} s; the old ones still serve:"
            docker logs --tail 30 "$container" >&2
            exit 1
        fi
        sleep 1
    done
done

say "retiring the old ${SERVICES[*]}"
# All at once: each stop costs the requests in flight on it a moment.
docker stop "${old[@]}" >/dev/null
docker rm "${old[@]}" >/dev/null

say "recreating the job workers ${WORKERS[*]}"
"${compose[@]}" up --detach --no-deps "${WORKERS[@]}"

say "recreating the gateway"
"${compose[@]}" up --detach --no-deps --wait gateway

address="$("${compose[@]}" port gateway 8000)"
say "waiting for http://$address/health"
until curl --silent --fail --max-time 5 --output /dev/null "http://$address/health"; do
    if [ "$SECONDS" -gt "$deadline" ]; then
        say "/health still not 200:"
        curl --silent --max-time 5 "http://$address/health" >&2 || true
        exit 1
    fi
    sleep 1
done
for worker in "${WORKERS[@]}"; do
    container="$("${compose[@]}" ps --quiet "$worker")"
    until [ "$(health_of "$container")" = healthy ]; do
        if [ "$SECONDS" -gt "$deadline" ]; then
            say "$worker not healthy within ${WAIT_SECONDS} s:"
            docker logs --tail 30 "$container" >&2
            exit 1
        fi
        sleep 1
    done
done
say "frota:$FROTA_IMAGE_TAG is up, /health 200, workers healthy"
