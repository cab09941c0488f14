"""The sandbox pack names nothing outside the sandbox folder, and what cannot run is unavailable with
the reason (the services are not started here: the walk test runs them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.sandbox.pack import render_pack
from bot.sandbox.services.nginx import Nginx
from bot.sandbox.services.postgres import PostgresServer
from bot.sandbox.site import NGINX, POSTGRES, SandboxSite
from playbooks.loader import PACK_DIR, load_playbook

pytestmark = pytest.mark.kind("unit")


def site_as_if_started(folder: Path, *, down: dict[str, str]) -> SandboxSite:
    site = SandboxSite(folder)
    site.nginx = Nginx(folder / "nginx", app_port=1)
    if POSTGRES not in down:
        site.postgres = PostgresServer(parent=folder / "postgres")
        site.postgres.port = 54321
    site.down = dict(down)
    return site


def strings(document: object) -> list[str]:
    if isinstance(document, dict):
        return [s for value in document.values() for s in strings(value)]
    if isinstance(document, list):
        return [s for value in document for s in strings(value)]
    return [document] if isinstance(document, str) else []


def test_every_path_in_the_sandbox_pack_is_in_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "opsbot-sandbox"
    site = site_as_if_started(folder, down={})
    pack = render_pack(site)
    playbook = load_playbook(pack)
    assert site.nginx is not None
    programs = {site.nginx.binary}  # run, not touched
    for name in ("backups.yaml", "maintenance.yaml"):
        for text in strings(yaml.safe_load((pack / name).read_text())):
            if text.startswith("/") and text not in programs and text != "/health":
                assert text.startswith(f"{folder}/"), f"{name} names {text}"
            assert not re.search(r":(5432|6379)\b", text), f"{name} names the machine's own service: {text}"
    assert playbook.backups.database.port == 54321 and playbook.maintenance.backup is True
    assert playbook.maintenance.nginx.site_config.startswith(str(folder))
    assert playbook.schedules == {}, "only what someone asks for runs"
    paging = playbook.paging
    assert (paging.ntfy.server, paging.email.host, paging.sms.sender) == (None, None, None), "no page leaves"
    unavailable = {name: a.unavailable for name, a in playbook.actions.items() if a.unavailable}
    assert list(unavailable) == ["rollback"] and "Docker Engine" in unavailable["rollback"]
    assert set(playbook.actions) == set(yaml.safe_load((PACK_DIR / "actions.yaml").read_text()))


def test_a_service_that_did_not_start_makes_its_actions_unavailable(tmp_path: Path) -> None:
    site = site_as_if_started(tmp_path, down={POSTGRES: "initdb failed: no space left", NGINX: "not installed"})
    playbook = load_playbook(render_pack(site))
    reasons = {name: a.unavailable for name, a in playbook.actions.items()}
    assert reasons["backup.run"] == ("it needs the sandbox's PostgreSQL, which is not running: "
                                     "initdb failed: no space left")
    assert reasons["backup.restore"] == reasons["backup.run"]
    assert reasons["maintenance.enable"] == "it needs the sandbox's nginx, which is not running: not installed"
    assert playbook.maintenance.backup is False, "no pre-maintenance backup without the database"
