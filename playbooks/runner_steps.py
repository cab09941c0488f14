"""Runner steps: what a playbook says to do to stop, start or restart services and to check their
health, as a list of one-key mappings, e.g. (``backups.yaml``, ``restore.stop_services``)::

    - docker_stop: web                        # or {container: web, timeout: 30s}
    - run: [systemctl, stop, celery]
      cwd: /srv/app
    - docker_exec: {container: web, argv: [python, manage.py, migrate]}
    - docker_restart: {container: worker, timeout: 10s}
    - docker_start: web
    - docker_recreate: web                    # from the image its tag names now (after a docker_tag)
    - docker_tag: {image: "app:backup", as: "app:latest"}
    - http_check: {url: "http://127.0.0.1:8000/health", expect_status: 200, within: 2m, every: 2s}

Each step has exactly one of the kinds' keys; a typo or a missing key is an error that names the
key, as for the rest of the pack. Argv lists only: nothing here is ever given to a shell."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from playbooks.common import PackModel
from playbooks.durations import Duration

# Docker's own rules: container names [a-zA-Z0-9][a-zA-Z0-9_.-]*; image references
# [registry[:port]/]name[:tag] with lowercase path components (no digest: a tag is being made).
_CONTAINER = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}")
_IMAGE = re.compile(r"[a-z0-9][a-z0-9._-]*(?::[0-9]+)?(?:/[a-z0-9][a-z0-9._-]*)*"
                    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?")


def _container(value: str) -> str:
    if _CONTAINER.fullmatch(value):
        return value
    raise ValueError(f"{value!r} is not a container name; write it like web or app_worker_1")


def _image(value: str) -> str:
    if len(value) <= 255 and _IMAGE.fullmatch(value):
        return value
    raise ValueError(f"{value!r} is not an image reference; write it like app:latest or registry:5000/team/app:v2")


ContainerName = Annotated[str, AfterValidator(_container)]
ImageReference = Annotated[str, AfterValidator(_image)]
Argv = Annotated[tuple[Annotated[str, Field(min_length=1)], ...], Field(min_length=1)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class RunStep(PackModel):
    """A local process (``ctx.runner.process``): argv list, optional absolute working directory."""

    run: Argv
    cwd: str | None = None
    env: dict[EnvName, str] = {}

    @field_validator("cwd")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"{value!r} is not an absolute path; write it like /srv/app")
        return value


class DockerExec(PackModel):
    container: ContainerName
    argv: Argv
    env: dict[EnvName, str] = {}


class DockerExecStep(PackModel):
    docker_exec: DockerExec


class ContainerTimeout(PackModel):
    """``web`` or ``{container: web, timeout: 30s}``: how long Docker waits before killing it."""

    container: ContainerName
    timeout: Duration = timedelta(seconds=10)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"container": data} if isinstance(data, str) else data

    @field_validator("timeout")
    @classmethod
    def _bounded(cls, value: timedelta) -> timedelta:
        if not timedelta(0) <= value <= timedelta(hours=1):
            raise ValueError("timeout must be between 0s and 1h")
        return value


class ContainerOnly(PackModel):
    container: ContainerName

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"container": data} if isinstance(data, str) else data


class DockerRestartStep(PackModel):
    docker_restart: ContainerTimeout


class DockerStopStep(PackModel):
    docker_stop: ContainerTimeout


class DockerStartStep(PackModel):
    docker_start: ContainerOnly


class DockerRecreateStep(PackModel):
    """A new container with the same settings from the image its reference names now (the old one's
    ``timeout`` is how long Docker waits for it to stop): how a retagged image really runs."""

    docker_recreate: ContainerTimeout


class DockerTag(PackModel):
    """``docker tag <image> <as>``: the rollback's ``app:backup`` → ``app:latest``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    image: ImageReference
    as_: ImageReference = Field(alias="as")


class DockerTagStep(PackModel):
    docker_tag: DockerTag


class HttpCheck(PackModel):
    """Poll ``url`` until it answers ``expect_status`` (redirects are answers, not followed)."""

    url: str
    expect_status: int = Field(default=200, ge=100, le=599)
    within: Duration = timedelta(minutes=2)
    every: Duration = timedelta(seconds=2)
    timeout: Duration = timedelta(seconds=5)
    """For each request."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL; write it like http://127.0.0.1:8000/health")
        if parts.username or parts.password:
            raise ValueError("put no credentials in the health URL: it is shown in Slack")
        return value

    @model_validator(mode="after")
    def _sensible(self) -> HttpCheck:
        if self.every <= timedelta(0) or self.timeout <= timedelta(0) or self.within <= timedelta(0):
            raise ValueError("within, every and timeout must be longer than 0s")
        if self.every > self.within:
            raise ValueError("every must not be longer than within")
        return self


class HttpCheckStep(PackModel):
    http_check: HttpCheck


_KINDS: dict[str, type[PackModel]] = {
    "run": RunStep,
    "docker_exec": DockerExecStep,
    "docker_restart": DockerRestartStep,
    "docker_stop": DockerStopStep,
    "docker_start": DockerStartStep,
    "docker_recreate": DockerRecreateStep,
    "docker_tag": DockerTagStep,
    "http_check": HttpCheckStep,
}
_STEP_TYPES = tuple(_KINDS.values())
_KEYS = ", ".join(_KINDS)


def _one_step(value: Any, _handler: ValidatorFunctionWrapHandler) -> Any:
    """Pick the kind by its key, then validate as that kind alone: errors name the step's own keys
    (``[0].docker_stop.timeout``), not every kind of the union."""
    if isinstance(value, _STEP_TYPES):
        return value
    if not isinstance(value, Mapping):
        raise _problem(f"a runner step is a mapping with one of the keys {_KEYS}")
    kinds = [key for key in _KINDS if key in value]
    if len(kinds) > 1:
        raise _problem(f"one kind per step: this one has {' and '.join(kinds)}")
    if not kinds:
        close = [m for key in value for m in difflib.get_close_matches(str(key), list(_KINDS), n=1)]
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise _problem(f"a runner step needs one of the keys {_KEYS}; {hint}".rstrip("; "))
    model = _KINDS[kinds[0]]
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise ValidationError.from_exception_data(exc.title, [_worded(e, model) for e in exc.errors()]) from None


def _worded(error: Any, model: type[BaseModel]) -> InitErrorDetails:
    """The error as it was, except an unknown key, which says which keys are known (and the closest)."""
    if error["type"] != "extra_forbidden":
        return InitErrorDetails(type=error["type"], loc=error["loc"], input=error["input"], ctx=error.get("ctx", {}))
    node: Any = model
    for part in error["loc"][:-1]:
        node = node.model_fields[str(part)].annotation if str(part) in node.model_fields else None
        if not (isinstance(node, type) and issubclass(node, BaseModel)):
            return InitErrorDetails(type=_problem("unknown key"), loc=error["loc"], input=error["input"])
    known = [info.alias or name for name, info in node.model_fields.items()]
    close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return InitErrorDetails(type=_problem(f"unknown key; {hint}known keys are {', '.join(known)}"),
                            loc=error["loc"], input=error["input"])


def _problem(message: str) -> PydanticCustomError:
    """The pack's own wording (type ``playbook``: shown as is by ``opsbot check``)."""
    return PydanticCustomError("playbook", "{message}", {"message": message})


RunnerStep = Annotated[
    RunStep | DockerExecStep | DockerRestartStep | DockerStopStep | DockerStartStep | DockerRecreateStep
    | DockerTagStep | HttpCheckStep,
    WrapValidator(_one_step),
]
RunnerSteps = tuple[RunnerStep, ...]
"""A playbook field's type for an ordered list of steps, e.g. ``stop_services: RunnerSteps = ()``."""
