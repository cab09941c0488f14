"""File archives: tar.gz streamed to disk with the seed's excludes (never held in memory), read to
their end for verification, and extracted safely. An archive holding an absolute path, a ``..``, a
hard link out of the target or a device extracts nothing at all: our own archives never hold
those, so it was tampered with. A symbolic link pointing out of the target (absolute, or climbing
out with ``..``) is not created and is reported: applications do hold such links (a virtualenv's
``bin/python → /usr/bin/python3``), and refusing the whole archive for them would make a recovery
impossible; the backup reports them too, so nobody learns about them during an incident."""

from __future__ import annotations

import fnmatch
import os
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bot.executor.plan import StepContext, StepFailed
from playbooks.backups import Archive

CHUNK = 1 << 20


@dataclass(frozen=True)
class Archived:
    files: int
    outward_links: tuple[str, ...]
    """``name → target`` of symbolic links a restore will not create (absolute, or out via ``..``)."""


@dataclass(frozen=True)
class Extracted:
    members: int
    skipped_links: tuple[str, ...]


def create_archive(ctx: StepContext, name: str, archive: Archive, dest: Path) -> Archived:
    """Write ``dest`` (tar.gz). Paths are stored relative to ``/`` as the seed's ``tar -C /``
    would, so a restore puts them back where they were."""
    missing = [p for p in archive.paths if not Path(p).exists()]
    if missing:
        raise StepFailed(f"archive {name}: {', '.join(missing)} does not exist")
    count = 0
    outward: list[str] = []

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        nonlocal count
        base = PurePosixPath(info.name).name
        if any(fnmatch.fnmatch(base, pattern) for pattern in archive.exclude):
            return None
        if info.isfile():
            count += 1
            if count % 1000 == 0:
                ctx.check()
                ctx.note(f"{name}: {count} files")
        elif info.issym() and _climbs_out(info.name, info.linkname):
            outward.append(f"{info.name} → {info.linkname}")
        return info

    with tarfile.open(dest, "w:gz", compresslevel=6) as tar:
        for path in archive.paths:
            absolute = Path(path).resolve()
            tar.add(str(absolute), arcname=str(absolute).lstrip("/"), filter=keep)
    return Archived(count, tuple(outward))


def _climbs_out(name: str, link: str) -> bool:
    """An absolute link, or a relative one that climbs above the archive's root."""
    if link.startswith("/"):
        return True
    resolved = os.path.normpath(PurePosixPath(name).parent / link)
    return resolved == ".." or resolved.startswith("../")


def read_through(path: Path) -> int:
    """Read every member to its end (a truncated or corrupt archive raises); returns members."""
    members = 0
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                members += 1
                if member.isfile():
                    stream = tar.extractfile(member)
                    assert stream is not None
                    while stream.read(CHUNK):
                        pass
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise StepFailed(f"{path.name} cannot be read to its end: {exc}") from None
    return members


def unsafe_members(members: Iterable[tarfile.TarInfo], target: Path) -> list[str]:
    """Why each dangerous member is dangerous (empty: safe to extract into ``target``)."""
    root = target.resolve()
    problems = []
    for member in members:
        name = member.name
        if name.startswith("/") or PurePosixPath(name).is_absolute():
            problems.append(f"{name}: absolute path")
            continue
        if ".." in PurePosixPath(name).parts:
            problems.append(f"{name}: '..' in the path")
            continue
        if not _inside(root, root / name):
            problems.append(f"{name}: outside the target")
        elif member.issym() or member.islnk():
            link = member.linkname
            base = (root / name).parent if member.issym() else root
            if os.path.isabs(link) or not _inside(root, base / link):
                problems.append(f"{name}: link to {link} leaves the target")
        elif member.isdev():
            problems.append(f"{name}: device file")
    return problems


def _inside(root: Path, path: Path) -> bool:
    resolved = Path(os.path.normpath(path))
    return resolved == root or root in resolved.parents


def _symlink_out(member: tarfile.TarInfo, root: Path) -> bool:
    """A symbolic link with a harmless name of its own that points out of the target."""
    name = PurePosixPath(member.name)
    if not member.issym() or name.is_absolute() or ".." in name.parts:
        return False  # a dangerous name refuses the whole archive
    link = member.linkname
    return os.path.isabs(link) or not _inside(root, (root / member.name).parent / link)


def extract_safely(archive: Path, target: Path) -> Extracted:
    """Check every member first and refuse the whole archive on any danger (symbolic links out of
    the target are left out instead, and reported); then extract with tarfile's ``data`` filter
    as a second guard."""
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            skipped = [m for m in members if _symlink_out(m, root)]
            wanted = [m for m in members if not _symlink_out(m, root)]
            problems = unsafe_members(wanted, target)
            if problems:
                shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
                raise StepFailed(f"{archive.name} was not extracted: {shown}")
            tar.extractall(target, members=wanted, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise StepFailed(f"{archive.name} could not be extracted: {exc}") from None
    return Extracted(len(wanted), tuple(f"{m.name} → {m.linkname}" for m in skipped))
