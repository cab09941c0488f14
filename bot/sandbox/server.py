"""The sandbox Slack as a real HTTP server on 127.0.0.1, running in its own thread and event loop.

A background thread lets synchronous tests and the terminal console use it while the bot (sync or
async) talks to it over HTTP through `SLACK_API_URL`, exactly as it would talk to slack.com.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from aiohttp import web

from bot.sandbox import control
from bot.sandbox.api import SOCKETS, WORKSPACE, handle_api
from bot.sandbox.seed import default_workspace
from bot.sandbox.socket_mode import SocketHub
from bot.sandbox.workspace import Workspace

LOOPBACK = "127.0.0.1"


def build_app(workspace: Workspace, sockets: SocketHub) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)  # a canvas alone may be 1 MiB of Markdown
    app[WORKSPACE] = workspace
    app[SOCKETS] = sockets
    app.add_routes([web.post("/api/{method}", handle_api), web.get("/api/{method}", handle_api),
                    web.get("/_sandbox/socket", sockets.handle), *control.ROUTES])
    return app


class SandboxServer:
    """`start()` binds 127.0.0.1 (port 0 picks a free one); `stop()` or leaving the `with` block ends it."""

    def __init__(self, workspace: Workspace | None = None) -> None:
        self.workspace = workspace or default_workspace()
        self.sockets = SocketHub(self.workspace)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("the sandbox server is not running")
        return f"http://{LOOPBACK}:{self._port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/"

    def start(self, host: str = LOOPBACK, port: int = 0) -> None:
        if host != LOOPBACK:
            raise ValueError(f"the sandbox only binds {LOOPBACK}, not {host!r}")
        if self._thread is not None:
            raise RuntimeError("the sandbox server is already running")
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(build_app(self.workspace, self.sockets), access_log=None)
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(runner.setup())
                loop.run_until_complete(web.TCPSite(runner, host, port).start())
            except BaseException as error:  # reported to start() below
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        thread = threading.Thread(target=serve, name="slack-sandbox", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            raise failure[0]
        self._loop, self._thread = loop, thread
        self._port = runner.addresses[0][1]
        self.workspace.base_url = self.base_url

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop = self._thread = self._port = None
        self.workspace.base_url = None

    def __enter__(self) -> SandboxServer:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
