#!/usr/bin/env bash
# TEST FIXTURE: the official postgres image's entry point, reduced to what the
# compose file uses. On an empty data directory: initdb as POSTGRES_USER with
# POSTGRES_PASSWORD (scram-sha-256 over TCP, trust on the local socket), a
# database POSTGRES_DB, then /docker-entrypoint-initdb.d/*.sql and *.sh against
# a server that listens on the socket only; then the server itself.
set -Eeuo pipefail

if [ "${1:0:1}" = - ]; then
    set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    exec gosu postgres "$BASH_SOURCE" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?the postgres image needs POSTGRES_PASSWORD}"
    user="${POSTGRES_USER:-postgres}"
    db="${POSTGRES_DB:-$user}"
    initdb --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA" >/dev/null
    printf '\nhost all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    # The temporary server gets the command's settings (shared_preload_libraries...).
    server_args=("${@:2}" -c "listen_addresses=" -p 5432)
    pg_ctl -D "$PGDATA" -o "$(printf '%q ' "${server_args[@]}")" -w start >/dev/null
    if [ "$db" != postgres ]; then
        psql -v ON_ERROR_STOP=1 --username "$user" --no-psqlrc --dbname postgres \
            --set db="$db" <<< 'CREATE DATABASE :"db";'
    fi
    for file in /docker-entrypoint-initdb.d/*; do
        case "$file" in
            *.sql) echo "running $file"
                   psql -v ON_ERROR_STOP=1 --username "$user" --no-psqlrc --dbname "$db" -f "$file" ;;
            *.sh) echo "running $file"; . "$file" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
