"""What a process tree did to the machine, read from ``strace -f -y`` output: the TCP and unix
socket addresses it connected to, and the paths it wrote, created, renamed, removed or changed.

    argv = strace_argv(log) + ["opsbot", ...]   # run it, then:
    trace = Trace.read(log)
    trace.tcp_connects      # {(address, port), ...}
    trace.writes_under("/etc", "/opt", "/var")

``-y`` makes strace print the path behind every descriptor argument, ``AT_FDCWD`` included (as the
process's working folder), so a relative path is resolved the way the kernel resolved it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

WRITE_CALLS = ("open", "openat", "creat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "mkdir", "mkdirat",
               "rmdir", "link", "linkat", "symlink", "symlinkat", "truncate", "chmod", "fchmodat", "chown", "lchown",
               "fchownat", "utimensat", "mknod", "mknodat")
_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")

FOLDER_CALLS = ("clone", "clone3", "fork", "vfork", "chdir", "fchdir")  # to know each process's working folder

_LINE = re.compile(r"^(?:\[pid\s+)?(?P<pid>\d+)\]?\s+(?P<call>[a-z0-9_]+)\((?P<args>.*)$")
_RESUMED = re.compile(r"^(?P<pid>\d+)\s+<\.\.\. (?P<call>[a-z0-9_]+) resumed>(?P<args>.*)$")
_UNFINISHED = "<unfinished ...>"
_RESULT = re.compile(r"\)\s+=\s+(?P<ret>-?\d+)")
_TCP4 = re.compile(r'sin_port=htons\((?P<port>\d+)\), sin_addr=inet_addr\("(?P<addr>[^"]+)"\)')
_TCP6 = re.compile(r'sin6_port=htons\((?P<port>\d+)\).*?inet_pton\(AF_INET6, "(?P<addr>[^"]+)"')
_UNIX = re.compile(r'sun_path="(?P<path>[^"]+)"')
_DIR = re.compile(r'^(?:AT_FDCWD|\d+)<(?P<dir>[^>]*)>$')
_CWD = re.compile(r'AT_FDCWD<(?P<dir>[^>]*)>')
_FD = re.compile(r'\d+<(?P<dir>[^>]*)>')
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def strace_argv(log: Path) -> list[str]:
    """strace following every child, recording connects and the calls that change files (nothing else:
    the seccomp filter leaves the other system calls untraced, so the run keeps its speed)."""
    return ["strace", "-f", "-qq", "--seccomp-bpf", "-y", "-s", "4096", "-e", "signal=none",
            "-e", "trace=" + ",".join(("connect", *WRITE_CALLS, *FOLDER_CALLS)), "-o", str(log)]


@dataclass
class Trace:
    tcp_connects: set[tuple[str, int]] = field(default_factory=set)
    unix_connects: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    """Absolute paths written, created, renamed (both names), removed or changed. A relative path
    given without a folder descriptor (``rename("a", "b")``) is resolved against the process's
    working folder (followed through forks and chdir); never known: ``?/a``."""
    attempts: set[str] = field(default_factory=set)
    """The same for calls that failed (nothing changed, but something meant to)."""

    @classmethod
    def read(cls, log: Path) -> Trace:
        trace = cls()
        cwd: dict[str, str] = {}
        for line in _whole_calls(log.read_text(errors="replace").splitlines()):
            match = _LINE.match(line)
            if match is None:
                continue
            call, args, pid = match["call"], match["args"], match["pid"]
            if seen := _CWD.search(args):
                cwd[pid] = seen["dir"]
            if call == "connect":
                trace._connect(args)
            elif call in WRITE_CALLS:
                trace._write(call, args, cwd.get(pid))
            elif call in FOLDER_CALLS[:4]:
                _inherit(cwd, pid, args)
            elif call in ("chdir", "fchdir") and (result := _RESULT.search(args)) and result["ret"] == "0":
                folder = _FD.match(args) if call == "fchdir" else None
                cwd[pid] = folder["dir"] if folder else next(iter(_paths(args, cwd.get(pid))), "?")
        return trace

    def _connect(self, args: str) -> None:
        for pattern in (_TCP4, _TCP6):
            for found in pattern.finditer(args):
                self.tcp_connects.add((found["addr"], int(found["port"])))
        for found in _UNIX.finditer(args):
            self.unix_connects.add(found["path"])

    def _write(self, call: str, args: str, cwd: str | None) -> None:
        if call in ("open", "openat") and not any(f in args for f in _WRITE_FLAGS):
            return  # a read
        result = _RESULT.search(args)
        failed = result is not None and result["ret"] == "-1"
        (self.attempts if failed else self.writes).update(_paths(args, cwd))

    def writes_under(self, *roots: str, attempts: bool = False) -> list[str]:
        paths = self.writes | self.attempts if attempts else self.writes
        return sorted(p for p in paths if any(p == r or p.startswith(r.rstrip("/") + "/") for r in roots))

    def connects_to_port(self, *ports: int) -> list[tuple[str, int]]:
        return sorted(c for c in self.tcp_connects if c[1] in ports)


def _whole_calls(lines: list[str]) -> list[str]:
    """Each call on one line: a call another process interrupted (``… <unfinished ...>``) is joined
    with its ``<... call resumed>`` second half, which carries the result."""
    pending: dict[str, str] = {}
    whole = []
    for line in lines:
        if line.endswith(_UNFINISHED):
            pid = line.split(maxsplit=1)[0]
            pending[pid] = line[: -len(_UNFINISHED)].rstrip()
        elif (resumed := _RESUMED.match(line)) is not None:
            first = pending.pop(resumed["pid"], None)
            if first is not None:
                whole.append(first + resumed["args"])
        else:
            whole.append(line)
    return whole


def _inherit(cwd: dict[str, str], parent: str, args: str) -> None:
    """A forked process starts in its parent's working folder."""
    result = _RESULT.search(args)
    if result and int(result["ret"]) > 0 and parent in cwd:
        cwd[result["ret"]] = cwd[parent]


def _paths(args: str, cwd: str | None) -> list[str]:
    """The absolute paths a call's arguments name: ``dirfd<dir>, "relative"`` pairs joined, absolute
    strings as they are, other relative ones against ``cwd``."""
    parts = _split(args)
    paths = []
    directory: str | None = None
    for part in parts:
        dir_match = _DIR.match(part.strip())
        if dir_match:
            directory = dir_match["dir"]
            continue
        string = _STRING.fullmatch(part.strip())
        if string:
            name = string.group(1)
            if name.startswith("/"):
                paths.append(name)
            elif (folder := directory or cwd) is not None:
                paths.append(f"{folder.rstrip('/')}/{name}" if name else folder)
            else:
                paths.append(f"?/{name}")
            directory = None
    return paths


def _split(args: str) -> list[str]:
    """Top-level comma-separated arguments (strings may hold commas)."""
    parts, current, quoted, escaped = [], [], False, False
    for char in args:
        if quoted:
            current.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
            continue
        if char == '"':
            quoted = True
            current.append(char)
        elif char == ",":
            parts.append("".join(current))
            current = []
        elif char == ")":
            break
        else:
            current.append(char)
    parts.append("".join(current))
    return parts
