"""Maintenance mode's parts on their own: the `/maintenance enable` parser (any text gives
parameters the action accepts, or a clear error), the ETA as people read it, maintenance.yaml
problems named by file and key, and the nginx switch against a real nginx when the reload is
silently not applied or the maintenance configuration blocks the health check."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session

from bot.executor.docker_runner import DockerRunner
from bot.executor.local import LocalRunner
from bot.executor.plan import StepContext, StepFailed
from bot.maintenance.commands import SUBCOMMANDS, USAGE, EnableRequest, ParseError, parse, parse_enable
from bot.maintenance.mode import DISABLE, ENABLE, current, status
from bot.maintenance.views import status_text
from bot.ops.maintenance import nginx as nginx_switch
from bot.ops.maintenance.plans import enable_plan
from bot.sandbox.services.process import free_port
from playbooks.actions import resolve_parameters
from playbooks.loader import PlaybookError, load_playbook
from playbooks.maintenance import NginxSettings
from storage.db import make_engine
from storage.migrate import upgrade
from storage.runs import Run
from tests.support.dockerd import Dockerd
from tests.support.nginx import Nginx, nginx_site

pytestmark = pytest.mark.kind("unit")

NOW = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)  # a Saturday


ENABLE_ACTION = load_playbook().actions["maintenance.enable"]


@given(st.text(max_size=300))
def test_any_enable_text_gives_parameters_the_action_accepts_or_a_clear_error(text: str) -> None:
    match parse_enable(text):
        case EnableRequest(params):
            resolve_parameters(ENABLE_ACTION, params)  # raises if the declaration would refuse it
        case ParseError(message):
            assert message and "Traceback" not in message


@pytest.mark.parametrize(("text", "params"), [
    ("Database upgrade 23:00", {"reason": "Database upgrade", "eta": "23:00"}),
    ("Kernel patches eta=2h", {"reason": "Kernel patches", "eta": "2h"}),
    ("45m", {"eta": "45m"}),
    ("", {}),
    ("Moving to 10:00 tomorrow", {"reason": "Moving to 10:00 tomorrow"}),
])
def test_the_last_word_is_the_eta_when_it_reads_as_one(text: str, params: dict[str, str]) -> None:
    assert parse_enable(text) == EnableRequest(params)


def test_bad_eta_and_long_reason_are_refused_clearly() -> None:
    assert parse_enable("Upgrade eta=25:00") == ParseError(
        "`eta=25:00` is not an ETA; write it like `23:00`, `45m` or `2h`.")
    refused = parse_enable("x" * 201)
    assert isinstance(refused, ParseError) and "200" in refused.message


def test_the_eta_is_shown_as_people_read_it() -> None:
    from bot.ops.maintenance.page import eta_text

    utc = ZoneInfo("UTC")
    assert eta_text("23:00", NOW, utc) == "23:00 UTC"
    assert eta_text("21:30", NOW, utc) == "Sun 29 Nov 21:30 UTC"  # already past today: tomorrow's
    assert eta_text("90m", NOW, utc) == "23:30 UTC"
    assert eta_text("23:30", NOW, ZoneInfo("Europe/Berlin")) == "23:30 CET"
    assert eta_text("", NOW, utc) == "to be announced"


def test_help_lists_every_subcommand_in_the_table() -> None:
    shown = USAGE
    for name, usage in SUBCOMMANDS.items():
        assert usage in shown, name
        assert not isinstance(parse(name), ParseError) or "Unknown subcommand" not in parse(name).message, name


def _problems(folder: Path) -> str:
    with pytest.raises(PlaybookError) as caught:
        load_playbook(folder)
    return str(caught.value)


def test_maintenance_yaml_problems_name_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "maintenance.yaml").write_text(yaml.safe_dump({
        "nginx": {"site_config": "sites-enabled/default", "container": "no such/name"}, "allowlist": ["10.0.0.300"],
        "queue": {"redis_url": "http://127.0.0.1"}}))
    shown = _problems(tmp_path)
    assert "maintenance.yaml: nginx.site_config" in shown and "not an absolute path" in shown
    assert "maintenance.yaml: nginx.container" in shown and "not a container name" in shown
    assert "maintenance.yaml: allowlist" in shown and "not an address" in shown
    assert "maintenance.yaml: queue.redis_url" in shown


def test_a_team_replaces_the_page_and_unknown_placeholders_are_refused(tmp_path: Path) -> None:
    (tmp_path / "maintenance.yaml").write_text("{}\n")
    (tmp_path / "maintenance.html").write_text("<h1>Back at $eta</h1>")
    assert load_playbook(tmp_path).maintenance.page.template == str(tmp_path / "maintenance.html")
    assert load_playbook().maintenance.page.template.endswith("playbooks/pack/maintenance.html")
    (tmp_path / "maintenance.html").write_text("<h1>Back at $when</h1>")
    shown = _problems(tmp_path)
    assert "maintenance.yaml: page.template" in shown and "$when" in shown


# -- the nginx switch, against a real nginx ---------------------------------------------------------------------
@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    with nginx_site(tmp_path / "nginx") as server:
        yield server


def _first_steps(tmp_path: Path, nginx: Nginx, **nginx_keys: object) -> list:
    pack = tmp_path / "pack"
    pack.mkdir()
    sections = nginx.maintenance_sections(probe_within="3s")
    sections["nginx"].update(nginx_keys)
    (pack / "maintenance.yaml").write_text(yaml.safe_dump({
        **sections, "backup": False, "flag_file": str(tmp_path / ".maintenance")}))
    plan = enable_plan(load_playbook(pack), now=NOW, reason="", eta="")
    return [s for s in plan.steps if s.title.startswith(("write the maintenance page", "install", "probe"))]


def _context(tmp_path: Path) -> StepContext:
    cancel = threading.Event()
    return StepContext(runner=LocalRunner(redact=str, cancel=cancel, deadline=None), workdir=tmp_path, cancel=cancel)


@pytest.mark.kind("integration")  # a real nginx
def test_a_reload_that_silently_does_not_apply_is_caught_by_the_probe_and_undone(tmp_path: Path, nginx: Nginx) -> None:
    normal = nginx.site.read_text()
    steps = _first_steps(tmp_path, nginx, reload=["true"])  # "succeeds", changes nothing, as a failed reload
    ctx = _context(tmp_path)
    steps[0].action(ctx)
    steps[1].action(ctx)
    assert nginx.site.read_text() == nginx.maintenance.read_text()
    with pytest.raises(StepFailed) as caught:
        steps[2].action(ctx)
    assert "did not answer 503 with Retry-After" in str(caught.value) and "answered 200" in str(caught.value)
    assert "previous configuration is back in place" in str(caught.value)
    assert nginx.site.read_text() == normal and nginx.get("/").status == 200


@pytest.mark.kind("integration")  # a real nginx
def test_a_maintenance_config_that_blocks_the_health_check_is_undone(tmp_path: Path, nginx: Nginx) -> None:
    nginx.maintenance.write_text(nginx.maintenance.read_text().replace(
        "location = /health {", "location = /healthz {"))
    steps = _first_steps(tmp_path, nginx)
    ctx = _context(tmp_path)
    for step in steps[:2]:
        step.action(ctx)
    with pytest.raises(StepFailed) as caught:
        steps[2].action(ctx)
    assert "/health does not reach the application (it answered 503)" in str(caught.value)
    assert nginx.get("/").body == "application: /", "the normal site is back"


# -- the state ---------------------------------------------------------------------------------------------------
def _run(session: Session, action: str, status: str, at: datetime, **params: str) -> Run:
    run = Run(action=action, params=json.dumps(params), risk="high", approvals_needed=1, requested_by="U0ALICE",
              requested_in="C0PLATFORM", source="command", status=status, plan="[]", requested_at=at,
              started_at=at, finished_at=at if status != "running" else None)
    session.add(run)
    session.commit()
    return run


def test_the_state_is_the_last_successful_switch_and_status_says_when_redis_is_away(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/opsbot.db")
    upgrade(engine)
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "maintenance.yaml").write_text(yaml.safe_dump({
        "queue": {"redis_url": f"redis://127.0.0.1:{free_port()}/0"}, "flag_file": str(tmp_path / ".maintenance")}))
    playbook = load_playbook(pack)
    with Session(engine) as session:
        assert not current(session).on
        _run(session, ENABLE, "failed", NOW)
        assert not current(session).on, "a failed enable did not switch it on"
        _run(session, ENABLE, "succeeded", NOW + timedelta(minutes=1), reason="Upgrade", eta="23:00")
        assert current(session).on
        shown = status_text(status(session, playbook), playbook.maintenance)
        assert "*on* since 2026-11-28 22:01 UTC" in shown and "<@U0ALICE>" in shown and "23:00 UTC" in shown
        assert "depth unknown (Redis at redis://127.0.0.1:" in shown and "did not answer" in shown
        assert "does not match" in shown, "the flag file is absent although the record says on"
        _run(session, DISABLE, "running", NOW + timedelta(minutes=2))
        assert current(session).on and "is disabling it (running)" in status_text(status(session, playbook),
                                                                             playbook.maintenance)
        _run(session, DISABLE, "succeeded", NOW + timedelta(minutes=3))
        assert not current(session).on
    engine.dispose()


# -- nginx in a container: test and reload by docker exec, against a real Docker Engine -------------------------


def test_with_a_container_test_and_reload_run_there_and_a_refusal_puts_the_site_file_back(
        tmp_path: Path, dockerd: Dockerd) -> None:
    dockerd.run_container("edge")
    site, maintenance = tmp_path / "site.conf", tmp_path / "maintenance.conf"
    site.write_text("normal")
    maintenance.write_text("maintenance")
    refusing = NginxSettings(
        container="edge", site_config=str(site), maintenance_config=str(maintenance),
        test=("sh", "-c", "touch /tmp/tested; echo 'nginx: [emerg] unknown directive \"x\"' >&2; exit 1"))
    cancel = threading.Event()
    ctx = StepContext(runner=LocalRunner(redact=str, cancel=cancel, deadline=None), workdir=tmp_path, cancel=cancel,
                      docker=DockerRunner(dockerd.base_url, redact=str, cancel=cancel))
    with pytest.raises(StepFailed, match=r"^`docker exec edge sh -c .*` refused .*: \[emerg\] unknown directive"):
        nginx_switch.install(ctx, refusing, str(maintenance))
    assert site.read_text() == "normal", "the previous file is back"
    assert dockerd.cli("exec", "edge", "ls", "/tmp/tested").returncode == 0, "the test ran in the container"

    accepting = refusing.model_copy(update={"test": ("true",), "reload": ("sh", "-c", "touch /tmp/reloaded")})
    assert nginx_switch.install(ctx, accepting, str(maintenance)) == b"normal"
    assert site.read_text() == "maintenance"
    assert dockerd.cli("exec", "edge", "ls", "/tmp/reloaded").returncode == 0, "and so did the reload"

    no_engine = StepContext(runner=ctx.runner, workdir=tmp_path, cancel=cancel)
    with pytest.raises(StepFailed, match="^`docker exec edge true` needs the Docker engine"):
        nginx_switch.install(no_engine, accepting, str(maintenance))
    dockerd.remove_container("edge")
