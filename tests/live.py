"""A real gunicorn server of the app, for tests that talk HTTP to it.

``serve(env)`` starts ``gunicorn 'service.app:create_app()'`` on a free loopback port with the
process environment plus ``env`` (the app reads its settings from there, as in production),
waits until ``/v1/health`` answers, yields the base URL and stops the server afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
import requests

from service.config import VARIABLES

START_TIMEOUT = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(env: Mapping[str, str], workers: int = 2) -> Iterator[str]:
    """A gunicorn server with the app's variables taken from ``env`` only; its base URL."""
    port = free_port()
    environ = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    environ.update(env)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "--config", "python:service.api.gunicorn_conf"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    # The log goes to a file, not a pipe: nobody reads a pipe while the server runs, and a full
    # one would stall the server at its next log line (an outage logs one a request).
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [*command, "service.app:create_app()"],
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(base, process, log)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=10)


def wait_until_healthy(base: str, process: subprocess.Popen, log: IO[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if requests.get(f"{base}/v1/health", timeout=5).ok:
                return
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    process.wait(timeout=10)
    log.seek(0)
    pytest.fail(f"gunicorn did not start: {log.read().decode()[-2000:]}")
