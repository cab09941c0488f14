"""`opsbot` command line: serve, sandbox, check, audit, import-schedule, db upgrade."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from bot.logging import configure_logging
from bot.settings import Settings, SettingsError, load_settings
from playbooks.check import check
from playbooks.loader import PlaybookError

SHUTDOWN_REQUESTS_SECONDS = 3
"""On SIGTERM, how long requests in flight may take to finish before their connections are closed:
part of Docker's 10 s, the rest being for the runs' processes (5 s grace) and the pools."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="opsbot", description="Slack ChatOps for incidents and operations.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the bot (HTTP mode on PORT, or --socket-mode)")
    serve.add_argument("--socket-mode", action="store_true", help="connect over Socket Mode (SLACK_APP_TOKEN)")
    serve.add_argument("--host", default="0.0.0.0")
    sandbox = sub.add_parser("sandbox", help="run the bot against a local Slack sandbox, with a console")
    sandbox.add_argument("--no-console", action="store_true", help="serve only; drive it over HTTP")
    sandbox.add_argument("--sandbox-port", type=int, default=3001)
    sandbox.add_argument("--folder", type=Path, default=Path("opsbot-sandbox"),
                         help="where the sandbox keeps everything: the bot's database and log, the demo "
                              "services, backups (default: ./opsbot-sandbox)")
    sandbox.add_argument("--deployed", action="store_true",
                         help="only Slack is the sandbox: the pack, database and Docker Engine are those "
                              "OPSBOT_PLAYBOOKS, DATABASE_URL and DOCKER_HOST name (compose.yaml's stack)")
    sub.add_parser("check", help="validate settings and playbooks")
    audit = sub.add_parser("audit", help="list executor runs: who asked, who approved, what ran")
    audit.add_argument("--run", type=int, help="show one run's full audit trail")
    audit.add_argument("--limit", type=int, default=30)
    audit.add_argument("--oncall", action="store_true", help="list on-call changes instead: overrides, swaps, "
                                                               "handoffs, user groups put back")
    imports = sub.add_parser("import-schedule", help="convert a PagerDuty or Opsgenie schedule (API JSON) into "
                                                     "oncall.yaml")
    imports.add_argument("export", type=Path, help="the JSON of GET /schedules/{id} (PagerDuty) or "
                                                   "GET /v2/schedules/{id} (Opsgenie)")
    imports.add_argument("--users", type=Path, required=True,
                         help="YAML mapping their user IDs, usernames, e-mails or names to Slack user IDs")
    imports.add_argument("--name", help="the schedule's name in oncall.yaml (default: from the export)")
    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"])
    args = parser.parse_args(argv)

    try:
        if args.command == "serve":
            return _serve(args.host, socket_mode=args.socket_mode)
        if args.command == "sandbox":
            from bot.sandbox.run import run_sandbox

            return run_sandbox(args.folder, args.sandbox_port, console=not args.no_console, deployed=args.deployed)
        if args.command == "check":
            return _check()
        if args.command == "audit":
            return _audit(args.run, args.limit, oncall=args.oncall)
        if args.command == "import-schedule":
            return _import_schedule(args.export, args.users, args.name)
        return _db_upgrade()
    except (SettingsError, PlaybookError) as exc:
        print(f"opsbot: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:  # the database is unreachable or refuses us
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(f"opsbot: cannot use the database at DATABASE_URL: {reason}", file=sys.stderr)
        return 2
    except OSError as exc:  # a port in use, an unreadable database file
        print(f"opsbot: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _check() -> int:
    settings = load_settings(require_slack=False)
    problems = check(settings.playbooks_dir)
    if not problems:
        from bot.ops.registry import operation_problems
        from playbooks.loader import load_playbook

        problems = operation_problems(load_playbook(settings.playbooks_dir))
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print("settings and playbooks are valid")
    return 0


def _audit(run_id: int | None, limit: int, *, oncall: bool = False) -> int:
    from bot.executor.audit import report
    from bot.oncall.audit import report as oncall_report
    from storage.db import make_engine

    settings = load_settings(require_slack=False)
    engine = make_engine(settings.database_url)
    text = oncall_report(engine, limit=limit) if oncall else report(engine, run_id=run_id, limit=limit)
    print(text)
    return 0 if text else 1


def _import_schedule(export: Path, users: Path, name: str | None) -> int:
    """The converted schedule on stdout (paste it under ``schedules:``), what was left out on stderr."""
    import json

    import yaml

    from bot.oncall.importer import ImportProblem, import_schedule

    try:
        data = json.loads(export.read_text(encoding="utf-8"))
        people = yaml.safe_load(users.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError) as exc:
        print(f"opsbot: cannot read {exc.filename or export}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return 2
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        print(f"opsbot: not valid JSON or YAML: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    if not isinstance(data, dict) or not isinstance(people, dict):
        print("opsbot: the export must be a JSON object and the users file a mapping", file=sys.stderr)
        return 2
    try:
        imported = import_schedule(data, {str(k): str(v) for k, v in people.items()}, name=name)
    except ImportProblem as exc:
        print(f"opsbot: {exc}", file=sys.stderr)
        return 1
    print(yaml.safe_dump({"schedules": {imported.name: imported.schedule}}, sort_keys=False), end="")
    for line in imported.unmapped:
        print(f"not carried over: {line}", file=sys.stderr)
    return 0


def _db_upgrade() -> int:
    from storage.db import make_engine
    from storage.migrate import upgrade

    settings = load_settings(require_slack=False)
    upgrade(make_engine(settings.database_url))
    print("database is up to date")
    return 0


def _serve(host: str, *, socket_mode: bool) -> int:
    settings = load_settings(socket_mode=socket_mode)
    configure_logging(settings.secrets)
    from bot.app import create_asgi_app, create_bolt_app
    from bot.runtime import build_runtime
    from bot.slack.auth import check_token
    from playbooks.loader import load_playbook

    playbook = load_playbook(settings.playbooks_dir)  # what is wrong here is said before Slack is asked
    assert settings.bot_token is not None  # load_settings requires it for serve
    identity = check_token(settings.bot_token, settings.api_url)
    rt = build_runtime(settings, playbook=playbook)
    bolt = create_bolt_app(rt)
    app = create_asgi_app(rt, bolt=None if socket_mode else bolt)
    config = uvicorn.Config(app, host=host, port=settings.port, log_level="warning", access_log=False,
                            log_config=None,  # uvicorn's own logs go through configure_logging's handler
                            timeout_graceful_shutdown=SHUTDOWN_REQUESTS_SECONDS)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: object) -> None:
            """SIGTERM or Ctrl-C: runs start stopping their processes and no Slack call starts while
            uvicorn stops listening and lets requests in flight finish (their acks)."""
            if not self.should_exit:
                threading.Thread(target=rt.stopping, name="opsbot-stopping", daemon=True).start()
            super().handle_exit(sig, frame)  # type: ignore[arg-type]

    server = Server(config)
    line = start_line(settings, identity.user, identity.team, host=host, socket_mode=socket_mode)

    async def run() -> None:
        socket = None
        if socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            socket = AsyncSocketModeHandler(bolt, settings.app_token)
            await socket.connect_async()
        serving = asyncio.create_task(server.serve())  # health checks and webhooks need HTTP in both modes
        try:
            while not server.started and not serving.done():
                await asyncio.sleep(0.05)
            if server.started:  # said once it listens, so the line is true when read
                print(line, flush=True)
            await serving
        finally:
            if socket is not None:
                await socket.close_async()

    # uvicorn raises the signal it caught again once it has stopped: with Python's default for SIGTERM
    # the process would die there (exit 143) before the runs are recorded; this handler lets it return.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: None)
    try:
        asyncio.run(run())
    finally:
        rt.close()  # runs stopped and recorded as interrupted, pools drained, connections closed
    return 0


def start_line(settings: Settings, bot: str, team: str, *, host: str, socket_mode: bool) -> str:
    """What `opsbot serve` is doing, in one line: mode, address, database (no password), pack."""
    from sqlalchemy.engine import make_url

    from playbooks.loader import replaced_files

    http = f"http://{host}:{settings.port}"
    mode = (f"Socket Mode (health and webhooks on {http})" if socket_mode
            else f"HTTP at {http}/slack/events")
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    pack = "bundled pack"
    if settings.playbooks_dir is not None:
        replaced = replaced_files(settings.playbooks_dir)
        pack += (f", {settings.playbooks_dir} replacing {', '.join(replaced)}" if replaced
                 else f", {settings.playbooks_dir} replacing nothing")
    return f"opsbot: serving @{bot} of {team} over {mode} · database {database} · {pack}"


if __name__ == "__main__":
    raise SystemExit(main())
