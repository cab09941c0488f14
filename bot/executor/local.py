"""Local processes for operations: argv lists only (never a shell), an allowlisted environment,
the whole process group stopped on timeout or Cancel, output kept as a bounded, redacted tail."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import IO

from bot.executor.plan import Cancelled, ProcessResult, StepFailed

DEFAULT_ENV_ALLOWLIST = frozenset({"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME", "USER", "TMPDIR"})
NOT_SECRET = frozenset({"PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGCONNECT_TIMEOUT", "PGSSLMODE",
                        "PGAPPNAME", "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME", "USER", "TMPDIR"})
"""``env`` names whose values are plain settings: redacting ``5432`` or ``postgres`` everywhere would
make every error unreadable. Every other value handed to a process is treated as a secret."""
TAIL_BYTES = 16_384
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
POLL = 0.1


Track = Callable[[int, Sequence[str]], Callable[[], None]]
"""Told of each process as it starts (its PID, also its group's, and its argv); returns what to call
once it has ended. The worker records the process for its run so that, should the bot die, the
next start can stop it (``bot.executor.processes``)."""


def _untracked(_pid: int, _argv: Sequence[str]) -> Callable[[], None]:
    return lambda: None


class LocalRunner:
    def __init__(self, *, redact: Callable[[str], str], cancel: threading.Event, deadline: float | None,
                 env_allowlist: frozenset[str] = DEFAULT_ENV_ALLOWLIST, track: Track = _untracked) -> None:
        self._redact = redact
        self._cancel = cancel
        self._deadline = deadline
        self._allowlist = env_allowlist
        self._track = track

    def process(self, argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
                stdin: Path | None = None, stdout: Path | None = None, check: bool = True) -> ProcessResult:
        return self.pipeline([argv], stdout=stdout, cwd=cwd, env=env, stdin=stdin, check=check)[0]

    def pipeline(self, argvs: Sequence[Sequence[str]], *, stdout: Path | None = None, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None, stdin: Path | None = None,
                 check: bool = True) -> list[ProcessResult]:
        """``a | b > stdout`` with pipefail: any stage that fails fails the whole pipeline."""
        if not argvs or any(not argv for argv in argvs):
            raise StepFailed("nothing to run")
        redact = self._redactor(env)
        started = time.monotonic()
        procs: list[subprocess.Popen[bytes]] = []
        ended: list[Callable[[], None]] = []
        tails = [_Tail() for _ in argvs]
        readers: list[threading.Thread] = []
        with ExitStack() as files:
            previous: IO[bytes] | None = files.enter_context(stdin.open("rb")) if stdin else None
            final_out: IO[bytes] | None = files.enter_context(stdout.open("wb")) if stdout else None
            try:
                for i, argv in enumerate(argvs):
                    last = i == len(argvs) - 1
                    out = final_out if last and final_out else (None if last else subprocess.PIPE)
                    proc = subprocess.Popen(
                        [str(a) for a in argv], cwd=cwd, env=self._environment(env),
                        stdin=previous or subprocess.DEVNULL,
                        stdout=out if out is not None else subprocess.PIPE, stderr=subprocess.PIPE,
                        start_new_session=True, close_fds=True,
                    )
                    if previous is not None and i > 0:
                        previous.close()  # the next stage holds it now; a dead reader must give SIGPIPE
                    procs.append(proc)
                    ended.append(self._track(proc.pid, argv))
                    readers.append(_drain(proc.stderr, tails[i]))
                    if last and out is None:
                        readers.append(_drain(proc.stdout, tails[i]))
                    previous = proc.stdout if not last else None
            except FileNotFoundError as exc:
                self._stop(procs)
                _all(ended)
                raise StepFailed(f"{Path(exc.filename or argvs[len(procs)][0]).name} is not installed on this host") \
                    from None
            except OSError as exc:
                self._stop(procs)
                _all(ended)
                raise StepFailed(redact(f"cannot start {argvs[len(procs)][0]}: {exc.strerror}")) from None
            except BaseException:  # could not record a process: none may run unrecorded
                self._stop(procs)
                _all(ended)
                raise
            stopped = self._wait(procs)
            _all(ended)
        for reader in readers:
            reader.join(timeout=5)
        seconds = time.monotonic() - started
        results = [ProcessResult(tuple(map(str, argv)), proc.returncode, redact(tail.text()), seconds)
                   for argv, proc, tail in zip(argvs, procs, tails, strict=True)]
        if stopped:
            raise Cancelled(stopped)
        failed = [r for r in results if r.returncode != 0]
        if check and failed:
            first = failed[0]
            raise StepFailed(f"{Path(first.argv[0]).name} exited with {first.returncode}: {telling_line(first.output)}")
        return results

    def _wait(self, procs: list[subprocess.Popen[bytes]]) -> str | None:
        """Wait for every stage; stop them all on Cancel or the deadline. Returns why it stopped them."""
        while any(p.poll() is None for p in procs):
            why = None
            if self._cancel.is_set():
                why = "cancelled"
            elif self._deadline is not None and time.monotonic() > self._deadline:
                why = "timed out"
            if why:
                self._stop(procs)
                return why
            time.sleep(POLL)
        return None

    @staticmethod
    def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
        """SIGTERM each process group (children included), SIGKILL what is left after a grace."""
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        until = time.monotonic() + KILL_GRACE
        for proc in procs:
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, until - time.monotonic()))
            _signal_group(proc, signal.SIGKILL)
            proc.wait()

    def _environment(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in self._allowlist}
        env.update(extra or {})
        return env

    def _redactor(self, env: Mapping[str, str] | None) -> Callable[[str], str]:
        """The runner's redaction plus the values handed to the process (a PGPASSWORD, say)."""
        values = {v for k, v in (env or {}).items() if k not in NOT_SECRET and len(v) >= 4}
        secrets = sorted(values, key=len, reverse=True)

        def redact(text: str) -> str:
            for secret in secrets:
                text = text.replace(secret, "[redacted]")
            return self._redact(text)

        return redact


def _all(calls: list[Callable[[], None]]) -> None:
    for call in calls:
        call()


ROOT_CAUSES = ("No space left on device", "Disk quota exceeded")
"""Said once by the process that hit it, then drowned by what failed because of it (``pg_dump -j``
ends with "a worker process died unexpectedly"): the line that says one of these is the one shown."""


def telling_line(output: str) -> str:
    """The line of a failed process's output that says why: one naming a root cause, else the last."""
    lines = output.strip().splitlines()
    if not lines:
        return "no output"
    cause = next((line for line in reversed(lines) if any(c in line for c in ROOT_CAUSES)), lines[-1])
    return cause[:300]


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


class _Tail:
    """The last TAIL_BYTES of a stream: output can be gigabytes, memory stays flat."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._lock = threading.Lock()

    def add(self, chunk: bytes) -> None:
        with self._lock:
            self._chunks.append(chunk)
            self._size += len(chunk)
            while self._size - len(self._chunks[0]) >= TAIL_BYTES:
                self._size -= len(self._chunks.popleft())

    def text(self) -> str:
        with self._lock:
            data = b"".join(self._chunks)[-TAIL_BYTES:]
        return data.decode("utf-8", errors="replace")


def _drain(stream: IO[bytes] | None, tail: _Tail) -> threading.Thread:
    def read() -> None:
        if stream is None:
            return
        with stream:
            for chunk in iter(lambda: stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536), b""):
                tail.add(chunk)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread
