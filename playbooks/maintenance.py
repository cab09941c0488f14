"""``maintenance.yaml``: how maintenance mode (procedures 5.4, ``maintenance_mode.sh``) is switched
on and off on this site: the nginx files and commands, the maintenance page, the job queue and its
workers, the periodic scheduler, the flag file and the health URL.

The page template is a file of the pack (``maintenance.html``, replaceable through
``OPSBOT_PLAYBOOKS`` like the YAML files) or an absolute path; the loader resolves it while
validating, so a missing template or an unknown ``$placeholder`` is a file+key error at start-up."""

from __future__ import annotations

import ipaddress
import string
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from playbooks.common import PackModel
from playbooks.durations import Duration
from playbooks.runner_steps import Argv, ContainerName, HttpCheck, RunnerSteps

PACK_DIR = Path(__file__).parent / "pack"
PAGE_PLACEHOLDERS = ("eta", "reason")
PACK_FOLDERS = "pack_folders"
"""Validation context key: the folders a pack file is looked up in, override first (set by the loader)."""


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path; write it like /etc/nginx/sites-enabled/default")
    return value


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not an address; write it like 10.0.0.5 or 10.0.0.0/8") from None


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL; write it like http://127.0.0.1/")
    if parts.username or parts.password:
        raise ValueError("put no credentials in the URL: it is shown in Slack")
    return value


AbsolutePath = Annotated[str, AfterValidator(_absolute)]
Address = Annotated[str, AfterValidator(_address)]
Url = Annotated[str, AfterValidator(_url)]


class NginxSettings(PackModel):
    """The live site file is replaced by a copy of the maintenance (or normal) configuration, then
    ``test`` and ``reload`` run; the previous content is put back if either fails."""

    site_config: AbsolutePath = "/etc/nginx/sites-enabled/default"
    maintenance_config: AbsolutePath = "/etc/nginx/maintenance.conf"
    normal_config: AbsolutePath = "/etc/nginx/production.conf"
    test: Argv = ("nginx", "-t")
    reload: Argv = ("nginx", "-s", "reload")
    container: ContainerName | None = None
    """nginx runs in this container: ``test`` and ``reload`` run there (docker exec through the
    Engine API), and the files above are paths the bot sees on a volume it shares with it."""
    allowlist_file: AbsolutePath | None = None
    """Written before the reload with one ``<address> 1;`` line per ``allowlist`` entry, for a
    ``geo`` block of the maintenance configuration to ``include``."""


class PageSettings(PackModel):
    template: str = Field(default="maintenance.html", validate_default=True)
    """A file of the pack (the override folder first) or an absolute path; ``$eta`` and ``$reason``
    are filled in (HTML-escaped)."""
    target: AbsolutePath = "/var/www/maintenance/maintenance.html"
    """Where the filled-in page is written, for nginx to serve with status 503."""

    @field_validator("template")
    @classmethod
    def _found(cls, value: str, info: ValidationInfo) -> str:
        folders = [*((info.context or {}).get(PACK_FOLDERS) or ()), PACK_DIR]
        path = Path(value) if value.startswith("/") else next(
            (Path(f) / value for f in folders if (Path(f) / value).is_file()), PACK_DIR / value)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read the page template {path}: {getattr(exc, 'strerror', None) or exc}") \
                from None
        unknown = sorted({m.group("named") or m.group("braced") for m in string.Template.pattern.finditer(text)
                          if (m.group("named") or m.group("braced")) not in (*PAGE_PLACEHOLDERS, None)})
        if unknown:
            raise ValueError(f"{path} uses unknown placeholder(s) {', '.join('$' + u for u in unknown)}; "
                             f"known: {', '.join('$' + p for p in PAGE_PLACEHOLDERS)} (write $$ for a dollar sign)")
        return str(path)


class ProbeSettings(PackModel):
    """After a reload: ``url`` must answer 503 with ``Retry-After`` (enable) or something else
    (disable), and each of ``health_paths`` on the same host must still reach the application."""

    url: Url = "http://127.0.0.1/"
    health_paths: tuple[str, ...] = ("/health",)
    within: Duration = timedelta(seconds=15)
    every: Duration = timedelta(seconds=1)

    @field_validator("health_paths")
    @classmethod
    def _paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            if not path.startswith("/"):
                raise ValueError(f"{path!r} is not a path; write it like /health")
        return value


class QueueSettings(PackModel):
    """The Celery job queue on Redis. The broker URL may hold a password: it is never shown."""

    redis_url: str = Field(default="redis://127.0.0.1:6379/0", pattern=r"^rediss?://")
    queue: str = Field(default="celery", pattern=r"^[A-Za-z0-9_.:-]{1,100}$")
    broker_url: str | None = Field(default=None, pattern=r"^rediss?://")
    """The Celery broker for inspect / cancel_consumer / add_consumer (default: ``redis_url``)."""
    drain_timeout: Duration = timedelta(minutes=10)
    """How long to wait for the queue to drain before asking the requester whether to keep waiting."""
    poll_every: Duration = timedelta(seconds=5)
    inspect_timeout: Duration = timedelta(seconds=2)

    @property
    def broker(self) -> str:
        return self.broker_url or self.redis_url


class MaintenanceSettings(PackModel):
    nginx: NginxSettings = NginxSettings()
    page: PageSettings = Field(default_factory=dict, validate_default=True)  # type: ignore[arg-type]
    """Validated even when omitted: the template is looked up in the override folder first."""
    probe: ProbeSettings = ProbeSettings()
    allowlist: tuple[Address, ...] = ()
    """Addresses (or networks) that still reach the application during maintenance."""
    queue: QueueSettings = QueueSettings()
    pause_scheduler: RunnerSteps = ()
    """Runner steps that stop the periodic task scheduler (celery beat), once the page is up."""
    resume_scheduler: RunnerSteps = ()
    backup: bool = True
    """Take the pre-maintenance backup (the backup.run operation, ``backups.yaml``) before the flag."""
    backup_kind: Literal["full", "database"] = "database"
    flag_file: AbsolutePath = "/opt/ytempire/.maintenance"
    health: HttpCheck | None = None
    """Polled at the end of ``disable`` until the application is healthy."""
