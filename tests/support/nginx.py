"""nginx in front of the application, in a test's folder (the sandbox's own nginx service)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.sandbox.services.nginx import App, Nginx

__all__ = ["Nginx", "nginx_site"]


@contextmanager
def nginx_site(folder: Path) -> Iterator[Nginx]:
    """nginx serving the application (which names the path it was asked) with the normal configuration."""
    app = App()
    server = Nginx(folder, app.port)
    try:
        yield server.start()
    finally:
        server.stop()
        app.stop()
