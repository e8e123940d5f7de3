"""``plusalpha worker`` runs jobs scheduled ahead, on the one Redis of its service.

The worker runs as production runs it, a process of its own with its scheduler (and the work
horses it forks), on the embedded defaults (no ``REDIS_URL``: the one embedded server of the
var dir) and on the machine's Redis. A job enqueued for two seconds ahead must run there, not
on some other server. The worker first runs the monthly job it schedules at start, here on a
data directory of a few months, so that it is quick.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import redis
from rq import Queue
from rq.job import JobStatus

from service.cache.embedded import socket_path, wait_for_server
from service.config import VARIABLES
from service.engine.data import MarketData, write_data
from service.engine.performance import truncate
from service.worker.handles import QUEUE
from tests.cache.conftest import redis_server_unreachable, redis_url
from tests.processes import embedded_redis_servers, processes_of

__all__ = ["redis_server_unreachable"]  # a fixture of tests/cache, used here

ROOT = Path(__file__).resolve().parents[2]
SCHEDULER_REDIS_DB = 6
"""The machine Redis's database of these tests (see tests/api/conftest.py for the others)."""
DELAY = timedelta(seconds=2)
RUN_TIMEOUT = 120


@pytest.fixture(scope="session")
def few_months_data(small_sample, tmp_path_factory) -> Path:
    """A data directory of the real-ticker sample through March 2016: three rebalances."""
    data = truncate(small_sample, pd.Period("2016-03", "M"))
    keep = data.prices.columns[data.prices.notna().any()]
    root = tmp_path_factory.mktemp("few-months")
    write_data(MarketData(data.securities.loc[keep], data.prices[keep], data.metadata), root)
    return root


def service_env(var_dir: Path, data_dir: Path, redis_url: str | None) -> dict[str, str]:
    """The environment of a service on ``var_dir``: its own variables only, tests importable."""
    env = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    env.update(PLUSALPHA_VAR_DIR=str(var_dir), PLUSALPHA_DATA_DIR=str(data_dir))
    env["PYTHONPATH"] = str(ROOT)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


@pytest.fixture(params=["embedded", "server"])
def worker_redis(request, tmp_path, few_months_data, redis_server_unreachable):
    """A running ``plusalpha worker`` and a client on its Redis: ``(backend, client, var_dir)``."""
    url = None
    if request.param == "server":
        if redis_server_unreachable:
            pytest.skip(redis_server_unreachable)
        url = redis_url().rsplit("/", 1)[0] + f"/{SCHEDULER_REDIS_DB}"
        redis.Redis.from_url(url).flushdb()
    var_dir = tmp_path / "var"
    plusalpha = Path(sys.executable).with_name("plusalpha")
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(
            [str(plusalpha), "worker"],
            env=service_env(var_dir, few_months_data, url),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        if url:
            client = redis.Redis.from_url(url)
        else:
            assert wait_for_server(var_dir, RUN_TIMEOUT) == 0, (tmp_path / "worker.log").read_text()
            client = redis.Redis(unix_socket_path=socket_path(var_dir))
        yield request.param, client, var_dir
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert processes_of(var_dir) == {}, "the worker left processes behind"
    if url:
        client.flushdb()


def test_a_job_scheduled_two_seconds_ahead_runs_on_the_services_redis(worker_redis):
    backend, client, var_dir = worker_redis
    token = uuid.uuid4().hex
    due = datetime.now(UTC) + DELAY
    job = Queue(QUEUE, connection=client).enqueue_at(
        due, "tests.worker.scheduled.mark", "scheduled-mark", token
    )
    assert job.get_status() == JobStatus.SCHEDULED
    deadline = time.monotonic() + RUN_TIMEOUT
    while job.get_status(refresh=True) not in (JobStatus.FINISHED, JobStatus.FAILED):
        assert time.monotonic() < deadline, f"the job is still {job.get_status()}"
        time.sleep(0.2)
    job.refresh()
    assert job.get_status() == JobStatus.FINISHED, job.exc_info
    assert client.get("scheduled-mark") == token.encode()
    assert job.started_at.replace(tzinfo=UTC) >= due - timedelta(seconds=1)
    if backend == "embedded":
        assert len(embedded_redis_servers(var_dir)) == 1


def test_a_burst_worker_runs_the_queued_jobs_then_exits(
    tmp_path, few_months_data, redis_server_unreachable
):
    """``plusalpha worker --burst`` (how a batch of variant builds can be run): the jobs queued
    before it starts run, then it exits by itself, having scheduled no monthly run."""
    if redis_server_unreachable:
        pytest.skip(redis_server_unreachable)
    url = redis_url().rsplit("/", 1)[0] + f"/{SCHEDULER_REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    queue = Queue(QUEUE, connection=client)
    token = uuid.uuid4().hex
    job = queue.enqueue("tests.worker.scheduled.mark", "burst-mark", token)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("plusalpha")), "worker", "--burst"],
        env=service_env(tmp_path / "var", few_months_data, url),
        capture_output=True,
        timeout=RUN_TIMEOUT,
    )
    try:
        assert done.returncode == 0, done.stderr.decode()
        assert job.get_status(refresh=True) == JobStatus.FINISHED, job.exc_info
        assert client.get("burst-mark") == token.encode()
        assert len(queue) == 0
        assert queue.scheduled_job_registry.get_job_ids() == []
    finally:
        client.flushdb()
