"""TCP across network namespaces, for the suite's private Docker Engine (tests/support/dockerd.py).

The engine runs in a network namespace of its own, so its bridges and containers never meet the
host's firewall or another engine's networks. The suite still has to reach into it (the bot's and
nginx's published ports) and let it reach out (the sandbox Slack server on the host's 127.0.0.1,
Debian's mirror and PyPI during an image build). A socket belongs to the namespace of the thread
that created it, and ``setns(2)`` moves one thread only; so a short-lived thread enters the
namespace, creates the socket and hands it back, and a ``Forward`` pumps bytes between a listening
socket on one side and connections it opens on the other. No interface, route or firewall rule is
added anywhere."""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


class NetworkNamespace:
    """The network namespace of a process (``/proc/<pid>/ns/net``)."""

    def __init__(self, pid: int) -> None:
        self.path = f"/proc/{pid}/ns/net"

    def run(self, call: Callable[[], T]) -> T:
        """``call()`` in a thread that has entered the namespace; sockets it creates live there."""
        result: list[T] = []
        failure: list[BaseException] = []

        def enter() -> None:
            try:
                fd = os.open(self.path, os.O_RDONLY)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        errno = ctypes.get_errno()
                        raise OSError(errno, f"setns {self.path}: {os.strerror(errno)}")
                finally:
                    os.close(fd)
                result.append(call())
            except BaseException as exc:  # handed to the caller below
                failure.append(exc)

        thread = threading.Thread(target=enter, name="netns-enter")
        thread.start()
        thread.join()
        if failure:
            raise failure[0]
        return result[0]

    def listen(self, host: str, port: int = 0) -> socket.socket:
        return self.run(lambda: _listening(host, port))

    def connect(self, host: str, port: int, timeout: float = 10) -> socket.socket:
        return self.run(lambda: socket.create_connection((host, port), timeout=timeout))


def _listening(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    return sock


def listen_here(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    return _listening(host, port)


def connect_here(host: str, port: int, timeout: float = 10) -> socket.socket:
    return socket.create_connection((host, port), timeout=timeout)


class Forward:
    """Accepts on ``listener`` and joins each connection to a new one from ``connect()``; ends with ``close()``."""

    def __init__(self, listener: socket.socket, connect: Callable[[], socket.socket], name: str) -> None:
        self.listener = listener
        self.port: int = listener.getsockname()[1]
        self._connect = connect
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name=f"forward-{name}", daemon=True).start()

    def close(self) -> None:
        self._closed = True
        with suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self._lock:
            for sock in list(self._open):
                with suppress(OSError):
                    sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._join, args=(client,), daemon=True).start()

    def _join(self, client: socket.socket) -> None:
        try:
            upstream = self._connect()
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            self._open.update((client, upstream))
        back = threading.Thread(target=self._pump, args=(upstream, client), daemon=True)
        back.start()
        self._pump(client, upstream)
        back.join()
        with self._lock:
            self._open.difference_update((client, upstream))
        client.close()
        upstream.close()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        """One direction; an end of stream is passed on as a half-close, so request/response both finish."""
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
            with suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
        except OSError:
            with suppress(OSError):
                sink.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                source.shutdown(socket.SHUT_RDWR)
