"""`/backup`, `/ops` and `/rollback` text → a typed command, or a ParseError that says how to write
it (``bot.commands``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.commands import PAIR, Help, ParseError

USAGE = """*`/backup`* — backups and recovery (procedures 5.3)
• `/backup run [kind=full|database] [format=directory|plain]` — back up now
• `/backup list` — backups on disk, newest first
• `/backup status` — last success per kind, age against the RPO
• `/backup verify [<id>|latest]` — checksums, archives and dump read end to end
• `/backup restore <id> [database=<name>]` — critical: two approvals in the thread
• `/backup restore-test` — restore the latest backup into a scratch database and compare
• `/backup prune [dry_run=yes]` — apply the retention policy (7 daily, 4 weekly, 3 monthly)
• `/backup history` — recent runs with who asked and who approved"""


@dataclass(frozen=True)
class Show:
    what: str  # list | status | history


@dataclass(frozen=True)
class RequestAction:
    action: str
    params: dict[str, str] = field(default_factory=dict)


Command = ParseError | Help | Show | RequestAction
_ACTIONS = {"run": "backup.run", "verify": "backup.verify", "restore": "backup.restore",
            "restore-test": "backup.restore_test", "prune": "backup.prune"}
_POSITIONAL = {"verify": "id", "restore": "id"}


def parse_backup(text: str) -> Command:
    words = (text or "").split()
    if not words or words[0].lower() in ("help", "-h", "--help"):
        return Help()
    verb, rest = words[0].lower(), words[1:]
    if verb in ("list", "status", "history"):
        return Show(verb) if not rest else ParseError(f"`/backup {verb}` takes no arguments.")
    if verb not in _ACTIONS:
        return ParseError(f"Unknown subcommand `{verb[:30]}`. Try `/backup help`.")
    params: dict[str, str] = {}
    for word in rest:
        if word == "--dry-run" and verb == "prune":
            params["dry_run"] = "yes"
            continue
        pair = PAIR.fullmatch(word)
        if pair:
            params[pair[1]] = pair[2]
        elif verb in _POSITIONAL and _POSITIONAL[verb] not in params:
            params[_POSITIONAL[verb]] = word
        else:
            return ParseError(f"`{word[:40]}` is not understood; write parameters as `name=value`. "
                              "Try `/backup help`.")
    if verb == "restore" and "id" not in params:
        return ParseError("Which backup? `/backup restore <id>`; `/backup list` shows the ids.")
    return RequestAction(_ACTIONS[verb], params)


OPS_USAGE = """*`/ops`* — run a declared operation (only what the playbook's actions.yaml declares)
• `/ops list` — the declared actions, their risk and who approves them
• `/ops run <action> [name=value …]` — request a run; risky ones wait for approvals in the thread
• `/ops history` — recent runs"""


def parse_ops(text: str) -> Command:
    words = (text or "").split()
    if not words or words[0].lower() in ("help", "-h", "--help"):
        return Help()
    verb, rest = words[0].lower(), words[1:]
    if verb in ("list", "history"):
        return Show(verb) if not rest else ParseError(f"`/ops {verb}` takes no arguments.")
    if verb != "run":
        return ParseError(f"Unknown subcommand `{verb[:30]}`. Try `/ops help`.")
    if not rest:
        return ParseError("Which action? `/ops run <action> [name=value …]`; `/ops list` shows them.")
    params: dict[str, str] = {}
    for word in rest[1:]:
        pair = PAIR.fullmatch(word)
        if not pair:
            return ParseError(f"`{word[:40]}` is not understood; write parameters as `name=value`.")
        params[pair[1]] = pair[2]
    return RequestAction(rest[0], params)


ROLLBACK_USAGE = """*`/rollback`* — emergency rollback to the previous release (critical: two approvals)
• `/rollback` — the `:backup` images become `:latest`, the last known good `.env` goes back, services restart
• `/rollback database=<backup id>|latest` — the same, then the database restore is requested (its own approvals)
• `/rollback history` — recent rollbacks
The request shows the image IDs and the backup it would use before anyone approves."""


def parse_rollback(text: str) -> Command:
    words = (text or "").split()
    if words and words[0].lower() in ("help", "-h", "--help"):
        return Help()
    if words and words[0].lower() == "history":
        return Show("history") if len(words) == 1 else ParseError("`/rollback history` takes no arguments.")
    params: dict[str, str] = {}
    for word in words:
        pair = PAIR.fullmatch(word)
        if not pair:
            return ParseError(f"`{word[:40]}` is not understood; "
                              "write `/rollback` or `/rollback database=<backup id>`.")
        params[pair[1]] = pair[2]
    return RequestAction("rollback", params)
