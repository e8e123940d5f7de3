"""Redis stops while requests flow, then comes back empty (a lost cache), with no restart.

A real gunicorn serves clients all along: the ledger on PostgreSQL, the cache on a private Redis
the test kills (SIGKILL) once every client has been answered a few times, and starts again a few
calls later. What the clients must see:

* reads of weights, models and versions go on from the ledger, naming the right version;
* what has nothing behind it in the ledger (performance figures, jobs) answers 503 with
  ``Retry-After``, and nothing answers 500;
* pushes are recorded all along, and each is served afterwards;
* once Redis is back the service uses it again without a restart: the cache fills up again.
"""

from __future__ import annotations

import pytest
import requests

from service.cache import versions
from service.cache.keys import api_key_key
from service.engine.backtest import run_backtests
from service.ledger import secret_hash
from service.worker.jobs import publish_performance
from tests.live import serve
from tests.worker.test_jobs import through_as_of

from .conftest import (
    TIMEOUT,
    Pusher,
    Traffic,
    assert_no_server_error,
    assert_seeded_weights,
    assert_unavailable,
    bearer,
    listed_versions,
    seed_service,
    sent_weights,
    wait_for,
)

READ = "agg-plus-baseline"
"""Three seeded versions; read all along, never written."""
PUSHED = "hy-plus-aggressive"
"""No seeded version; every push goes here."""
PERFORMANCE = "hy-plus-baseline"
"""The model whose performance document the cache holds before the fault."""
KEYS = {
    "reader": ["models:read", "performance:read", "trades:write"],
    "pusher": ["rebalances:write", "models:read"],
}
ROUNDS = 3
PHASES = ("up", "down", "back")


@pytest.fixture
def service(environ, private_redis, small_sample):
    secrets = seed_service(environ, KEYS)
    data = through_as_of(small_sample)
    with private_redis.client() as client:
        publish_performance(client, data, run_backtests(data, [PERFORMANCE]))
    with serve(environ) as base:
        yield base, secrets


@pytest.mark.parametrize("fault", ["killed", "frozen"])
def test_reads_go_on_from_the_ledger_and_the_service_recovers(service, private_redis, fault):
    """``killed``: Redis dies (SIGKILL) and comes back empty; ``frozen``: it stops answering
    (SIGSTOP), connections and data kept, and comes back as it was (SIGCONT)."""
    base, secrets = service
    reader = bearer(secrets["reader"])

    def get(path: str):
        return lambda http: http.get(base + path, headers=reader, timeout=TIMEOUT)

    pusher = Pusher(base, secrets["pusher"], PUSHED)
    clients = {
        "weights": get(f"/v1/models/{READ}/weights"),
        "weights as of": get(f"/v1/models/{READ}/weights?as_of=2024-08-15"),
        "weights csv": get(f"/v1/models/{READ}/weights?format=csv"),
        "model": get(f"/v1/models/{READ}"),
        "versions": get(f"/v1/models/{READ}/rebalances"),
        "performance": get(f"/v1/models/{PERFORMANCE}/performance"),
        "job": get("/v1/jobs/no-such-job"),
        "health": lambda http: http.get(f"{base}/v1/health", timeout=TIMEOUT),
        "push": pusher,
    }
    stop, resume = {
        "killed": (private_redis.kill, private_redis.start),
        "frozen": (private_redis.freeze, private_redis.thaw),
    }[fault]
    with Traffic(clients) as traffic:
        traffic.phase("up", ROUNDS)
        stop()
        traffic.phase("down", ROUNDS)
        resume()
        traffic.phase("back", ROUNDS)

    assert_no_server_error(traffic.answers)
    assert_seeded_weights(traffic, READ, PHASES)
    for phase in PHASES:
        for client in ("model", "versions"):
            assert {a.status for a in traffic.of(client, phase)} == {200}
        assert {a.json()["latest_version"] for a in traffic.of("model", phase)} == {3}

    csv_bodies = {a.body for phase in PHASES for a in traffic.of("weights csv", phase)}
    assert len(csv_bodies) == 1, "the ledger served another body than the cache"
    assert b"SHY" in csv_bodies.pop()

    # No ledger behind them: 503 while Redis is down (and the performance document, which only
    # the worker computes, is lost with a killed cache until its next run).
    performance = ["up"] if fault == "killed" else ["up", "back"]
    assert {a.status for phase in performance for a in traffic.of("performance", phase)} == {200}
    for phase in {"down", "back"} - set(performance):
        for answer in traffic.of("performance", phase):
            assert_unavailable(answer)
    assert {a.status for a in traffic.of("job", "up") + traffic.of("job", "back")} == {404}
    for answer in traffic.of("job", "down"):
        assert_unavailable(answer)

    health = (("up", "ok", 200), ("down", "down", 503), ("back", "ok", 200))
    for phase, redis_state, status in health:
        for answer in traffic.of("health", phase):
            assert answer.status == status, answer
            assert answer.json() == {
                "status": "ok" if status == 200 else "degraded",
                "redis": redis_state,
                "ledger": "ok",
            }
            if status == 503:
                assert int(answer.headers["Retry-After"]) > 0

    # Every push was recorded, once, and the last is the one served.
    pushes = [a for a in traffic.answers if a.client == "push"]
    assert {a.status for a in pushes} == {201}
    pushed = {a.json()["version"]: a.json() for a in pushes}
    assert sorted(pushed) == list(range(1, len(pushes) + 1))
    bodies = list(pusher.sent.values())
    for version, answer in pushed.items():
        assert answer["weights"] == pytest.approx(sent_weights(bodies[version - 1]))
    listed = listed_versions(base, reader, PUSHED)
    assert {v: r["hash"] for v, r in listed.items()} == {v: a["hash"] for v, a in pushed.items()}
    latest = requests.get(f"{base}/v1/models/{PUSHED}/weights", headers=reader, timeout=TIMEOUT)
    assert latest.json()["version"] == len(pushes)

    # Redis is in use again: the reads since it came back filled it, and the versions pushed
    # while it was down reach it (a killed Redis lost those pushed before).
    with private_redis.client() as client:
        assert versions(client, READ, limit=10) == [3, 2, 1]
        assert client.exists(api_key_key(secret_hash(secrets["reader"])))
        since = {a.json()["version"] for a in pushes if a.answered != "up"}
        wait_for(
            lambda: set(versions(client, PUSHED, limit=1000)) >= since,
            "publishing the versions pushed while Redis was down",
        )
        if fault == "frozen":
            assert versions(client, PUSHED, limit=1000) == sorted(pushed, reverse=True)
