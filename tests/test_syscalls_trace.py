"""The strace reading the sandbox walk relies on sees what it must: connections and writes of child
processes too, relative paths resolved through forks and chdir, failed attempts kept apart."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.syscalls import Trace, strace_argv

pytestmark = pytest.mark.kind("unit")

CHILD = textwrap.dedent("""
    import os, socket, sys
    os.chdir(sys.argv[1])
    socket.create_connection(("127.0.0.1", int(sys.argv[2]))).close()
    open("made", "w").close()
    os.rename("made", "renamed")          # relative, no folder descriptor
    try:
        open("/etc/opsbot-no-such-folder/x", "w")
    except OSError:
        pass
""")


def test_connects_and_writes_of_a_child_process_are_seen(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        log = tmp_path / "strace.log"
        parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {CHILD!r}, {str(work)!r}, '{port}'])"
        subprocess.run([*strace_argv(log), sys.executable, "-c", parent], check=True, timeout=60)
    trace = Trace.read(log)
    assert ("127.0.0.1", port) in trace.tcp_connects
    assert {f"{work}/made", f"{work}/renamed"} <= trace.writes
    assert trace.writes_under("/etc") == []
    assert trace.writes_under("/etc", attempts=True) == ["/etc/opsbot-no-such-folder/x"]
    assert not any(p.startswith("?/") for p in trace.writes | trace.attempts)


def test_a_call_interrupted_by_another_process_is_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "strace.log"
    log.write_text(
        '7 openat(AT_FDCWD</srv>, "/var/lib/x", O_RDWR|O_CREAT, 0660 <unfinished ...>\n'
        '8 openat(AT_FDCWD</srv>, "made", O_WRONLY|O_CREAT, 0666) = 3</srv/made>\n'
        '7 <... openat resumed>) = -1 ENOENT (No such file or directory)\n'
        '8 clone(child_stack=NULL, flags=SIGCHLD <unfinished ...>\n'
        '8 <... clone resumed>) = 9\n'
        '9 unlink("gone") = 0\n')
    trace = Trace.read(log)
    assert trace.attempts == {"/var/lib/x"} and trace.writes == {"/srv/made", "/srv/gone"}
