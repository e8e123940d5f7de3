"""The processes of one service on this machine, found by the var dir they were started with."""

from __future__ import annotations

import os
from pathlib import Path


def processes_of(var_dir: str | os.PathLike) -> dict[int, str]:
    """The live processes started with ``PLUSALPHA_VAR_DIR=var_dir``, or serving its embedded
    Redis: pid -> command line."""
    var_dir = str(Path(var_dir).resolve())
    marker = f"PLUSALPHA_VAR_DIR={var_dir}".encode()
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            args = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # ended meanwhile, or not ours to read
            continue
        if state != "Z" and (marker in environ or var_dir in args):
            found[int(proc.name)] = args
    return found


def embedded_redis_servers(var_dir: str | os.PathLike) -> list[str]:
    """The command lines of the live redis-server processes of ``var_dir``."""
    return [args for args in processes_of(var_dir).values() if "redis-server" in args]
