# opsbot: `docker build -t opsbot .` then
#   docker run -p 3000:3000 -e SLACK_BOT_TOKEN -e SLACK_SIGNING_SECRET -e DATABASE_URL opsbot
# (Socket Mode: add -e SLACK_APP_TOKEN and the argument `serve --socket-mode`.)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=3000 \
    DATABASE_URL=sqlite:////data/opsbot.db

RUN groupadd --system opsbot \
    && useradd --system --gid opsbot --home-dir /home/opsbot --create-home --shell /usr/sbin/nologin opsbot \
    && mkdir /data && chown opsbot:opsbot /data

WORKDIR /src
COPY pyproject.toml README.md* ./
COPY bot ./bot
COPY handlers ./handlers
COPY playbooks ./playbooks
COPY storage ./storage
RUN pip install --no-cache-dir . && cd / && rm -rf /src

WORKDIR /data
VOLUME ["/data"]
USER opsbot

EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)" || exit 1

ENTRYPOINT ["opsbot"]
CMD ["serve"]
