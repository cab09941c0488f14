"""``checksums.txt``: SHA-256 of every file of a backup, in ``sha256sum`` format (so a person can
check it with ``sha256sum -c checksums.txt`` too). Written last: its presence means the rest was
complete when it was written."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bot.ops.backup.layout import CHECKSUMS

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _listed(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != CHECKSUMS)


def write_checksums(folder: Path) -> int:
    lines = [f"{sha256_file(p)}  {p.relative_to(folder).as_posix()}" for p in _listed(folder)]
    (folder / CHECKSUMS).write_text("\n".join(lines) + "\n")
    return len(lines)


def checksum_problems(folder: Path) -> list[str]:
    """What does not match ``checksums.txt``: changed, missing and unlisted files. Empty: all match."""
    listing = folder / CHECKSUMS
    if not listing.is_file():
        return ["checksums.txt is missing"]
    expected: dict[str, str] = {}
    for line in listing.read_text().splitlines():
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            return [f"checksums.txt has a malformed line: {line[:80]!r}"]
        expected[name] = digest
    problems = []
    present = {p.relative_to(folder).as_posix(): p for p in _listed(folder)}
    for name, digest in sorted(expected.items()):
        path = present.get(name)
        if path is None:
            problems.append(f"{name} is missing")
        elif sha256_file(path) != digest:
            problems.append(f"{name} does not match its checksum")
    problems += [f"{name} is not in checksums.txt" for name in sorted(set(present) - set(expected))]
    return problems
