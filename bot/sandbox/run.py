"""`opsbot sandbox`: the bot against the local Slack sandbox, its operations against the services the
sandbox starts in its folder (``site``, ``pack``), with the console or without (``--no-console``).
Everything it started stops when it ends: quit, end of input, Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from bot.logging import configure_logging
from bot.sandbox.console import run_console
from bot.sandbox.pack import render_pack
from bot.sandbox.seed import default_workspace
from bot.sandbox.server import SandboxServer
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.site import SandboxSite
from bot.settings import load_settings


def say(line: str) -> None:
    print(line, flush=True)


def run_sandbox(folder: Path, sandbox_port: int, *, console: bool, deployed: bool = False) -> int:
    """``deployed``: only Slack is the sandbox; the pack, the database and the Docker Engine are the
    ones the environment names (``OPSBOT_PLAYBOOKS``, ``DATABASE_URL``, ``DOCKER_HOST``), and no demo
    service starts. For trying a deployment, such as compose.yaml's example stack, before Slack."""
    from bot.app import create_asgi_app, create_bolt_app
    from bot.runtime import Runtime, build_runtime

    if deployed and not os.environ.get("OPSBOT_PLAYBOOKS"):
        say("opsbot: --deployed needs OPSBOT_PLAYBOOKS, the pack of the deployment to try (the bundled one "
            "names the host's own files and services)")
        return 2
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop like Ctrl-C: through the finally below
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    _own_temporary_folder(folder / "tmp")
    os.environ["MPLCONFIGDIR"] = str(folder / "matplotlib")  # the report chart's font cache stays in the folder too
    if deployed:
        say(f"Sandbox folder: {folder} (the bot's log). Only Slack is the sandbox: the pack, the database and "
            "the Docker Engine are the ones OPSBOT_PLAYBOOKS, DATABASE_URL and DOCKER_HOST name")
    else:
        say(f"Sandbox folder: {folder} (the bot's database and log, backups, and these services:)")
        if os.environ.get("OPSBOT_PLAYBOOKS"):
            say("  OPSBOT_PLAYBOOKS is not used here: the sandbox renders its own pack")
    site = None if deployed else SandboxSite(folder)
    sandbox = SandboxServer(default_workspace())
    rt: Runtime | None = None
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    log = (folder / "opsbot.log").open("a")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
        if site is not None:
            site.start(say=say)
            env.update(OPSBOT_PLAYBOOKS=str(render_pack(site)), DATABASE_URL=f"sqlite:///{folder / 'opsbot.db'}",
                       DOCKER_HOST=f"unix://{folder / 'no-docker-engine.sock'}")  # never the machine's Engine
        sandbox.start(port=sandbox_port)
        identity = sandbox.workspace.identity
        env.update(SLACK_BOT_TOKEN=identity.token, SLACK_SIGNING_SECRET=identity.signing_secret,
                   SLACK_API_URL=sandbox.api_url)
        settings = load_settings(env)
        configure_logging(settings.secrets, json=False, stream=log)
        rt = build_runtime(settings)
        for name, action in sorted(rt.playbook.actions.items()):
            if action.unavailable:
                say(f"  {name} is unavailable here: {action.unavailable}")
        app = create_asgi_app(rt, bolt=create_bolt_app(rt))
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning",
                                               access_log=False, log_config=None))
        say(f"Slack sandbox at {sandbox.base_url}; bot at http://127.0.0.1:{settings.port}/slack/events; "
            f"log in {log.name}")
        if not console:
            server.run()
            return 0
        thread = threading.Thread(target=server.run, name="opsbot-sandbox-bot", daemon=True)
        thread.start()
        while not server.started and thread.is_alive():
            time.sleep(0.05)
        if not server.started:
            say(f"opsbot: the bot could not listen on 127.0.0.1:{settings.port} (see {log.name}); set PORT")
            return 2
        run_console(sandbox, SlackSimulator(f"http://127.0.0.1:{settings.port}", identity.signing_secret, sandbox))
        return 0
    finally:
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10)
        if rt is not None:
            rt.close()
        if site is not None:
            site.stop()
        sandbox.stop()
        log.close()
        say("Sandbox stopped: every process it started has ended.")


def _own_temporary_folder(tmp: Path) -> None:
    """Temporary files of the bot and of every process it starts (runs' scratch folders, tools'
    temporary files) go into the sandbox folder, emptied at each start."""
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = None  # read TMPDIR again
