"""``scripts/run``: each stage said, one embedded Redis while it serves, a port already taken
refused before anything starts, and nothing left once it is stopped.

As a new user runs it: on the embedded defaults (no ``REDIS_URL``, no ``DATABASE_URL``), in a
var dir of its own and on a free port, on a data directory of a few months so that its first
run is quick. Stopped once by Ctrl-C (SIGINT to its process group, as a terminal sends it) and,
run again on the same var dir, once by ``kill -TERM`` of its process group. While it serves, a
second run on its port is refused.
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
REFUSAL_TIMEOUT = 30
"""A refused run exits at once; this only keeps a run that did not from hanging the test."""
FIRST_RUN_STAGES = [
    "scripts/run: solver ",  # compiled, or loaded from numba's cache, in so many seconds
    "scripts/run: starting the embedded Redis under ",
    "scripts/run: running the worker once: ",
    "backtesting 9 model(s) at ",
    "backtest: 100%",
    "recording the new versions in the ledger, publishing them to the cache",
    "publishing the performance of every month and the fact sheets",
    "agg-plus-baseline: ",
    "scripts/run: serving: gunicorn on http://127.0.0.1:",
]
"""What a first run on an installed clone says, in this order."""


def run_env(var_dir: Path, data_dir: Path, port: int) -> dict[str, str]:
    env = service_env(var_dir, data_dir, None)
    env["PORT"] = str(port)
    return env


def start(var_dir: Path, data_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """``scripts/run`` in a session of its own, serving; the process and its base URL."""
    port = free_port()
    env = run_env(var_dir, data_dir, port)
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
        said = log.read_text()
        where = [said.find(stage) for stage in FIRST_RUN_STAGES]
        assert -1 not in where and where == sorted(where), said[-3000:]
        assert_a_second_run_on_the_port_is_refused(tmp_path / "second", few_months_data, base)
    finally:
        stop(run, first, var_dir)
    assert processes_of(var_dir) == {}, log.read_text()[-3000:]

    first_run = log.stat().st_size
    run, base = start(var_dir, few_months_data, log)  # the same var dir: its data reused
    try:
        assert len(embedded_redis_servers(var_dir)) == 1
        second_run = log.read_bytes()[first_run:].decode()
        assert ": 0 new version(s)" in second_run and "backtesting" not in second_run
        assert not re.search(r": [1-9][0-9]* new version", second_run)
    finally:
        stop(run, second, var_dir)
    assert processes_of(var_dir) == {}, log.read_text()[-3000:]


def assert_a_second_run_on_the_port_is_refused(var_dir: Path, data_dir: Path, base: str) -> None:
    """A second ``scripts/run`` on the port of ``base`` exits 1 naming the port and ``PORT``,
    having started nothing (not even its embedded Redis, which would create its var dir)."""
    port = int(base.rsplit(":", 1)[1])
    refused = subprocess.run(
        [str(ROOT / "scripts" / "run")],
        env=run_env(var_dir, data_dir, port),
        capture_output=True,
        text=True,
        timeout=REFUSAL_TIMEOUT,
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stderr == f"scripts/run: port {port} is taken (set PORT to use another)\n"
    assert refused.stdout == ""
    assert not var_dir.exists() and processes_of(var_dir) == {}
