"""Switching the site's nginx configuration safely, and checking what nginx really serves.

nginx keeps its old configuration, silently, when a reload fails; so a new file is checked with
``nginx -t`` before the reload, the previous content is put back if the check or the reload fails,
and a probe then confirms from outside that the site answers as the new configuration says."""

from __future__ import annotations

import http.client
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit, urlunsplit
from urllib.request import HTTPRedirectHandler, OpenerDirector, ProxyHandler, Request, build_opener

from bot.executor.plan import ProcessResult, StepContext, StepFailed
from playbooks.durations import format_duration
from playbooks.maintenance import NginxSettings, ProbeSettings


def install(ctx: StepContext, nginx: NginxSettings, source: str) -> bytes | None:
    """Put ``source`` in place of the live site file, ``nginx -t``, reload. Returns the previous
    content; on any failure that content is back in place (nothing reloaded with the new file)."""
    site = Path(nginx.site_config)
    try:
        content = Path(source).read_bytes()
        previous = site.read_bytes() if site.exists() else None
    except OSError as exc:
        raise StepFailed(f"cannot read {exc.filename}: {exc.strerror}") from None
    write_atomically(site, content)
    checked = _command(ctx, nginx, nginx.test)
    if checked.returncode != 0:
        put_back(site, previous)
        raise StepFailed(f"`{shown(nginx, nginx.test)}` refused {source}: {nginx_reason(checked.output)}. "
                         f"The previous {site} is back in place and nginx was not reloaded: the site is unchanged.")
    reloaded = _command(ctx, nginx, nginx.reload)
    if reloaded.returncode != 0:
        put_back(site, previous)
        raise StepFailed(f"`{shown(nginx, nginx.reload)}` failed: {nginx_reason(reloaded.output)}. "
                         f"The previous {site} is back in place.")
    return previous


def shown(nginx: NginxSettings, argv: tuple[str, ...]) -> str:
    """The command as approvers read it: ``nginx -t``, or ``docker exec web nginx -t``."""
    command = " ".join(argv)
    return f"docker exec {nginx.container} {command}" if nginx.container else command


def _command(ctx: StepContext, nginx: NginxSettings, argv: tuple[str, ...]) -> ProcessResult:
    """``test`` or ``reload``: in nginx's own container when it has one, else on the bot's machine."""
    if nginx.container is None:
        return ctx.runner.process(argv, check=False)
    if ctx.docker is None:
        raise StepFailed(f"`{shown(nginx, argv)}` needs the Docker engine, and none is configured")
    return ctx.docker.exec(nginx.container, argv, check=False)


def put_back(site: Path, previous: bytes | None) -> None:
    if previous is None:
        site.unlink(missing_ok=True)
    else:
        write_atomically(site, previous)


def restore_and_reload(ctx: StepContext, nginx: NginxSettings, previous: bytes | None,
                       confirm: ProbeSettings | None = None) -> str:
    """Undo an install whose result was wrong; says what happened (for the failure message). With
    ``confirm``, waits until the site is served again (a reload takes effect asynchronously)."""
    put_back(Path(nginx.site_config), previous)
    reloaded = _command(ctx, nginx, nginx.reload)
    if reloaded.returncode != 0:
        return f"the previous configuration is back in place but its reload failed too: {nginx_reason(reloaded.output)}"
    if confirm is None:
        return "the previous configuration is back in place and reloaded"
    try:
        seen = wait_for(ctx, confirm, serving, "something other than 503")
    except StepFailed as exc:
        return f"the previous configuration is back in place and reloaded, but {exc}"
    return f"the previous configuration is back in place and reloaded ({confirm.url} answers {seen.status} again)"


def nginx_reason(output: str) -> str:
    """The line that says why (``[emerg] …``), not the closing "test failed"."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for marker in ("[emerg]", "[alert]", "[crit]", "[error]"):
        found = [line for line in lines if marker in line]
        if found:
            return found[0][found[0].index(marker):][:400]
    return (lines[-1] if lines else "no output")[:400]


def write_atomically(path: Path, content: bytes) -> None:
    """A reader (nginx -t, a reload) sees the old file or the new one, never half of one."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# -- probes ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Seen:
    status: int | None
    headers: dict[str, str]
    body: str
    error: str = ""

    def said(self) -> str:
        return f"it answered {self.status}" if self.status is not None else self.error


class _NoRedirects(HTTPRedirectHandler):
    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


_OPENER: OpenerDirector = build_opener(ProxyHandler({}), _NoRedirects())


def fetch(url: str, timeout: float = 5.0) -> Seen:
    """One GET, never raising for network trouble."""
    try:
        with _OPENER.open(Request(url, method="GET"), timeout=timeout) as response:
            return Seen(response.status, {k.lower(): v for k, v in response.headers.items()},
                        response.read(65536).decode("utf-8", errors="replace"))
    except HTTPError as exc:
        with exc:
            return Seen(exc.code, {k.lower(): v for k, v in exc.headers.items()},
                        exc.read(65536).decode("utf-8", errors="replace"))
    except URLError as exc:
        return Seen(None, {}, "", str(getattr(exc.reason, "strerror", None) or exc.reason).lower())
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        return Seen(None, {}, "", type(exc).__name__)


def health_urls(probe: ProbeSettings) -> list[str]:
    parts = urlsplit(probe.url)
    return [urlunsplit((parts.scheme, parts.netloc, path, "", "")) for path in probe.health_paths]


def wait_for(ctx: StepContext, probe: ProbeSettings, good: Callable[[Seen], bool], what: str) -> Seen:
    """Poll ``probe.url`` until ``good(seen)`` twice in a row, ``probe.every`` apart (during a reload
    the old workers still accept connections for a moment), within ``probe.within``."""
    until = time.monotonic() + probe.within.total_seconds()
    streak = 0
    while True:
        ctx.check()
        seen = fetch(probe.url)
        streak = streak + 1 if good(seen) else 0
        if streak == 2:
            return seen
        if time.monotonic() >= until:
            raise StepFailed(f"{probe.url} did not answer {what} within {format_duration(probe.within)} "
                             f"(last: {seen.said()})")
        ctx.cancel.wait(probe.every.total_seconds())


def in_maintenance(seen: Seen) -> bool:
    return seen.status == 503 and "retry-after" in seen.headers


def serving(seen: Seen) -> bool:
    return seen.status is not None and seen.status != 503
