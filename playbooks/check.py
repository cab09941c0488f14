"""``opsbot check``: the pack's problems as a list to print, instead of an exception to catch."""

from __future__ import annotations

from pathlib import Path

from playbooks.loader import load_playbook
from playbooks.problems import PlaybookError, Problem


def check(override_dir: Path | None = None) -> list[Problem]:
    """Every problem of the bundled pack with ``override_dir``'s files in place; empty means it loads."""
    try:
        load_playbook(override_dir)
    except PlaybookError as exc:
        return exc.problems
    return []
