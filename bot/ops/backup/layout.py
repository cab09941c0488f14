"""Where backups live and how they are named. A backup is a folder ``<YYYYMMDDTHHMMSSZ>-<kind>``
under the root holding ``manifest.json``, the dump and the archives, and ``checksums.txt``
written last. It is built as ``.partial-<id>`` and renamed into place only when complete, so a
folder with a backup's name is always a finished backup."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.executor.plan import StepFailed

ID = re.compile(r"(?P<stamp>[0-9]{8}T[0-9]{6}Z)-(?P<kind>[a-z]+)")
PARTIAL = ".partial-"
MANIFEST = "manifest.json"
CHECKSUMS = "checksums.txt"


def new_id(now: datetime, kind: str) -> str:
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{kind}"


def created_at(backup_id: str) -> datetime:
    match = ID.fullmatch(backup_id)
    if not match:
        raise ValueError(f"{backup_id!r} is not a backup id")
    return datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


@dataclass
class TableStats:
    rows: int
    checksum: str  # order-independent: the sum of every row's hash
    method: str = "text"
    """How rows were hashed: ``record`` (hash_record: each column's own hash function, no text
    conversion, about twice as fast) or ``text`` (the row's text form; for columns such as json
    that have no hash function, and manifests written before ``record`` existed)."""


@dataclass
class Manifest:
    id: str
    kind: str  # full | database
    created_at: str
    database: str | None = None
    dump: str | None = None  # "database" (directory) or "database.sql.gz" (plain)
    dump_format: str | None = None
    tables: dict[str, TableStats] = field(default_factory=dict)
    archives: dict[str, str] = field(default_factory=dict)  # name -> file

    def write(self, folder: Path) -> None:
        (folder / MANIFEST).write_text(json.dumps(asdict(self), indent=2, sort_keys=True))

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        data = json.loads((folder / MANIFEST).read_text())
        data["tables"] = {name: TableStats(**stats) for name, stats in data.get("tables", {}).items()}
        return cls(**data)


@dataclass(frozen=True)
class Backup:
    id: str
    path: Path

    @property
    def created_at(self) -> datetime:
        return created_at(self.id)

    @property
    def kind(self) -> str:
        return self.id.rsplit("-", 1)[1]

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    def manifest(self) -> Manifest:
        return Manifest.read(self.path)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


class Catalog:
    """The finished backups under one root."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def free_id(self, now: datetime, kind: str) -> str:
        """The id of a backup started ``now``: the next free second when one of that name exists or
        is being built (two backups in one second, one after the other), so ids stay unique and in order."""
        while True:
            backup_id = new_id(now, kind)
            if not (self.root / backup_id).exists() and not (self.root / f"{PARTIAL}{backup_id}").exists():
                return backup_id
            now += timedelta(seconds=1)

    def backups(self) -> list[Backup]:
        """Newest first."""
        if not self.root.is_dir():
            return []
        found = [Backup(p.name, p) for p in self.root.iterdir() if p.is_dir() and ID.fullmatch(p.name)]
        return sorted(found, key=lambda b: b.id, reverse=True)

    def find(self, backup_id: str, kind: str | None = None) -> Backup:
        """A backup by id, or ``latest`` (of ``kind`` if given)."""
        backups = [b for b in self.backups() if kind is None or b.kind == kind]
        if backup_id == "latest":
            if not backups:
                raise StepFailed(f"there is no backup in {self.root} yet")
            return backups[0]
        for backup in backups:
            if backup.id == backup_id:
                return backup
        raise StepFailed(f"no backup {backup_id} in {self.root}; /backup list shows them")

    def staging(self, backup_id: str) -> Path:
        path = self.root / f"{PARTIAL}{backup_id}"
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def publish(self, staging: Path, backup_id: str) -> Backup:
        """Make a complete backup visible: flush it to disk, then one atomic rename."""
        final = self.root / backup_id
        if final.exists():
            raise StepFailed(f"a backup named {backup_id} already exists")
        for path in _files(staging):
            _fsync(path)
        os.replace(staging, final)
        _fsync(self.root)
        return Backup(backup_id, final)

    def leftovers(self) -> Iterator[Path]:
        """Folders of runs that did not finish (they never count as backups)."""
        if self.root.is_dir():
            yield from (p for p in self.root.iterdir() if p.name.startswith(PARTIAL))


def _files(folder: Path) -> Iterator[Path]:
    yield from (p for p in folder.rglob("*") if p.is_file())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
