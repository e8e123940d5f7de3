"""Webhooks through the real processes: gunicorn, the RQ worker (``plusalpha worker``, its
dispatcher process and work horses), a private Redis and PostgreSQL, and a receiver on loopback.

Acceptance 1 of issue 14: a subscription made through the API, a push recorded, and the receiver
gets ``model.rebalanced`` signed so that ``standardwebhooks.webhooks.Webhook(secret).verify``
passes. Then the faults: the receiver answering 500 twice, down then up, hanging past the
timeout; the worker SIGKILLed mid-delivery; Redis stopped when the push is recorded, when the
worker starts, and while a delivery is in flight. In each case the event is delivered, with one
``webhook-id``, and the delivery ends ``delivered``.

The servers are started once for the module (each test has its own subscription and receiver
path): the worker first runs ``--once`` on the small data, so its monthly run at start finds
nothing due and announces nothing, and the tests begin once the worker listens for jobs (it
imports the engine and loads the solver first, seconds that grow many times on a loaded
machine: a test times its fault, not that). The retry schedule is shrunk to a second a retry and the
timeout to 2 s (``PLUSALPHA_WEBHOOK_RETRY_SCHEDULE``, ``PLUSALPHA_WEBHOOK_TIMEOUT``); http on
127.0.0.1 is allowed by ``PLUSALPHA_WEBHOOK_ALLOW_PRIVATE=true``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from contextlib import suppress
from pathlib import Path

import pytest
import requests
import rq

from tests.live import free_port, serve
from tests.processes import processes_of
from tests.receiver import HANG, receiving

from .conftest import (
    TIMEOUT,
    RedisServer,
    bearer,
    plusalpha,
    seed_service,
    wait_for,
)

MODEL = "agg-plus-baseline"
DELIVERY_TIMEOUT = 90
"""Seconds a test waits for a webhook (a guard against waiting for ever, not a measurement)."""
START_TIMEOUT = 120
"""Seconds a worker has to start (import the engine and the fact sheets' libraries, load the
solver): a guard against waiting for ever, not a measurement."""
FIRST_RUN_TIMEOUT = 180
"""Seconds a test waits for a webhook sent by a worker that started during the test: a worker's
first job is the monthly run, and after a Redis loss it backtests again to refill the figures
the cache lost (37 s on a machine whose two cores run ten processes); deliveries wait behind it."""
WAITING_FOR_REDIS = "redis unavailable: the worker waits for it"
"""What a worker logs when Redis does not answer as it starts."""
SETTINGS = {
    "PLUSALPHA_WEBHOOK_ALLOW_PRIVATE": "true",
    "PLUSALPHA_WEBHOOK_TIMEOUT": "2",
    "PLUSALPHA_WEBHOOK_RETRY_SCHEDULE": "0,1,1,1,1,1,1,1,1,1",
    "PLUSALPHA_WEBHOOK_POLL_SECONDS": "1",
    "PLUSALPHA_BASE_URL": "https://api.example.com",
}


class Worker:
    """``plusalpha worker`` in a process group of its own. RQ puts each work horse in a session
    of its own, so a kill finds the horses by the var dir and the command line."""

    def __init__(self, environ: dict, log) -> None:
        self.environ, self.log = environ, log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = plusalpha(
            ["worker"], self.environ, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL the worker and every work horse it forked."""
        horses = [
            pid
            for pid, args in processes_of(self.environ["PLUSALPHA_VAR_DIR"]).items()
            if "plusalpha worker" in args and pid != self.process.pid
        ]
        os.killpg(self.process.pid, signal.SIGKILL)
        for pid in horses:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()

    def listening(self, redis: RedisServer) -> None:
        """Return once this worker's RQ worker is registered in Redis, waiting for jobs: a test
        then times what it does, not how long the worker took to start."""

        def registered() -> bool:
            assert self.process.poll() is None, f"the worker exited: {self.log_text()[-2000:]}"
            with redis.client() as client:
                return any(w.pid == self.process.pid for w in rq.Worker.all(connection=client))

        wait_for(registered, "the worker's start", START_TIMEOUT)

    def log_text(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


class Service:
    def __init__(self, base: str, key: dict, redis: RedisServer, worker: Worker, receiver):
        self.base, self.key, self.redis, self.worker = base, key, redis, worker
        self.receiver = receiver

    def subscribe(self, path: str, url: str | None = None) -> dict:
        body = {
            "url": url or self.receiver.url(path),
            "events": ["model.rebalanced"],
            "models": [MODEL],
        }
        response = requests.post(
            f"{self.base}/v1/webhooks", json=body, headers=self.key, timeout=TIMEOUT
        )
        assert response.status_code == 201, response.text
        return response.json()

    def push(self, share: float) -> dict:
        body = {
            "effective_date": "2024-11-01",
            "weights": [{"ticker": "AGG", "weight": share}, {"ticker": "LQD", "weight": 1 - share}],
        }
        headers = {**self.key, "Idempotency-Key": uuid.uuid4().hex}
        url = f"{self.base}/v1/models/{MODEL}/rebalances"
        response = requests.post(url, json=body, headers=headers, timeout=TIMEOUT)
        assert response.status_code == 201, response.text
        return response.json()

    def deliveries(self, webhook_id: str) -> list[dict]:
        url = f"{self.base}/v1/webhooks/{webhook_id}/deliveries"
        response = requests.get(url, headers=self.key, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def delivered(self, webhook_id: str) -> dict:
        """The subscription's one delivery, once it is ``delivered``."""
        wait_for(
            lambda: [d["state"] for d in self.deliveries(webhook_id)] == ["delivered"],
            "the delivery",
            DELIVERY_TIMEOUT,
        )
        (delivery,) = self.deliveries(webhook_id)
        return delivery


@pytest.fixture(scope="module")
def service(tmp_path_factory, small_data_dir, postgres_unreachable):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH: the fault tests start their own")
    if postgres_unreachable:
        pytest.skip(postgres_unreachable)
    from tests.ledger.conftest import empty_postgres_database, postgres_url

    root = tmp_path_factory.mktemp("webhooks")
    empty_postgres_database(postgres_url())
    redis = RedisServer(root / "redis")
    redis.start()
    environ = {
        "PLUSALPHA_VAR_DIR": str(root / "var"),
        "REDIS_URL": redis.url,
        "DATABASE_URL": postgres_url(),
        "PLUSALPHA_DATA_DIR": small_data_dir,
        **SETTINGS,
    }
    scopes = ["models:read", "rebalances:write", "webhooks:write"]
    secret = seed_service(environ, {"platform": scopes}, versions=False)["platform"]
    once = plusalpha(["worker", "--once"], environ, stdout=subprocess.DEVNULL)
    assert once.wait(timeout=600) == 0
    with open(root / "worker.log", "ab") as log, receiving() as receiver:
        worker = Worker(environ, log)
        worker.start()
        try:
            with serve(environ) as base:
                worker.listening(redis)
                yield Service(base, bearer(secret), redis, worker, receiver)
        finally:
            worker.stop()
            redis.kill()


def test_a_push_reaches_the_receiver_signed_through_gunicorn_and_the_worker(service):
    """Acceptance 1 of issue 14."""
    webhook = service.subscribe("/acceptance")
    pushed = service.push(0.3)
    (received,) = service.receiver.wait_for(1, "/acceptance", DELIVERY_TIMEOUT)
    (payload,) = service.receiver.verified(webhook["secret"], "/acceptance")
    assert payload["type"] == "model.rebalanced"
    assert payload["data"]["model_id"] == MODEL
    assert payload["data"]["version"] == pushed["version"]
    assert payload["data"]["content_hash"] == pushed["hash"]
    assert payload["data"]["weights_url"] == (
        f"https://api.example.com/v1/models/{MODEL}/weights?as_of=2024-11-01"
    )
    delivery = service.delivered(webhook["id"])
    assert delivery["id"] == received.webhook_id
    assert [a["status_code"] for a in delivery["attempts"]] == [200]


def test_500_twice_then_200_is_three_attempts_with_one_webhook_id(service):
    service.receiver.answers["/flaky"] = [500, 500]
    webhook = service.subscribe("/flaky")
    service.push(0.31)
    received = service.receiver.wait_for(3, "/flaky", DELIVERY_TIMEOUT)
    assert len({r.webhook_id for r in received}) == 1
    assert len(service.receiver.verified(webhook["secret"], "/flaky")) == 3
    delivery = service.delivered(webhook["id"])
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 200]


def test_a_receiver_down_then_up_gets_the_event(service):
    port = free_port()
    webhook = service.subscribe("/later", url=f"http://127.0.0.1:{port}/later")
    service.push(0.32)
    wait_for(
        lambda: any(d["attempts"] for d in service.deliveries(webhook["id"])),
        "a failed attempt",
        DELIVERY_TIMEOUT,
    )
    with receiving(port) as late:
        (received,) = late.wait_for(1, "/later", DELIVERY_TIMEOUT)
        delivery = service.delivered(webhook["id"])
    assert delivery["id"] == received.webhook_id
    assert delivery["attempts"][0]["error"].startswith("connection failed")
    assert delivery["attempts"][-1]["status_code"] == 200


def test_a_receiver_hanging_past_the_timeout_gets_it_again(service):
    service.receiver.answers["/slow"] = [HANG]
    service.receiver.hang_seconds = 6
    webhook = service.subscribe("/slow")
    service.push(0.33)
    received = service.receiver.wait_for(2, "/slow", DELIVERY_TIMEOUT)
    assert len({r.webhook_id for r in received}) == 1
    delivery = service.delivered(webhook["id"])
    assert delivery["attempts"][0]["error"] == "no answer within 2 s"


def test_the_worker_sigkilled_mid_delivery_delivers_after_its_restart(service):
    service.receiver.answers["/killed"] = [HANG]
    service.receiver.hang_seconds = 30
    webhook = service.subscribe("/killed")
    service.push(0.34)
    (first,) = service.receiver.wait_for(1, "/killed", DELIVERY_TIMEOUT)
    service.worker.kill()  # the request is in flight, held by the receiver
    service.worker.start()
    service.worker.listening(service.redis)
    received = service.receiver.wait_for(2, "/killed", DELIVERY_TIMEOUT)
    assert {r.webhook_id for r in received} == {first.webhook_id}
    delivery = service.delivered(webhook["id"])
    assert [a["status_code"] for a in delivery["attempts"]] == [200]  # the killed one left none


def test_a_push_recorded_while_redis_is_stopped_is_announced_once_it_is_back(service):
    webhook = service.subscribe("/no-redis")
    service.redis.kill()
    try:
        pushed = service.push(0.35)
        time.sleep(2)  # the dispatcher looks at least once while Redis is down
    finally:
        service.redis.start()
    (received,) = service.receiver.wait_for(1, "/no-redis", DELIVERY_TIMEOUT)
    (payload,) = service.receiver.verified(webhook["secret"], "/no-redis")
    assert payload["data"]["version"] == pushed["version"]
    assert service.delivered(webhook["id"])["id"] == received.webhook_id


def test_a_worker_started_while_redis_is_down_delivers_once_it_is_back(service):
    """RQ's worker raises when Redis is down as it starts: ``plusalpha worker`` waits for Redis
    instead of exiting (and its dispatcher with it), leaving the outbox undelivered."""
    webhook = service.subscribe("/started-without-redis")
    service.worker.kill()
    service.redis.kill()
    try:
        pushed = service.push(0.36)
        waits = service.worker.log_text().count(WAITING_FOR_REDIS)
        service.worker.start()
        wait_for(
            lambda: (
                service.worker.process.poll() is not None
                or service.worker.log_text().count(WAITING_FOR_REDIS) > waits
            ),
            "the worker's start",
            START_TIMEOUT,
        )
        assert service.worker.process.poll() is None, service.worker.log_text()[-2000:]
    finally:
        service.redis.start()
    (received,) = service.receiver.wait_for(1, "/started-without-redis", FIRST_RUN_TIMEOUT)
    (payload,) = service.receiver.verified(webhook["secret"], "/started-without-redis")
    assert payload["data"]["version"] == pushed["version"]
    assert service.delivered(webhook["id"])["id"] == received.webhook_id
    assert service.worker.log_text().count(WAITING_FOR_REDIS) == waits + 1


def test_redis_stopped_during_a_delivery_leaves_the_worker_delivering_once_it_is_back(service):
    """Redis killed while a job sends: RQ's worker quits at its next word to Redis, after the
    job; ``plusalpha worker`` starts another once Redis is back, which sends the retry."""
    service.receiver.answers["/redis-lost-mid-job"] = [HANG]
    service.receiver.hang_seconds = 4
    webhook = service.subscribe("/redis-lost-mid-job")
    service.push(0.37)
    (first,) = service.receiver.wait_for(1, "/redis-lost-mid-job", DELIVERY_TIMEOUT)
    service.redis.kill()  # the request is in flight, held past the timeout by the receiver
    try:
        wait_for(
            lambda: any(d["attempts"] for d in service.deliveries(webhook["id"])),
            "the timed-out attempt recorded",
            DELIVERY_TIMEOUT,
        )
    finally:
        service.redis.start()
    received = service.receiver.wait_for(2, "/redis-lost-mid-job", DELIVERY_TIMEOUT)
    assert {r.webhook_id for r in received} == {first.webhook_id}
    delivery = service.delivered(webhook["id"])
    assert [a["status_code"] for a in delivery["attempts"]] == [None, 200]
    assert service.worker.process.poll() is None
