# opsbot: Debian trixie, Python 3.13, PostgreSQL 17 client tools, the dependencies of requirements.lock.
#
#   DOCKER_BUILDKIT=1 docker build -t opsbot .
#
# pg_dump refuses a server newer than itself: pg_dump 17 backs up and restores PostgreSQL 9.2 to 17.
# Behind a TLS-intercepting proxy, hand pip the CA bundle as a build secret; it is mounted for the
# one step that installs from PyPI and never stored in a layer:
#   --secret id=pip_ca,src=/etc/ssl/certs/ca-certificates.crt
# Run it with compose.yaml (docs/deploy.md): the bot's data lives in a named volume on /data.
ARG BASE=debian:trixie-slim

FROM ${BASE} AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/opsbot
COPY requirements.lock /tmp/requirements.lock
RUN --mount=type=secret,id=pip_ca,required=false \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
    && /opt/opsbot/bin/pip install --no-cache-dir --disable-pip-version-check \
        --require-hashes --only-binary :all: -r /tmp/requirements.lock
COPY pyproject.toml README.md /src/
COPY bot /src/bot
COPY handlers /src/handlers
COPY playbooks /src/playbooks
COPY storage /src/storage
RUN /opt/opsbot/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation /src

FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 postgresql-client-17 ca-certificates tzdata \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 opsbot \
    && useradd --system --uid 10001 --gid opsbot --home-dir /data --no-create-home --shell /usr/sbin/nologin opsbot \
    && mkdir /data && chown opsbot:opsbot /data
COPY --from=build /opt/opsbot /opt/opsbot
ENV PATH=/opt/opsbot/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=3000 \
    DATABASE_URL=sqlite:////data/opsbot.db
WORKDIR /data
USER opsbot
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
ENTRYPOINT ["opsbot"]
CMD ["serve"]
