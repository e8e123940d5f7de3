"""The worker is killed (SIGKILL) at many points of a run while readers poll the weights.

``plusalpha worker --once`` runs on a small data directory (37 monthly rebalances of each of the
nine models: a run takes seconds) against the PostgreSQL ledger and a private Redis. The test
watches the ledger and the cache and kills the worker when they reach each state of
:data:`KILL_POINTS` (a model's versions being written, committed but not all published, ...);
each run goes on from what the killed one left, and a last run goes to its end. Meanwhile
clients read weights through a real gunicorn.

What must hold: readers only ever see complete versions (a body whose hash is its weights' and
the ledger's for that version), and only the one in force on the day they ask for (a model's
months are committed at once, so from then on the answer is known); the last run completes; the
ledger holds each month of each model once; the cache serves every version and, as the latest,
the ledger's.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import NamedTuple

import pytest
import requests
from sqlalchemy import create_engine, make_url, text

from service.cache import versions
from service.cache.keys import versions_key
from service.engine.backtest import rebalance_dates
from service.engine.data import load_data
from service.engine.models import MODELS
from service.ledger.database import driver_url
from service.worker.handles import PERFORMANCE_DOCUMENT
from tests.api.test_server import hash_of
from tests.live import serve

from .conftest import TIMEOUT, Traffic, bearer, plusalpha, seed_service

MONTHS = 37
"""Rebalances of each model in the small data (December 2015 to December 2018)."""
TOTAL = MONTHS * len(MODELS)
WORKER = "plusalpha-worker"
"""The worker's application_name on PostgreSQL, to tell its transactions from the server's."""
READ = {"agg-plus-baseline": None, "active-ig-benchmark": "2017-06-15", "hy-plus-aggressive": None}
"""The models the clients read, and the day each asks for (None: today)."""
POLL_SECONDS = 0.002
"""The pause between two looks at the worker's progress, leaving it the CPU."""
RUN_TIMEOUT = 300
"""Seconds a worker run may take before the test gives up (a guard, not a measurement)."""


class State(NamedTuple):
    """What the worker has done so far, as the ledger and the cache show it."""

    definitions: int
    ledger: int
    """Versions committed to the ledger, every model together."""
    writing: bool
    """The worker has a transaction open that has written (or locked) rows."""
    cached: int
    """Versions published to the cache, every model together."""


KILL_POINTS: dict[str, Callable[[State], bool]] = {
    "the definitions recorded": lambda s: s.definitions > 0,
    "the first model's versions being written": lambda s: s.writing,
    "the first model's versions committed, a few published": lambda s: s.cached >= 5,
    "a model being written, two done": lambda s: s.writing and s.ledger >= 2 * MONTHS,
    "a model half published, three done": lambda s: s.cached >= 3 * MONTHS + MONTHS // 2,
    "a model being written, five done": lambda s: s.writing and s.ledger >= 5 * MONTHS,
    "a model half published, six done": lambda s: s.cached >= 6 * MONTHS + MONTHS // 2,
    "a model half published, seven done": lambda s: s.cached >= 7 * MONTHS + MONTHS // 2,
}
"""Each run is killed once its state (from what earlier runs left) satisfies its point. Each
point needs progress over the one before, and holds from then to the end of the run or, for a
transaction, recurs with every model left: no point is missed for want of a look at the right
moment."""

STATE_SQL = text(
    """
    SELECT (SELECT count(*) FROM model_definitions),
           (SELECT count(*) FROM rebalances),
           EXISTS (SELECT 1 FROM pg_stat_activity
                   WHERE application_name = :worker AND backend_xid IS NOT NULL)
    """
)


@pytest.fixture
def service(environ, small_data_dir, database_url):
    """gunicorn on the small data, a reader's key; the worker's environment."""
    environ = {**environ, "PLUSALPHA_DATA_DIR": small_data_dir}
    secrets = seed_service(environ, {"reader": ["models:read", "performance:read"]}, False)
    worker_url = make_url(database_url).update_query_dict({"application_name": WORKER})
    worker = {**environ, "DATABASE_URL": worker_url.render_as_string(hide_password=False)}
    with serve(environ) as base:
        yield base, bearer(secrets["reader"]), worker


def state(ledger, cache) -> State:
    with ledger.connect() as connection:
        definitions, rows, writing = connection.execute(STATE_SQL, {"worker": WORKER}).one()
    pipe = cache.pipeline(transaction=False)
    for model_id in MODELS:
        pipe.zcard(versions_key(model_id))
    return State(definitions, rows, writing, sum(pipe.execute()))


def run_until(worker_env, ledger, cache, point: Callable[[State], bool] | None) -> int:
    """Run ``plusalpha worker --once``, SIGKILLed as soon as ``point`` holds; its exit status."""
    process = plusalpha(["worker", "--once"], worker_env, stdout=subprocess.DEVNULL)
    try:
        while process.poll() is None:
            if point is not None and point(state(ledger, cache)):
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(POLL_SECONDS)
        return process.wait(RUN_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_readers_see_whole_versions_and_a_rerun_completes_without_duplicates(
    service, database_url, private_redis, small_data_dir
):
    base, headers, worker_env = service
    url = f"{base}/v1/models/{{}}/weights"
    clients = {
        model_id: lambda http, m=model_id, on=on: http.get(
            url.format(m), params={"as_of": on} if on else {}, headers=headers, timeout=TIMEOUT
        )
        for model_id, on in READ.items()
    }
    ledger = create_engine(driver_url(database_url))
    cache = private_redis.client()
    try:
        with Traffic(clients) as traffic:
            killed = {}
            for name, point in KILL_POINTS.items():
                killed[name] = run_until(worker_env, ledger, cache, point)
                traffic.phase(name, 1)
            assert run_until(worker_env, ledger, cache, None) == 0
            traffic.phase("done", 1)
        held = ledger_versions(ledger)
        final = state(ledger, cache)
    finally:
        ledger.dispose()
        cache.close()

    # Readers saw nothing but whole versions, each the ledger's version in force that day.
    seen = Counter()
    for answer in traffic.answers:
        assert answer.status in (200, 404), answer  # 404: no version of the model yet
        if answer.status == 200:
            document = answer.json()
            assert document["hash"] == hash_of(document["weights"]), answer
            model_id, on = answer.client, READ[answer.client]
            assert document["version"] == in_force(held, model_id, on), answer
            assert held[model_id, document["version"]].hash == document["hash"]
            seen[model_id] += 1
    assert set(seen) == set(READ), "a reader never saw a version"

    # Each month of each model once; every version in the cache; the latest served.
    months = {day.date().isoformat() for day in rebalance_dates(load_data(small_data_dir).prices)}
    assert len(months) == MONTHS
    assert final == State(len(MODELS), TOTAL, False, TOTAL)
    for model_id in MODELS:
        rows = sorted((v, row.as_of) for (m, v), row in held.items() if m == model_id)
        assert [v for v, _ in rows] == list(range(1, MONTHS + 1)), model_id
        assert {as_of for _, as_of in rows} == months, model_id
        with private_redis.client() as client:
            assert versions(client, model_id, limit=1000) == list(range(MONTHS, 0, -1))
        latest = requests.get(url.format(model_id), headers=headers, timeout=TIMEOUT).json()
        assert (latest["version"], latest["hash"]) == (MONTHS, held[model_id, MONTHS].hash)
    table = requests.get(f"{base}/v1/{PERFORMANCE_DOCUMENT}", headers=headers, timeout=TIMEOUT)
    assert table.status_code == 200
    assert {row["model_id"] for row in table.json()["rows"]} >= set(MODELS)

    # And the test did kill the worker at each of its points (not after a run had finished).
    assert killed == {name: -signal.SIGKILL for name in KILL_POINTS}


class Row(NamedTuple):
    as_of: str
    effective_date: str
    hash: str


def ledger_versions(ledger) -> dict[tuple[str, int], Row]:
    """Every version of the ledger by ``(model_id, version)``."""
    query = text("SELECT model_id, version, as_of, effective_date, content_hash FROM rebalances")
    with ledger.connect() as connection:
        rows = connection.execute(query).all()
    return {
        (m, v): Row(as_of.isoformat(), effective.isoformat(), digest)
        for m, v, as_of, effective, digest in rows
    }


def in_force(held: dict[tuple[str, int], Row], model_id: str, on: str | None) -> int:
    """The ledger's version of the model in force on ``on`` (today when None)."""
    day = on or date.today().isoformat()
    return max(v for (m, v), row in held.items() if m == model_id and row.effective_date <= day)
