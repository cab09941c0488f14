"""File archives: tar.gz streamed to disk with the seed's excludes (never held in memory), read to
their end for verification, and extracted safely: an archive with an absolute path, a ``..``, or a
link pointing out of the target extracts nothing at all."""

from __future__ import annotations

import fnmatch
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from bot.executor.plan import StepContext, StepFailed
from playbooks.backups import Archive

CHUNK = 1 << 20


def create_archive(ctx: StepContext, name: str, archive: Archive, dest: Path) -> int:
    """Write ``dest`` (tar.gz); returns the number of files. Paths are stored relative to ``/`` as
    the seed's ``tar -C /`` would, so a restore puts them back where they were."""
    missing = [p for p in archive.paths if not Path(p).exists()]
    if missing:
        raise StepFailed(f"archive {name}: {', '.join(missing)} does not exist")
    count = 0

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
        return info

    with tarfile.open(dest, "w:gz", compresslevel=6) as tar:
        for path in archive.paths:
            absolute = Path(path).resolve()
            tar.add(str(absolute), arcname=str(absolute).lstrip("/"), filter=keep)
    return count


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


def extract_safely(archive: Path, target: Path) -> int:
    """Check every member first and refuse the whole archive on any danger; then extract with
    tarfile's ``data`` filter as a second guard."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            problems = unsafe_members(members, target)
            if problems:
                shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
                raise StepFailed(f"{archive.name} was not extracted: {shown}")
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise StepFailed(f"{archive.name} could not be extracted: {exc}") from None
    return len(members)
