# One image for every part of the stack: the four processes share all their
# code and dependencies, so one build serves them all; compose picks the part
# with `frota serve <part>`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

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
RUN pip install --no-deps . && mkdir -p /data/media && chown frota:frota /data/media

USER frota
ENV FROTA_ENV=production \
    FROTA_VAR_DIR=/tmp/frota \
    MEDIA_ROOT=/data/media \
    BIND_HOST=0.0.0.0
EXPOSE 8000 8001 8002 8003
CMD ["frota", "serve", "gateway"]
