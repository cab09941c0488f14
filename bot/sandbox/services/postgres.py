"""A throwaway PostgreSQL server, for the sandbox's demo database and the tests' fixtures.

``PostgresServer`` runs ``initdb`` and ``pg_ctl`` in a folder of its own (a new temporary folder
inside ``parent``): it listens on 127.0.0.1 only, on a free port, with its unix socket in that
folder, trust authentication and ``fsync=off``. ``initdb`` refuses to run as root, so as root the
server runs as the ``postgres`` system user (the folder is handed over to it; when that user
cannot reach ``parent``, the folder goes to /tmp instead).

    server = PostgresServer().start()
    url = server.create_database("things")   # postgresql+psycopg://postgres@127.0.0.1:PORT/things
    server.kill()                             # SIGKILL the postmaster (crash tests)
    server.start()                            # crash recovery on the same data and port
    server.stop()                             # fast shutdown, folder removed
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from bot.sandbox.services.process import HOST, ServiceError, free_port

SUPERUSER = "postgres"
BINDIR_GLOB = "/usr/lib/postgresql/*/bin"
_REQUIRED = ("initdb", "pg_ctl", "postgres")


class PostgresNotFound(ServiceError):
    """The PostgreSQL server binaries are not installed."""


class PostgresError(ServiceError):
    """initdb / pg_ctl failed; the message carries their output and the server log."""


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)


def find_bindir() -> Path:
    """The folder holding initdb, pg_ctl and postgres: ``pg_config --bindir``, else the newest
    ``/usr/lib/postgresql/*/bin``, else wherever ``initdb`` on PATH points."""
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(out)
    candidates += sorted(glob.glob(BINDIR_GLOB), key=_version_key, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).resolve().parent))
    for candidate in candidates:
        if all(os.access(Path(candidate, name), os.X_OK) for name in _REQUIRED):
            return Path(candidate)
    raise PostgresNotFound(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found via `pg_config --bindir`, "
        f"{BINDIR_GLOB} or PATH. Run `./dev bootstrap` to install them."
    )


def _world_searchable(path: Path) -> bool:
    """Whether another user can reach ``path`` (every ancestor has o+x)."""
    for part in [path, *path.parents]:
        try:
            if not part.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as dead)."""
    if not _pid_exists(pid):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            children.append(int(entry.name))
    return children


def _pid_exists(pid: int) -> bool:
    """True while ``pid`` exists at all, zombies included (what PostgreSQL's lock file check sees)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_until(pids: list[int], still: Callable[[int], bool], timeout: float) -> list[int]:
    """Waits until ``still(pid)`` is false for every pid; returns those for which it is not."""
    deadline = time.monotonic() + timeout
    left = [p for p in pids if still(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.01)
        left = [p for p in left if still(p)]
    return left


class PostgresServer:
    """A PostgreSQL cluster in a temporary folder (inside ``parent``, default the system's), on
    127.0.0.1 and a free port."""

    def __init__(self, *, bindir: str | os.PathLike[str] | None = None, start_timeout: float = 60,
                 parent: Path | None = None):
        self.bindir = Path(bindir) if bindir else find_bindir()
        self.start_timeout = start_timeout
        self.parent = parent
        self.port: int | None = None
        self.base_dir: Path | None = None
        self._run_as: pwd.struct_passwd | None = None
        self._atexit_registered = False

    # -- paths -------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return HOST

    @property
    def data_dir(self) -> Path:
        return self._base() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._base()

    @property
    def log_file(self) -> Path:
        return self._base() / "postgres.log"

    def _base(self) -> Path:
        if self.base_dir is None:
            raise PostgresError("the server has not been started")
        return self.base_dir

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> PostgresServer:
        """Initialise (first time) and start the server; after ``kill()`` it restarts on the same
        data and port, running crash recovery. Returns self."""
        fresh = self.base_dir is None
        if fresh:
            try:
                self._init_cluster()
            except BaseException:
                self._cleanup()
                raise
        if self.is_running():
            return self
        for attempt in range(3):
            try:
                self._pg_ctl("start", "-w", "-t", str(int(self.start_timeout)), "-l", str(self.log_file))
                break
            except PostgresError as e:
                # Someone took the free port between free_port() and start: pick another.
                if not fresh or attempt == 2 or "already in use" not in str(e):
                    if fresh:
                        self._cleanup()
                    raise
                self.port = free_port()
                self._configure(port=str(self.port))
        if not self._atexit_registered:
            atexit.register(self._atexit)
            self._atexit_registered = True
        return self

    def stop(self) -> None:
        """Fast shutdown, then remove the temporary folder."""
        if self.base_dir is None:
            return
        try:
            if self.is_running():
                self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60")
        finally:
            self._cleanup()

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would. Its backends exit when they notice (they are
        SIGKILLed too if they linger). The data stay: ``start()`` runs crash recovery."""
        pid = self.postmaster_pid()
        if pid is None or not _pid_alive(pid):
            raise PostgresError("the server is not running")
        children = _children_of(pid)
        os.kill(pid, signal.SIGKILL)
        if _wait_until([pid], _pid_alive, 10):
            raise PostgresError(f"postmaster {pid} survived SIGKILL")
        for child in _wait_until(children, _pid_alive, 5):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        _wait_until(children, _pid_alive, 5)
        # The dead postmaster stays a zombie until init reaps it (here: up to ~1.5 s), and a restart
        # refuses to start while the pid in its lock files exists. Everything is dead, so the lock
        # files are stale: remove them, as an operator would after a crash. (The old shared memory
        # segment is found again from the data folder's key and recycled on start.)
        if _wait_until([pid], _pid_exists, 0.25):
            for lock in (self.data_dir / "postmaster.pid", self.socket_dir / f".s.PGSQL.{self.port}.lock"):
                with contextlib.suppress(OSError):
                    lock.unlink()

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, IndexError, ValueError, PostgresError):
            return None

    def is_running(self) -> bool:
        pid = self.postmaster_pid()
        return pid is not None and _pid_alive(pid)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases ---------------------------------------------------------------------------
    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL of ``dbname`` on this server."""
        if self.port is None:
            raise PostgresError("the server has not been started")
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """libpq connection string (for psycopg.connect)."""
        if self.port is None:
            raise PostgresError("the server has not been started")
        return f"host={HOST} port={self.port} user={SUPERUSER} dbname={dbname}"

    def create_database(self, name: str) -> str:
        """Create database ``name``; returns its SQLAlchemy URL."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, disconnecting whoever is still connected."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # -- internals ---------------------------------------------------------------------------
    def _init_cluster(self) -> None:
        self._run_as = None
        parent = self.parent or Path(tempfile.gettempdir())
        parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            try:
                self._run_as = pwd.getpwnam(SUPERUSER)
            except KeyError:
                raise PostgresNotFound(
                    "running as root but there is no `postgres` system user to run PostgreSQL as "
                    "(initdb refuses root). Run `./dev bootstrap`."
                ) from None
            if not _world_searchable(parent):
                parent = Path("/tmp")
        self.base_dir = Path(tempfile.mkdtemp(prefix="opsbot-pg-", dir=parent))
        if self._run_as is not None:
            os.chown(self.base_dir, self._run_as.pw_uid, self._run_as.pw_gid)
        self.port = free_port()
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D", str(self.data_dir),
                "-U", SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ]
        )  # fmt: skip
        settings = {
            "listen_addresses": f"'{HOST}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            # fsync=off survives a process crash (kill()): the kernel has every write. Commits stay
            # synchronous so that a commit acknowledged before kill() is there after start().
            "fsync": "off",
            "max_connections": "200",
            "logging_collector": "off",
        }
        self._configure(**settings)

    def _configure(self, **settings: str) -> None:
        # Appended lines win over earlier ones in postgresql.conf.
        conf = "\n# opsbot test server\n" + "".join(f"{k} = {v}\n" for k, v in settings.items())
        with open(self.data_dir / "postgresql.conf", "a") as f:
            f.write(conf)

    def _pg_ctl(self, *args: str) -> None:
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), *args])

    def _run(self, argv: list[str]) -> None:
        if self._run_as is not None:
            if shutil.which("runuser"):
                argv = ["runuser", "-u", SUPERUSER, "--", *argv]
            else:
                argv = [
                    "setpriv",
                    f"--reuid={self._run_as.pw_uid}",
                    f"--regid={self._run_as.pw_gid}",
                    "--init-groups",
                    "--",
                    *argv,
                ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        proc = subprocess.run(
            argv,
            cwd=self.base_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=self.start_timeout + 30,
        )
        if proc.returncode != 0:
            log = ""
            with contextlib.suppress(OSError, PostgresError):
                log = self.log_file.read_text()[-4000:]
            raise PostgresError(
                f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}"
                + (f"\n--- server log ---\n{log}" if log else "")
            )

    def _cleanup(self) -> None:
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
        self.base_dir = None
        self.port = None

    def _atexit(self) -> None:
        # Safety net for an interrupted test run: never leave a postmaster behind.
        if self.base_dir is None:
            return
        with contextlib.suppress(Exception):
            if self.is_running():
                self.kill()
        self._cleanup()

    def __repr__(self) -> str:
        state = "running" if self.base_dir and self.is_running() else "stopped"
        return f"<PostgresServer {HOST}:{self.port} {state} {self.base_dir}>"
