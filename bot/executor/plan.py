"""What an operation hands the executor: a plan of titled steps, each a callable that does its work
through a StepContext. The plan is shown to approvers before anything runs (the dry run), so a
step's title must say exactly what it will do, with the resolved parameters."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol


class Cancelled(Exception):
    """The requester or an approver pressed Cancel, or the run's timeout passed."""


class StepFailed(Exception):
    """A step could not do its work. The message is shown in Slack and stored in the audit record,
    so it must be short, clear and free of secrets."""


@dataclass(frozen=True)
class ProcessResult:
    argv: tuple[str, ...]
    returncode: int
    output: str
    """Combined stderr (and stdout unless redirected), redacted and trimmed to its tail."""
    seconds: float


class ProcessRunner(Protocol):
    """Runs argv lists, never a shell string. Implementations kill the whole process group on
    timeout or cancellation, pass only an allowlisted environment plus ``env``, and redact."""

    def process(self, argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
                stdin: Path | None = None, stdout: Path | None = None, check: bool = True) -> ProcessResult: ...

    def pipeline(self, argvs: Sequence[Sequence[str]], *, stdout: Path, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None, stdin: Path | None = None,
                 check: bool = True) -> list[ProcessResult]:
        """``a | b | c > stdout`` with pipefail: any stage failing fails the pipeline."""
        ...


class DockerEngine(Protocol):
    """The parts of the Docker Engine the operations use (through the docker SDK)."""

    def exec(self, container: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
             stdout: Path | None = None, stdin: BinaryIO | None = None, check: bool = True) -> ProcessResult: ...

    def restart(self, container: str, *, timeout_seconds: int = 10) -> None: ...

    def stop(self, container: str, *, timeout_seconds: int = 10) -> None: ...

    def start(self, container: str) -> None: ...

    def recreate(self, container: str, *, timeout_seconds: int = 10) -> str: ...

    def tag(self, image: str, new_reference: str) -> None: ...

    def close(self) -> None: ...


class Lookups(Protocol):
    """Read-only facts an operation may look up while building its plan, so that approvers see
    them (which image a tag names now) and the request fails before approval when one is missing."""

    def image_id(self, reference: str) -> str | None:
        """The image ID ``reference`` names, or None when there is no such image."""
        ...


class NoLookups:
    """For a bot with no Docker engine configured: a plan that needs one cannot be built."""

    def image_id(self, reference: str) -> str | None:
        raise StepFailed(f"looking up the image {reference} needs the Docker engine, and none is configured")


@dataclass(frozen=True)
class Answer:
    """What the requester (or an approver) chose when a run asked them, and who it was."""

    choice: str
    by: str


def _cannot_ask(text: str, choices: Sequence[tuple[str, str]]) -> Answer:
    raise StepFailed("this run cannot ask anyone a question")


@dataclass
class StepContext:
    """Everything a step may touch. Steps call ``check()`` between units of work so Cancel and the
    run's deadline stop them promptly; the runners check it themselves while processes run."""

    runner: ProcessRunner
    workdir: Path
    docker: DockerEngine | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    deadline: float | None = None
    """time.monotonic() value after which the run is stopped."""
    notes: Callable[[str], None] = lambda _text: None
    produced: dict[str, str] = field(default_factory=dict)
    """What the run made, shown in the summary and kept in the audit record (e.g. backup id, size)."""
    asker: Callable[[str, Sequence[tuple[str, str]]], Answer] = _cannot_ask
    """Posts a question with one button per (key, label) in the run's thread and waits for the answer."""

    def check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise Cancelled("timed out")

    def note(self, text: str) -> None:
        """A progress detail for the thread (throttled by the executor)."""
        self.notes(text)

    def produce(self, label: str, value: str) -> None:
        self.produced[label] = value

    def ask(self, text: str, choices: Sequence[tuple[str, str]]) -> Answer:
        """Ask the requester (or an approver) in the thread; blocks until answered, Cancel or the deadline."""
        return self.asker(text, choices)


@dataclass(frozen=True)
class Step:
    title: str
    action: Callable[[StepContext], None]


@dataclass(frozen=True)
class FollowUp:
    """Another declared action to request once this run has succeeded: by the same requester, in the
    same channel, through the same rules (its own approvals)."""

    action: str
    params: Mapping[str, str]


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    summary: str = ""
    cleanup: Callable[[], None] | None = None
    """Runs after the last step whatever happened (e.g. removes a half-built backup)."""
    pinned: bool = False
    """The titles name facts looked up when the run was requested (image IDs, the backup chosen):
    the executor refuses to run the plan if, rebuilt when the run starts, they have changed."""
    follow_ups: tuple[FollowUp, ...] = ()
    announce: bool = False
    """Post the outcome to the operations channel whatever it is (failures always are)."""

    def describe(self) -> list[str]:
        return [step.title for step in self.steps]
