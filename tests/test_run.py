"""``scripts/run``: one embedded Redis while it serves, and nothing left once it is stopped.

As a new user runs it: on the embedded defaults (no ``REDIS_URL``, no ``DATABASE_URL``), in a
var dir of its own and on a free port, on a data directory of a few months so that its first
run is quick. Stopped once by Ctrl-C (SIGINT to its process group, as a terminal sends it) and,
run again on the same var dir, once by ``kill -TERM`` of its process group.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.live import free_port
from tests.processes import embedded_redis_servers, processes_of
from tests.worker.test_scheduler import few_months_data, service_env

__all__ = ["few_months_data"]  # a fixture of tests/worker, used here

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 240
STOP_TIMEOUT = 60


def start(var_dir: Path, data_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """``scripts/run`` in a session of its own, serving; the process and its base URL."""
    port = free_port()
    env = service_env(var_dir, data_dir, None)
    env["PORT"] = str(port)
    with open(log, "ab") as out:
        run = subprocess.Popen(
            [str(ROOT / "scripts" / "run")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(run, base, log)
    except BaseException:
        stop(run, signal.SIGTERM, var_dir)  # a failed start leaves nothing running either
        raise
    return run, base


def wait_until_serving(run: subprocess.Popen, base: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        assert run.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "scripts/run did not serve in time"
        try:
            if requests.get(f"{base}/v1/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or a worker still booting
            pass
        time.sleep(0.5)


def stop(run: subprocess.Popen, signum: int, var_dir: Path) -> None:
    """Signal the process group of ``run`` and wait until it and every child have ended."""
    os.killpg(run.pid, signum)
    run.wait(timeout=STOP_TIMEOUT)
    deadline = time.monotonic() + STOP_TIMEOUT
    while processes_of(var_dir) and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.mark.parametrize("first, second", [(signal.SIGINT, signal.SIGTERM)])
def test_run_serves_on_one_embedded_redis_and_leaves_nothing(
    tmp_path, few_months_data, first, second
):
    var_dir = tmp_path / "var"
    log = tmp_path / "run.log"
    run, base = start(var_dir, few_months_data, log)
    try:
        assert len(embedded_redis_servers(var_dir)) == 1
        key = (var_dir / "demo-key").read_text().strip()
        models = requests.get(f"{base}/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert models.status_code == 200 and models.json()["data"]
    finally:
        stop(run, first, var_dir)
    assert processes_of(var_dir) == {}, log.read_text()[-3000:]

    first_run = log.stat().st_size
    run, base = start(var_dir, few_months_data, log)  # the same var dir: its data reused
    try:
        assert len(embedded_redis_servers(var_dir)) == 1
        second_run = log.read_bytes()[first_run:].decode()
        assert ": 0 new version(s)" in second_run
        assert not re.search(r": [1-9][0-9]* new version", second_run)
    finally:
        stop(run, second, var_dir)
    assert processes_of(var_dir) == {}, log.read_text()[-3000:]
