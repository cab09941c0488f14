"""The secondary copy (verified where it landed) and the encrypted offsite copy (verified by
decrypting it end to end)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bot.executor.plan import StepFailed
from bot.ops.backup.checksums import checksum_problems
from bot.ops.backup.crypto import CHUNK, decrypt_stream, encrypt_folder, load_key
from bot.ops.backup.layout import PARTIAL, Backup


def copy_to_secondary(backup: Backup, root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f"{PARTIAL}{backup.id}"
    final = root / backup.id
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shutil.copytree(backup.path, staging)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise StepFailed(f"copying to {root} failed: {exc.strerror or exc}") from None
    problems = checksum_problems(staging)
    if problems:
        shutil.rmtree(staging, ignore_errors=True)
        raise StepFailed(f"the copy in {root} does not verify: {'; '.join(problems[:3])}")
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    return final


def copy_offsite(backup: Backup, folder: Path, key_file: Path) -> Path:
    key = load_key(key_file)
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f"{PARTIAL}{backup.id}.tar.enc"
    final = folder / f"{backup.id}.tar.enc"
    try:
        encrypt_folder(backup.path, staging, key)
        reader = decrypt_stream(staging, key)
        try:
            while reader.read(CHUNK):
                pass
        finally:
            reader.close()
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    os.replace(staging, final)
    return final
