"""The real Prometheus Alertmanager (Debian's ``prometheus-alertmanager``) on 127.0.0.1 in a
temporary folder, clustering off, with one webhook receiver pointing at the bot; and helpers that
build Alertmanager-shaped webhook bodies for tests that post them directly."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bot.sandbox.services.process import free_port
from tests.support.waiting import eventually, stop_process

BINARY = "/usr/bin/prometheus-alertmanager"
ZERO = "0001-01-01T00:00:00Z"

PLAYBOOK = """\
channel: "#alerts"
declare_at: P1
summary_every: 30s
reopen_within: 1h
integrations:
  alertmanager:
    secret_file: {secret}
"""


def write_alert_playbook(folder: Path, token: str, extra: str = "") -> Path:
    """An override folder whose ``alerts.yaml`` accepts ``token`` as Alertmanager's bearer token."""
    folder.mkdir(parents=True, exist_ok=True)
    secret = folder.parent / f"{folder.name}-token"
    secret.write_text(token + "\n")
    (folder / "alerts.yaml").write_text(PLAYBOOK.format(secret=secret) + extra)
    return folder


def alert(name: str, instance: str, *, severity: str = "warning", service: str = "db", status: str = "firing",
          starts: str = "2026-11-28T09:00:00Z", ends: str = ZERO, fingerprint: str | None = None,
          summary: str | None = None) -> dict[str, Any]:
    return {"status": status, "labels": {"alertname": name, "instance": instance, "service": service,
                                         "severity": severity},
            "annotations": {"summary": summary or f"{name} on {instance}"}, "startsAt": starts, "endsAt": ends,
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": fingerprint or f"{name}-{instance}",
            "someFutureField": {"ignored": True}}


def notification(group: str, alerts: list[dict[str, Any]], *, truncated: int = 0) -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {"receiver": "bot", "status": status, "alerts": alerts, "groupLabels": {"alertname": group},
            "commonLabels": {"alertname": group}, "commonAnnotations": {}, "externalURL": "http://am:9093",
            "version": "4", "groupKey": f'{{}}:{{alertname="{group}"}}', "truncatedAlerts": truncated}


class Alertmanager:
    def __init__(self, workdir: Path, webhook_url: str, token: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "route": {"receiver": "bot", "group_by": ["alertname", "service"], "group_wait": "1s",
                      "group_interval": "2s", "repeat_interval": "4s"},
            "receivers": [{"name": "bot", "webhook_configs": [{
                "url": webhook_url, "send_resolved": True, "max_alerts": 0,
                "http_config": {"authorization": {"type": "Bearer", "credentials": token}}}]}],
        }
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        (workdir / "alertmanager.yml").write_text(json.dumps(config))  # JSON is YAML
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Alertmanager:
        if not Path(BINARY).exists():
            raise RuntimeError(f"{BINARY} is missing: `./dev bootstrap` installs prometheus-alertmanager")
        log = (self.workdir / "alertmanager.log").open("wb")
        self._proc = subprocess.Popen(
            [BINARY, f"--config.file={self.workdir / 'alertmanager.yml'}",
             f"--storage.path={self.workdir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--cluster.listen-address=", "--log.level=info"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        eventually(self._ready, timeout=20, what="alertmanager to be ready")
        return self

    def _ready(self) -> bool:
        assert self._proc is not None and self._proc.poll() is None, self.log()
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def post(self, alerts: list[dict[str, Any]]) -> None:
        """Alerts through API v2, as Prometheus sends them."""
        response = httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=5)
        assert response.status_code == 200, response.text

    def log(self) -> str:
        path = self.workdir / "alertmanager.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def stop(self) -> None:
        stop_process(self._proc)


@contextmanager
def running_alertmanager(workdir: Path, webhook_url: str, token: str) -> Iterator[Alertmanager]:
    manager = Alertmanager(workdir, webhook_url, token).start()
    try:
        yield manager
    finally:
        manager.stop()


def api_alert(name: str, instance: str, *, severity: str, service: str = "db",
              ends: datetime | None = None) -> dict[str, Any]:
    """An alert as Prometheus posts it to ``/api/v2/alerts``; ``ends`` in the past resolves it."""
    body: dict[str, Any] = {"labels": {"alertname": name, "instance": instance, "service": service,
                                       "severity": severity},
                            "annotations": {"summary": f"{name} on {instance}"},
                            "generatorURL": "http://prometheus:9090/graph"}
    if ends is not None:
        body["endsAt"] = ends.isoformat().replace("+00:00", "Z")
    return body
