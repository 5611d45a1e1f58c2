# One image for every part of the stack (auth, fleet, media, gateway, and the
# migrate and backup jobs). They share all their code and dependencies, so one
# build serves them all, every part runs the same tested release, and an update
# or a rollback is one tag; compose picks the part with `frota serve <part>`.
#
# Bookworm (Debian 12), named explicitly so the base cannot change under us.
FROM python:3.11-slim-bookworm

# The PostgreSQL major version of the `db` service (docker-compose.yml passes
# the same value to both). `frota backup` needs a pg_dump at least as new as
# the server, and a newer one writes dumps that the server's own version may
# refuse to load (pg_dump 17+ emits `SET transaction_timeout`): so the image
# carries the client of exactly the server's major version, from the
# PostgreSQL project's apt repository (Debian 12 itself only has 15).
ARG PG_MAJOR=16

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Python fetches the repository key (https, certificate checked): no curl or
# gnupg to install and remove again; apt verifies packages against the key.
RUN python -c "import urllib.request; urllib.request.urlretrieve('https://www.postgresql.org/media/keys/ACCC4CF8.asc', '/usr/share/keyrings/pgdg.asc')" \
    && . /etc/os-release \
    && echo "deb [signed-by=/usr/share/keyrings/pgdg.asc] https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list \
    && apt-get update \
    && apt-get install --yes --no-install-recommends "postgresql-client-${PG_MAJOR}" \
    && rm -rf /var/lib/apt/lists/*

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
EXPOSE 8000 8001 8002 8003
CMD ["frota", "serve", "gateway"]
