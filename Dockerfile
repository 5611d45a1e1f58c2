# One image for every part of the stack (auth, fleet, media, gateway, and the
# migrate and backup jobs). They share all their code and dependencies, so one
# build serves them all, every part runs the same tested release, and an update
# or a rollback is one tag; compose picks the part with `frota serve <part>`.
#
# The PostgreSQL major version of the `db` service (docker-compose.yml passes
# the same value to both). `frota backup` needs a pg_dump at least as new as
# the server, and a newer one writes dumps that the server's own version may
# refuse to load (pg_dump 17+ emits `SET transaction_timeout`): so the image
# carries the client of exactly the server's major version, taken from the
# server's own image (Debian 12 itself only has 15). The build reaches nothing
# but the base images and the package registries.
ARG PG_MAJOR=16

FROM postgres:${PG_MAJOR}-bookworm AS postgres-client
ARG PG_MAJOR
# The programs `frota backup`/`restore` and the restore drill run, and the
# libpq they load (whatever path the image keeps it under).
RUN mkdir -p /out/bin /out/lib \
    && cd "/usr/lib/postgresql/${PG_MAJOR}/bin" \
    && cp pg_dump pg_restore psql pg_isready /out/bin/ \
    && cp -L "$(ldd pg_dump | awk '$1 == "libpq.so.5" {print $3}')" /out/lib/libpq.so.5

# Bookworm (Debian 12), named explicitly so the base cannot change under us.
FROM python:3.11-slim-bookworm
ARG PG_MAJOR

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The libraries the PostgreSQL client programs link, besides libpq (below);
# psql's line editor is readline or libedit depending on the build: both.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends \
        libedit2 libgssapi-krb5-2 libldap-2.5-0 liblz4-1 libreadline8 libssl3 libzstd1 zlib1g \
    && rm -rf /var/lib/apt/lists/*

# The client programs in Debian's versioned place (where `frota` looks for
# them) and on PATH; libpq in /usr/local/lib, which the loader searches. The
# build fails if a program misses a library or is not of the server's version.
COPY --from=postgres-client /out/bin/ /usr/lib/postgresql/${PG_MAJOR}/bin/
COPY --from=postgres-client /out/lib/libpq.so.5 /usr/local/lib/
RUN ldconfig \
    && ln -s /usr/lib/postgresql/${PG_MAJOR}/bin/* /usr/local/bin/ \
    && ! ldd /usr/lib/postgresql/${PG_MAJOR}/bin/* | grep "not found" \
    && pg_dump --version | grep -q "(PostgreSQL) ${PG_MAJOR}\."

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin frota
WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when
# pyproject.toml changes, not on every code change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md ./
COPY shared ./shared
COPY gateway ./gateway
COPY auth_service ./auth_service
COPY fleet_service ./fleet_service
COPY media_service ./media_service
COPY web ./web
COPY frota ./frota
# The mount points exist, owned by the app user: a named volume mounted there
# starts out with this owner.
RUN pip install --no-deps . \
    && install --directory --owner=frota --group=frota --mode=0700 /data/media /backups

USER frota
ENV FROTA_ENV=production \
    FROTA_VAR_DIR=/tmp/frota \
    MEDIA_ROOT=/data/media \
    BACKUP_DIR=/backups \
    BIND_HOST=0.0.0.0
EXPOSE 8000 8001 8002 8003 8004
CMD ["frota", "serve", "gateway"]
