"""The image and compose.yaml on a real Docker Engine (the suite's own, tests/support/dockerd.py): the
bot in its container drives the example stack through signed Slack requests. A backup and a restore
test of the shop's PostgreSQL over the network, a restore with two approvals, maintenance mode on an
nginx in its own container (503 with Retry-After, then 200 again) and a rollback that retags the
shop's image and recreates its containers, checked by the release the shop reports."""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.executor import views
from bot.sandbox.remote import RemoteSandbox
from bot.sandbox.simulator import SlackSimulator
from tests.support.dockerd import BASE_IMAGE, CA_BUNDLE, Dockerd
from tests.support.runs import runs, wait_status
from tests.support.stack import BOT_IMAGE, ROOT, SHOP_IMAGE, Stack, StackBot, get, running_stack
from tests.support.waiting import eventually
from tests.test_executor_e2e import PLATFORM, answers, click

RUN_TIMEOUT = 180
pytestmark = pytest.mark.kind("e2e")


@pytest.fixture(scope="module")
def stack(dockerd: Dockerd) -> Iterator[Stack]:
    with running_stack(dockerd) as running:
        print(f"image builds: {running.images.seconds}; stack up and healthy in {running.up_seconds:.1f} s")
        yield running


def command(bot: StackBot, user: str, name: str, text: str) -> str:
    before = len(bot.workspace.ephemerals(user))
    assert bot.slack.command(user, PLATFORM, name, text).status == 200
    return answers(bot, user, before + 1)[before]


def finished(bot: StackBot, run_id: int) -> dict[str, str]:
    done = wait_status(bot, run_id, "succeeded", "failed", timeout=RUN_TIMEOUT)
    assert done.status == "succeeded", f"{done.outcome}\n{done.output}"
    return json.loads(done.produced or "{}")


def approve(bot: StackBot, run_id: int, *users: str) -> None:
    for user in users:
        click(bot, user, views.APPROVE, run_id)


def orders(stack: Stack) -> int:
    return json.loads(stack.shop("/").body)["orders"]


# -- the image ----------------------------------------------------------------------------------------------


def test_the_image_runs_as_a_user_with_pg_dump_17_and_the_locked_versions(stack: Stack) -> None:
    dockerd = stack.dockerd
    assert dockerd.api is not None
    config = dockerd.api.inspect_image(BOT_IMAGE)["Config"]
    assert config["User"] == "opsbot" and config["Entrypoint"] == ["opsbot"]
    assert not config.get("Volumes"), "no anonymous volume: the compose file names the bot's volume"
    shown = dockerd.cli("run", "--rm", "--network", "none", "--entrypoint", "sh", BOT_IMAGE, "-c",
                       "id -u; pg_dump --version; pg_restore --version; python3 --version; "
                       "/opt/opsbot/bin/pip list --format=freeze --disable-pip-version-check").stdout.decode()
    uid, pg_dump, pg_restore, python, *installed = shown.splitlines()
    assert uid == "10001"
    assert re.match(r"pg_dump \(PostgreSQL\) 17\.", pg_dump) and re.match(r"pg_restore \(PostgreSQL\) 17\.", pg_restore)
    assert python.startswith("Python 3.13.")
    locked = dict(re.findall(r"^([a-z0-9_.-]+)==(\S+)", (ROOT / "requirements.lock").read_text(), re.M))
    pins = {name.lower().replace("_", "-"): version for name, version in (line.split("==") for line in installed)}
    pins.pop("opsbot")
    pins.pop("pip", None)
    assert pins == {name: version for name, version in locked.items() if name in pins} and set(pins) <= set(locked)
    assert set(locked) - set(pins) <= {"setuptools"}, "every locked package is installed"


def test_the_ca_bundle_given_to_pip_is_in_no_layer_of_the_image(stack: Stack, tmp_path: Path) -> None:
    """Every layer the build made (the base image's came before it) is read whole: no file named like
    the secret, none with the bundle's content, even one a later layer deleted."""
    assert stack.dockerd.api is not None
    bundle = CA_BUNDLE.read_bytes()
    base_layers = len(stack.dockerd.api.inspect_image(BASE_IMAGE)["RootFS"]["Layers"])
    saved = tmp_path / "image.tar"
    with saved.open("wb") as out:
        for chunk in stack.dockerd.api.get_image(BOT_IMAGE):
            out.write(chunk)
    found, read = [], 0
    with tarfile.open(saved) as image:
        manifest = json.load(image.extractfile("manifest.json"))  # type: ignore[arg-type]
        for name in manifest[0]["Layers"][base_layers:]:
            read += 1
            with tarfile.open(fileobj=image.extractfile(name)) as layer:
                for entry in layer:
                    if "pip_ca" in entry.name or "secrets" in entry.name.split("/"):
                        found.append(entry.name)
                    elif entry.isfile() and entry.size == len(bundle):
                        content = layer.extractfile(entry)
                        if content and content.read() == bundle:
                            found.append(entry.name)
    assert read >= 3 and found == []
    history = stack.dockerd.cli("history", "--no-trunc", BOT_IMAGE).stdout.decode()
    assert "BEGIN CERTIFICATE" not in history and "pip_ca" not in history


def test_the_bot_keeps_its_data_in_named_volumes(stack: Stack) -> None:
    bot = stack.container(f"{stack.compose_project}_opsbot_1")
    mounts = {m["Destination"]: m for m in bot["Mounts"]}
    assert mounts["/data"]["Type"] == "volume" and mounts["/data"]["Name"].endswith("_opsbot-data")
    assert mounts["/var/run/docker.sock"]["Type"] == "bind"
    db = stack.container(f"{stack.compose_project}_opsbot-db_1")
    assert {m["Destination"]: m["Name"] for m in db["Mounts"]}["/var/lib/postgresql/data"].endswith("_opsbot-db")
    published = [b for bindings in bot["HostConfig"]["PortBindings"].values() for b in bindings]
    assert published == [{"HostIp": "127.0.0.1", "HostPort": "3000"}]


def test_the_sandbox_slack_drives_a_bot_deployed_in_the_stack(stack: Stack) -> None:
    """What the README shows: `docker compose run --rm opsbot sandbox --deployed` (here without its
    console, driven from this process): the example pack, the stack's database and Docker Engine."""
    name = stack.compose("run", "-d", "--rm", "opsbot", "sandbox", "--deployed", "--no-console").split()[-1]
    try:
        bot_port, slack_port = (stack.dockerd.publish(port, container=name) for port in (3000, 3001))
        eventually(lambda: get(f"http://127.0.0.1:{bot_port}/healthz").status == 200, timeout=60, interval=0.5,
                   what="the sandboxed bot to answer")
        remote = RemoteSandbox(f"http://127.0.0.1:{slack_port}")
        slack = SlackSimulator(f"http://127.0.0.1:{bot_port}", remote.workspace.identity.signing_secret, remote)
        assert slack.command("U0ALICE", PLATFORM, "/ops", "list").status == 200
        [listed] = eventually(lambda: remote.workspace.ephemerals("U0ALICE"), timeout=30, what="/ops list's answer")
        assert "rollback" in listed.text and "maintenance.enable" in listed.text
        assert "unavailable" not in listed.text, "the deployment's own pack, not the sandbox's"
    finally:
        stack.dockerd.cli("rm", "-f", name, check=False)


# -- operations, through Slack ------------------------------------------------------------------------------


def test_backup_over_the_network_then_a_restore_test(stack: Stack) -> None:
    bot = stack.bot
    assert "starting" in command(bot, "U0ALICE", "/backup", "run kind=database")
    made = finished(bot, runs(bot)[-1].id)
    assert re.fullmatch(r"[0-9]{8}T[0-9]{6}Z-database", made["backup"])
    listing = stack.exec(f"{stack.compose_project}_opsbot_1", "ls", f"/data/backups/{made['backup']}")
    assert "checksums.txt" in listing.split()

    assert "starting" in command(bot, "U0ALICE", "/backup", "restore-test")
    tested = finished(bot, runs(bot)[-1].id)
    assert re.search(r"identical: 2 tables, \d+ rows", tested["result"]), tested


def test_restore_with_two_approvals_puts_the_rows_back_and_the_shop_is_healthy(stack: Stack) -> None:
    bot = stack.bot
    assert "starting" in command(bot, "U0ALICE", "/backup", "run kind=database")
    backup = finished(bot, runs(bot)[-1].id)["backup"]
    before = orders(stack)
    from urllib.request import Request, urlopen

    with urlopen(Request(stack.shop_url + "/orders", method="POST"), timeout=5) as answer:
        assert answer.status == 201
    assert orders(stack) == before + 1

    assert "needs 2 approval" in command(bot, "U0ALICE", "/backup", f"restore {backup}")
    run_id = runs(bot)[-1].id
    approve(bot, run_id, "U0BOB", "U0DAVE")
    produced = finished(bot, run_id)
    assert any(f"SELECT count(*) FROM orders → {before}" in value for value in produced.values()), produced
    assert orders(stack) == before
    assert stack.container("shop-app")["State"]["Running"] and stack.container("shop-worker")["State"]["Running"]


def test_maintenance_mode_on_the_nginx_container_then_off(stack: Stack) -> None:
    bot = stack.bot
    assert "needs 1 approval" in command(bot, "U0ALICE", "/maintenance", "enable Database upgrade 2h")
    run_id = runs(bot)[-1].id
    plan = json.loads(runs(bot)[-1].plan)
    assert any("check with `docker exec shop-nginx nginx -t`" in title for title in plan), plan
    approve(bot, run_id, "U0BOB")
    finished(bot, run_id)
    page = stack.shop("/")
    assert page.status == 503 and page.headers["retry-after"] == "3600"
    assert "Database upgrade" in page.body
    assert stack.shop("/health").status == 200, "health checks still reach the application"
    assert "reason=Database upgrade" in stack.exec("shop-app", "cat", "/srv/shop/state/.maintenance")

    assert "needs 1 approval" in command(bot, "U0ALICE", "/maintenance", "disable")
    run_id = runs(bot)[-1].id
    approve(bot, run_id, "U0BOB")
    assert "maintenance lasted" in finished(bot, run_id)
    assert stack.shop("/").status == 200
    assert stack.exec("shop-app", "ls", "-A", "/srv/shop/state") == ""


def test_rollback_retags_the_shop_image_and_recreates_its_containers(stack: Stack) -> None:
    bot, api = stack.bot, stack.dockerd.api
    assert api is not None
    backup_id = api.inspect_image(f"{SHOP_IMAGE}:backup")["Id"]
    assert json.loads(stack.shop("/release").body)["release"] == "2"
    old_app = stack.container("shop-app")["Id"]

    assert "needs 2 approval" in command(bot, "U0ALICE", "/rollback", "")
    run = runs(bot)[-1]
    plan = json.loads(run.plan)
    assert plan[0].startswith(f"docker tag {SHOP_IMAGE}:backup ({backup_id[:19]}) as {SHOP_IMAGE}:latest (now ")
    assert [t.split(":")[0] for t in plan[1:3]] == ["docker recreate shop-app", "docker recreate shop-worker"]
    approve(bot, run.id, "U0BOB", "U0DAVE")
    finished(bot, run.id)

    assert api.inspect_image(f"{SHOP_IMAGE}:latest")["Id"] == backup_id
    app = stack.container("shop-app")
    assert app["Id"] != old_app and app["Image"] == backup_id and app["State"]["Running"]
    assert stack.container("shop-worker")["Image"] == backup_id
    assert json.loads(stack.shop("/release").body)["release"] == "1", "release 1 really runs, behind nginx"
    assert "com.docker.compose.service" in app["Config"]["Labels"], "compose still knows it as its own"
    assert "app" in app["NetworkSettings"]["Networks"][f"{stack.compose_project}_default"]["Aliases"]
