"""Encrypted offsite copies: a backup folder as one tar stream, sealed in 64 KiB chunks with
AES-256-GCM (``cryptography``), the way age's STREAM construction does it. Each chunk's nonce is
a random per-file prefix, the chunk counter and a last-chunk flag, so a flipped byte, a truncated
file, or chunks swapped around all fail decryption. Nothing is ever held whole in memory.

File format: ``MAGIC`` (8 bytes), nonce prefix (7 bytes), then chunks of ciphertext+tag."""

from __future__ import annotations

import base64
import binascii
import os
import tarfile
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.executor.plan import StepFailed
from bot.ops.backup.archive import unsafe_members

MAGIC = b"OPSBOT1\n"
CHUNK = 64 * 1024
TAG = 16
PREFIX = 7


class DecryptionFailed(StepFailed):
    """Wrong key, or the file was changed, cut short or reordered."""


def load_key(path: Path) -> bytes:
    """32 bytes: raw, 64 hex characters, or base64. The key never appears in any message."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StepFailed(f"cannot read the offsite key file {path}: {exc.strerror}") from None
    if len(data) == 32:
        return data
    text = data.strip()
    for decode in (binascii.unhexlify, base64.b64decode):
        try:
            key = decode(text)
        except (binascii.Error, ValueError):
            continue
        if len(key) == 32:
            return key
    raise StepFailed(f"the offsite key file {path} must hold 32 bytes (raw, hex or base64)")


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class _SealingWriter:
    """A write-only stream that encrypts what is written, chunk by chunk."""

    def __init__(self, out: BinaryIO, key: bytes) -> None:
        self._out = out
        self._aead = AESGCM(key)
        self._prefix = os.urandom(PREFIX)
        self._buffer = bytearray()
        self._counter = 0
        out.write(MAGIC + self._prefix)

    def write(self, data: bytes) -> int:
        self._buffer += data
        while len(self._buffer) > CHUNK:  # keep at least one byte back: the last chunk is flagged
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def close(self) -> None:
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()

    def _seal(self, chunk: bytes, *, last: bool) -> None:
        if self._counter >= 2**32:
            raise StepFailed("the backup is too large for one encrypted file")
        self._out.write(self._aead.encrypt(_nonce(self._prefix, self._counter, last), chunk, MAGIC))
        self._counter += 1


def encrypt_folder(folder: Path, dest: Path, key: bytes) -> None:
    with dest.open("wb") as out:
        writer = _SealingWriter(out, key)
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            tar.add(str(folder), arcname=folder.name)
        writer.close()


def decrypt_stream(source: Path, key: bytes) -> BinaryIO:
    """The plaintext as a readable stream; raises DecryptionFailed on any tampering."""
    return _OpeningReader(source.open("rb"), key)  # type: ignore[return-value]


class _OpeningReader:
    def __init__(self, stream: BinaryIO, key: bytes) -> None:
        self._in = stream
        self._aead = AESGCM(key)
        header = stream.read(len(MAGIC) + PREFIX)
        if len(header) != len(MAGIC) + PREFIX or not header.startswith(MAGIC):
            raise DecryptionFailed(f"{getattr(stream, 'name', 'the file')} is not an opsbot encrypted backup")
        self._prefix = header[len(MAGIC):]
        self._counter = 0
        self._plain = b""
        self._done = False
        self._next = stream.read(CHUNK + TAG)

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._plain) < size):
            self._open_next()
        if size < 0:
            data, self._plain = self._plain, b""
        else:
            data, self._plain = self._plain[:size], self._plain[size:]
        return data

    def _open_next(self) -> None:
        sealed, self._next = self._next, self._in.read(CHUNK + TAG)
        last = not self._next
        try:
            self._plain += self._aead.decrypt(_nonce(self._prefix, self._counter, last), sealed, MAGIC)
        except InvalidTag:
            raise DecryptionFailed("decryption failed: wrong key, or the file was altered, truncated or "
                                   "reordered") from None
        self._counter += 1
        self._done = last

    def close(self) -> None:
        self._in.close()


def decrypt_to_folder(source: Path, target: Path, key: bytes) -> Path:
    """Restore an offsite copy into ``target`` (checked member by member as any extraction)."""
    reader = decrypt_stream(source, key)
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                if unsafe_members([member], target):
                    raise StepFailed(f"{source.name} holds an unsafe path: {member.name}")
                tar.extract(member, target, filter="data")
    finally:
        reader.close()
    return target
