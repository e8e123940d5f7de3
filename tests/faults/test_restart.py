"""Every push answered 201 survives a restart of every process.

The service runs as in production: gunicorn, the RQ worker (``plusalpha worker``, with its
scheduler), Redis (private, keeping nothing on disk) and the ledger on PostgreSQL, with the small
data of the worker tests. Once the worker has recorded and published the data's months, clients
push versions of three models through the API, each with its own ``Idempotency-Key``, and go on
pushing while every process stops: Redis and the worker are killed (SIGKILL: Redis comes back
empty), gunicorn is stopped. Everything starts again (gunicorn on another port, which the
clients follow) and the clients push a few more times.

What must hold, as a platform would check it: every version answered 201 is served by the API
with its weights and hash, and the latest as today's weights; a push that got no answer, retried
with its ``Idempotency-Key``, is recorded once; a retry of one that was answered replays that
answer; the ledger holds each push once; the restarted worker has published every version
again.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress

import requests
from sqlalchemy import create_engine, text

from service.cache import get_document, versions
from service.engine.models import MODELS
from service.ledger.database import driver_url
from service.worker.handles import PERFORMANCE_DOCUMENT
from tests.live import serve

from .conftest import (
    TIMEOUT,
    Answer,
    Pusher,
    Traffic,
    bearer,
    plusalpha,
    seed_service,
    wait_for,
)

PUSHED = {"agg-plus-baseline": 0.2, "agg-plus-ig": 0.4, "hy-plus-baseline": 0.6}
"""The models pushed to, and the first AGG weight of each one's pushes."""
ROUNDS = 3
MONTHS = 37
"""The versions the worker records of each model from the small data."""
WORKER_TIMEOUT = 300
"""Seconds the worker may take to publish its first run (a guard, not a measurement)."""


@contextmanager
def rq_worker(environ) -> Iterator[subprocess.Popen]:
    """``plusalpha worker`` (RQ, with its scheduler) until the block ends, then SIGKILLed with
    every process it started."""
    process = plusalpha(["worker"], environ, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        yield process
    finally:
        with suppress(ProcessLookupError):  # killed already
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until_published(process, private_redis) -> None:
    """Wait until the worker's run is done: its last step publishes the performance table."""

    def published() -> bool:
        assert process.poll() is None, "the worker stopped"
        return get_document(client, PERFORMANCE_DOCUMENT) is not None

    with private_redis.client() as client:
        wait_for(published, "the worker's run", WORKER_TIMEOUT)


def test_every_acknowledged_push_survives_a_restart_of_every_process(
    environ, small_data_dir, private_redis, database_url
):
    environ = {**environ, "PLUSALPHA_DATA_DIR": small_data_dir}
    secrets = seed_service(environ, {"pusher": ["rebalances:write", "models:read"]}, False)
    pushers = {m: Pusher("", secrets["pusher"], m, first) for m, first in PUSHED.items()}

    with ExitStack() as running:
        worker = running.enter_context(rq_worker(environ))
        wait_until_published(worker, private_redis)
        first_server = running.enter_context(ExitStack())
        base = first_server.enter_context(serve(environ))
        for pusher in pushers.values():
            pusher.base = base
        with Traffic(pushers) as traffic:
            traffic.phase("up", ROUNDS)
            private_redis.kill()
            os.killpg(worker.pid, signal.SIGKILL)
            first_server.close()  # gunicorn stops
            traffic.phase("stopped", 1)  # every client pushed to the stopped server
            private_redis.start()
            base = running.enter_context(serve(environ))
            for pusher in pushers.values():
                pusher.base = base
            worker = running.enter_context(rq_worker(environ))
            traffic.phase("restarted", ROUNDS)
        wait_until_published(worker, private_redis)
        check_every_push(base, secrets, pushers, traffic.answers, database_url)
    with private_redis.client() as client:
        cached = {model_id: versions(client, model_id, limit=1000) for model_id in MODELS}

    # The restarted worker published every version again: the cache holds them all.
    for model_id, held in cached.items():
        pushes = len(pushers[model_id].sent) if model_id in pushers else 0
        assert held == list(range(MONTHS + pushes, 0, -1)), model_id


def check_every_push(base, secrets, pushers, answers: list[Answer], database_url) -> None:
    """Each push answered 201 is served as answered, each retry of a push is answered 201 and
    the ledger holds each push once."""
    headers = bearer(secrets["pusher"])
    acknowledged = {}  # Idempotency-Key: the 201 answer
    for answer in answers:
        assert answer.status in (None, 201), answer  # None: the server was stopped
    with requests.Session() as http:
        for pusher in pushers.values():
            for key in pusher.sent:
                again = pusher(http, key)
                assert again.status_code == 201, again.text
                acknowledged[key] = again.json()
        answered = {(a.client, a.json()["version"]): a.json() for a in answers if a.status == 201}
        assert answered, "no push was answered"
        for (model_id, version), answer in answered.items():
            # The retry of an answered push replays it: the same version, nothing new.
            assert answer in acknowledged.values()
            served = http.get(
                f"{base}/v1/models/{model_id}/rebalances/{version}",
                headers=headers,
                timeout=TIMEOUT,
            )
            assert served.status_code == 200
            assert {k: served.json()[k] for k in ("hash", "weights", "effective_date")} == {
                k: answer[k] for k in ("hash", "weights", "effective_date")
            }
        for model_id, pusher in pushers.items():
            mine = [acknowledged[key] for key in pusher.sent]
            assert sorted(a["version"] for a in mine) == list(
                range(MONTHS + 1, MONTHS + 1 + len(mine))
            )
            today = http.get(
                f"{base}/v1/models/{model_id}/weights", headers=headers, timeout=TIMEOUT
            )
            latest = max(mine, key=lambda a: a["version"])
            assert (today.json()["version"], today.json()["hash"]) == (
                latest["version"],
                latest["hash"],
            )

    # The ledger holds each push once, with its idempotency record.
    ledger = create_engine(driver_url(database_url))
    try:
        with ledger.connect() as connection:
            rows = connection.execute(
                text("SELECT model_id, version, content_hash FROM rebalances WHERE source = 'push'")
            ).all()
            records = connection.execute(text("SELECT count(*) FROM idempotency_records")).scalar()
    finally:
        ledger.dispose()
    assert sorted(rows) == sorted(
        (a["model_id"], a["version"], a["hash"]) for a in acknowledged.values()
    )
    assert records == len(acknowledged)
