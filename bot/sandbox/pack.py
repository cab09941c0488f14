"""The sandbox pack: the bundled pack with every operation pointed at what the sandbox owns.

Rendered at each start into ``<folder>/pack`` (the ports are chosen then) and used as the override
folder (``OPSBOT_PLAYBOOKS``), so it replaces the bundled files that name the host's things:
``backups.yaml`` (the demo database, backups in the folder), ``maintenance.yaml`` (the sandbox's
nginx, Redis and flag file), ``actions.yaml`` (the bundled actions, those the sandbox cannot run
marked ``unavailable`` with the reason) and ``schedules.yaml`` (empty: in the sandbox only what
someone asks for runs, so a cron backup never holds the lock a person is about to need) and
``paging.yaml`` (no ntfy server: pages never leave the machine; e-mail and SMS are off as bundled).
``rollback.yaml`` stays bundled: its action is unavailable here, so nothing reads it.
``oncall.yaml`` gets a demo rotation of the seeded on-call engineers, so `/oncall` has something to
show; it owns no user group, so @oncall stays as seeded.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import yaml

from bot.sandbox import demo
from bot.sandbox.site import NGINX, POSTGRES, REDIS, SandboxSite
from playbooks.loader import PACK_DIR

ROLLBACK_UNAVAILABLE = ("it needs a Docker Engine running the application's containers "
                        "(it retags images and restarts them), and the sandbox runs none")
BACKUP_ACTIONS = ("backup.run", "backup.verify", "backup.restore", "backup.restore_test", "backup.prune")
MAINTENANCE_ACTIONS = ("maintenance.enable", "maintenance.disable")
ONCALL_DEMO: dict[str, Any] = {"schedules": {"primary": {
    "description": "Primary on-call (a demo rotation of the seeded engineers)", "editors": ["@platform-ops-lead"],
    "layers": [  # the first layer covering an instant wins: the weekend cover, then the weekly rota
        {"name": "weekend-cover", "people": ["@team-leads"], "shift": "daily", "restrictions": ["weekends"]},
        {"name": "weekly", "people": ["U0ALICE", "U0KIM", "U0LEO"], "shift": "weekly", "handoff": "09:00"}],
}}}


def render_pack(site: SandboxSite) -> Path:
    """Write the sandbox pack for the site as it runs now; returns the folder."""
    folder = site.folder / "pack"
    folder.mkdir(parents=True, exist_ok=True)
    reasons = unavailable(site)
    actions = _bundled("actions.yaml")
    for name, reason in reasons.items():
        actions[name]["unavailable"] = reason
    files = {"actions.yaml": actions, "schedules.yaml": {}, "backups.yaml": backups(site),
             "maintenance.yaml": maintenance(site), "paging.yaml": {"ntfy": {"server": None}},
             "oncall.yaml": ONCALL_DEMO}
    for name, document in files.items():
        (folder / name).write_text("# Rendered by `opsbot sandbox` at start; edits are overwritten.\n"
                                   + yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return folder


def unavailable(site: SandboxSite) -> dict[str, str]:
    """Action -> why it cannot run in this sandbox."""
    reasons = {"rollback": ROLLBACK_UNAVAILABLE}
    if POSTGRES in site.down:
        for name in BACKUP_ACTIONS:
            reasons[name] = f"it needs the sandbox's PostgreSQL, which is not running: {site.down[POSTGRES]}"
    for service in (NGINX, REDIS):
        if service in site.down:
            for name in MAINTENANCE_ACTIONS:
                reasons[name] = f"it needs the sandbox's {service}, which is not running: {site.down[service]}"
    return reasons


def backups(site: SandboxSite) -> dict[str, Any]:
    root = site.folder
    port = site.postgres.port if site.postgres else None
    start_services = [{"http_check": {"url": f"{site.nginx.url}/health", "within": "30s", "every": "1s"}}] \
        if site.nginx and NGINX not in site.down else []
    return {
        "root": str(root / "backups"),
        "secondary": str(root / "backups-secondary"),
        "offsite": {"folder": str(root / "offsite"), "key_file": str(_offsite_key(root / "offsite.key"))},
        "database": {"host": "127.0.0.1", "port": port or 1, "user": "postgres", "name": demo.DATABASE, "jobs": 2},
        "archives": {"application": {"paths": [str(site.app_files)]}},
        "restore": {"start_services": start_services, "checks": list(demo.CHECKS),
                    "files_target": str(root / "restored-files")},
        "scratch_database": demo.SCRATCH_DATABASE,
    }


def maintenance(site: SandboxSite) -> dict[str, Any]:
    nginx = site.nginx
    assert nginx is not None, "the site has been started"
    return {
        **nginx.maintenance_sections(),
        "allowlist": [],
        "queue": {"redis_url": site.redis.url, "drain_timeout": "2m", "poll_every": "1s", "inspect_timeout": "1s"},
        "backup": POSTGRES not in site.down,
        "backup_kind": "database",
        "flag_file": str(site.app_files / ".maintenance"),
        "health": {"url": f"{nginx.url}/health", "within": "30s", "every": "1s"},
    }


def _bundled(name: str) -> dict[str, Any]:
    return yaml.safe_load((PACK_DIR / name).read_text(encoding="utf-8")) or {}


def _offsite_key(path: Path) -> Path:
    """The key offsite copies are encrypted with: made once, kept with the sandbox's backups."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
    return path
