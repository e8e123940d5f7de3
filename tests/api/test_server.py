"""Every endpoint, and every way a request fails, through a real gunicorn server.

One server for the module (``tests/live.py``), configured as in production through its
environment: the ledger on the machine's PostgreSQL (``PLUSALPHA_TEST_POSTGRES_URL``, emptied
first) and the cache on a database of the machine's Redis of its own
(``PLUSALPHA_TEST_SERVER_REDIS_URL``, default database 14 of the server of
``PLUSALPHA_TEST_REDIS_URL``). The module is skipped, saying why, only when one of them cannot
be reached.

Before the server starts, the ledger gets ``SEED_VERSIONS`` and the keys below, and the cache
the performance documents of two short backtests. Tests read ``agg-plus-baseline`` (three
versions) and ``hy-plus-baseline`` (one), and never write to them: each test that adds a
version pushes to a model that no other test reads, so the tests do not depend on their order.

The assertions are what a platform integrator checks: the status, ``Content-Type``, and for a
failure the ``application/problem+json`` body naming the field at fault.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
import uuid
from decimal import Decimal
from http import HTTPStatus
from typing import NamedTuple

import pandas as pd
import pytest
import redis
import requests
from sqlalchemy import text

from schemas.models import MAX_WEIGHTS
from service.api.extensions import get_redis, get_session
from service.api.scopes import SCOPES
from service.app import create_app
from service.config import settings_from_env
from service.engine.backtest import run_backtests
from service.engine.models import PASSIVE_BENCHMARKS
from service.engine.performance import TABLE_COLUMNS, truncate
from service.ledger import create_key, make_engine
from service.worker.jobs import publish_performance

from ..live import serve
from .conftest import (
    SEED_VERSIONS,
    SERVER_REDIS_DB,
    close_app,
    emptied_services,
    flush_redis,
    machine_redis_url,
    postgres_url,
    seed,
)

REDIS_URL = machine_redis_url("PLUSALPHA_TEST_SERVER_REDIS_URL", SERVER_REDIS_DB)
PROBLEM = "application/problem+json"
TIMEOUT = 30
CHALLENGE = 'Bearer realm="plusalpha"'

READ = "agg-plus-baseline"
"""Three seeded versions, read by many tests and written by none."""
CHECKED = "hy-plus-baseline"
"""One seeded version (effective 2024-10-01); the target of pushes that must fail."""
PERFORMANCE_RUN = ("agg-plus-baseline", "hy-plus-baseline")
PERFORMANCE_AS_OF = "2018-12"

KEYS = {
    "reader": {"scopes": ["models:read"]},
    "performance": {"scopes": ["performance:read"]},
    "pusher": {"scopes": ["rebalances:write", "models:read"]},
    "admin": {"scopes": ["admin"]},
    "hy-only": {"scopes": [s for s in SCOPES if s != "admin"], "models": [CHECKED]},
    **{f"all-but-{scope}": {"scopes": [s for s in SCOPES if s != scope]} for scope in SCOPES},
    "limited": {"scopes": ["models:read"], "rate_limit": 5},
}
"""The keys the ledger starts with, by role: ``all-but-X`` holds every scope but X."""

BODY = {
    "effective_date": "2024-11-01",
    "weights": [{"ticker": "AGG", "weight": 0.6}, {"ticker": "LQD", "weight": 0.4}],
    "note": "manual override",
}
NEW_KEY = {"name": "platform", "tenant": "tenant-b", "scopes": ["models:read"], "models": [CHECKED]}


class Server(NamedTuple):
    base: str
    keys: dict[str, str]


@pytest.fixture(scope="module")
def server(tmp_path_factory, postgres_unreachable, small_sample):
    emptied_services(postgres_unreachable, REDIS_URL)
    var_dir = str(tmp_path_factory.mktemp("server"))
    environ = {"PLUSALPHA_VAR_DIR": var_dir, "REDIS_URL": REDIS_URL, "DATABASE_URL": postgres_url()}
    app = create_app(settings_from_env(environ))
    short = truncate(small_sample, pd.Period(PERFORMANCE_AS_OF, "M"))
    try:
        seed(app)
        with app.app_context():
            session = get_session()
            keys = {
                role: create_key(session, name=role, tenant="t", **fields)[1]
                for role, fields in KEYS.items()
            }
            session.commit()
            publish_performance(get_redis(), short, run_backtests(short, PERFORMANCE_RUN))
    finally:
        close_app(app)
    with serve(environ) as base:
        yield Server(base, keys)
    flush_redis(REDIS_URL)


def call(server, method, path, key="reader", headers=None, **kwargs) -> requests.Response:
    """``method path`` with the key of the role ``key`` (a raw secret if not a role; None: no
    Authorization)."""
    sent = {"Authorization": f"Bearer {server.keys.get(key, key)}"} if key else {}
    sent.update(headers or {})
    return requests.request(method, server.base + path, headers=sent, timeout=TIMEOUT, **kwargs)


def get(server, path, key="reader", **kwargs) -> requests.Response:
    return call(server, "GET", path, key, **kwargs)


def push(server, model_id, body=BODY, idempotency_key=None, key="pusher") -> requests.Response:
    """POST a version; a fresh Idempotency-Key unless one is given ("" sends none)."""
    headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
    if idempotency_key == "":
        headers = {}
    path = f"/v1/models/{model_id}/rebalances"
    if isinstance(body, str):
        headers["Content-Type"] = "application/json"
        return call(server, "POST", path, key, headers=headers, data=body)
    return call(server, "POST", path, key, headers=headers, json=body)


def versions(server, model_id) -> list[int]:
    """The model's versions, newest first (at most 100)."""
    response = get(server, f"/v1/models/{model_id}/rebalances?limit=100")
    assert response.status_code == 200
    return [r["version"] for r in response.json()["data"]]


def assert_problem(response, status, fields=None) -> dict:
    """A problem+json answer of ``status``, naming ``fields`` ([(field, in)]) when given."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "about:blank"
    assert problem["title"] == HTTPStatus(status).phrase
    assert problem["status"] == status
    assert problem["detail"]
    if fields is not None:
        assert [(e["field"], e["in"]) for e in problem["errors"]] == fields
    return problem


def hash_of(weights: list[dict]) -> str:
    """The published hash: sha256 of the compact JSON of [ticker, weight] pairs by ticker."""
    pairs = sorted([w["ticker"], w["weight"]] for w in weights)
    return hashlib.sha256(json.dumps(pairs, separators=(",", ":")).encode()).hexdigest()


def by_ticker(weights: list[dict]) -> dict[str, float]:
    return {w["ticker"]: w["weight"] for w in weights}


def holding(*pairs) -> dict:
    """BODY with the weights ``(ticker, weight), ...``."""
    return {**BODY, "weights": [{"ticker": t, "weight": w} for t, w in pairs]}


def raw(weight: str) -> str:
    """A body whose first weight is ``weight`` as written (JSON cannot carry NaN otherwise)."""
    return (
        '{"effective_date": "2024-11-01", "weights": '
        f'[{{"ticker": "AGG", "weight": {weight}}}, {{"ticker": "LQD", "weight": 0.4}}]}}'
    )


# --- every endpoint ---------------------------------------------------------------------------


def test_health_needs_no_key(server):
    response = get(server, "/v1/health", key=None)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "redis": "ok", "ledger": "ok"}


def test_models_lists_the_licensed_ones(server):
    everything = get(server, "/v1/models").json()
    latest = {m["id"]: m["latest_version"] for m in everything["data"]}
    assert latest[READ] == 3
    assert latest[CHECKED] == 1
    assert everything["next_cursor"] is None
    licensed = get(server, "/v1/models", key="hy-only").json()
    assert [m["id"] for m in licensed["data"]] == [CHECKED]


def test_model_definition(server):
    response = get(server, f"/v1/models/{READ}")
    assert response.status_code == 200
    model = response.json()
    assert (model["id"], model["benchmark"], model["latest_version"]) == (READ, "AGG", 3)
    assert model["universe"]["min_aum"] > 0


FORMATS = {
    # name: (the media type that asks for it in Accept, the Content-Type it is served with)
    "json": ("application/json", "application/json"),
    "csv": ("text/csv", "text/csv"),
    "irebal": ("application/vnd.plusalpha.irebal+csv", "text/csv"),
    "orion": ("application/vnd.plusalpha.orion+json", "application/json"),
}
SHY_LQD_AGG = ("AGG", "LQD", "SHY")


@pytest.mark.parametrize("fmt", FORMATS)
def test_weights_in_every_format_by_parameter_and_by_accept(server, fmt):
    accept, served = FORMATS[fmt]
    url = f"/v1/models/{READ}/weights"
    by_parameter = get(server, f"{url}?format={fmt}")
    by_accept = get(server, url, headers={"Accept": accept})
    for response in (by_parameter, by_accept):
        assert response.status_code == 200
        assert response.headers["Content-Type"].split(";")[0] == served
    assert by_accept.content == by_parameter.content
    text = by_parameter.text
    third = 1 / 3
    if fmt == "json":
        document = json.loads(text)
        assert (document["model_id"], document["version"]) == (READ, 3)
        assert by_ticker(document["weights"]) == {"AGG": third, "LQD": third, "SHY": third}
        assert document["hash"] == hash_of(document["weights"])
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert {r["ticker"]: float(r["weight"]) for r in rows} == {t: third for t in SHY_LQD_AGG}
    elif fmt == "irebal":
        lines = text.strip().splitlines()
        assert sum(Decimal(line.split(",")[1]) for line in lines[1:]) == Decimal("100.00")
        assert lines[-1].startswith("$CASH,")
    else:
        tickers = {s["ticker"] for s in json.loads(text)["securities"]}
        assert set(SHY_LQD_AGG) <= tickers


@pytest.mark.parametrize("accept", [None, "*/*", "application/*", "application/json;q=0.5"])
def test_weights_default_to_json(server, accept):
    response = get(server, f"/v1/models/{READ}/weights", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["version"] == 3


@pytest.mark.parametrize(
    ("as_of", "version"),
    [("2024-08-01", 1), ("2024-08-15", 1), ("2024-09-03", 2), ("2024-09-30", 2), ("2024-10-01", 3)],
)
def test_weights_as_of_a_past_date_are_the_version_then_in_force(server, as_of, version):
    response = get(server, f"/v1/models/{READ}/weights?as_of={as_of}")
    assert response.status_code == 200
    document = response.json()
    assert document["version"] == version
    assert by_ticker(document["weights"]) == SEED_VERSIONS[READ][version - 1][2]
    assert document["hash"] == hash_of(document["weights"])
    one = get(server, f"/v1/models/{READ}/rebalances/{version}").json()
    assert one["hash"] == document["hash"]
    assert one["effective_date"] == document["effective_date"]
    as_csv = get(server, f"/v1/models/{READ}/weights?as_of={as_of}&format=csv").text
    assert {r["ticker"] for r in csv.DictReader(io.StringIO(as_csv))} == set(one["weights"])


@pytest.mark.parametrize("limit", [1, 2, 3, 100])
def test_rebalances_page_newest_first(server, limit):
    seen, cursor, pages = [], None, 0
    while True:
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = get(server, f"/v1/models/{READ}/rebalances?{query}")
        assert response.status_code == 200
        page = response.json()
        assert 1 <= len(page["data"]) <= limit
        seen += page["data"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert [r["version"] for r in seen] == [3, 2, 1]
    assert pages == -(-3 // limit)
    for row in seen:
        one = get(server, f"/v1/models/{READ}/rebalances/{row['version']}").json()
        assert one.pop("provenance") is None  # the seeded versions are no worker's build
        assert one == row
        pairs = [{"ticker": ticker, "weight": weight} for ticker, weight in row["weights"].items()]
        assert row["hash"] == hash_of(pairs)


@pytest.mark.parametrize(
    ("query", "pair", "trades"),
    [
        ("", (2, 3), {"AGG": "sell", "LQD": "sell", "SHY": "buy", "TLT": "sell"}),
        ("?from=1&to=2", (1, 2), {"AGG": "sell", "HYG": "sell", "LQD": "buy", "TLT": "buy"}),
        ("?to=1", (None, 1), {"AGG": "buy", "HYG": "buy", "TLT": "buy"}),
    ],
)
def test_trades(server, query, pair, trades):
    response = get(server, f"/v1/models/{READ}/trades{query}")
    assert response.status_code == 200
    answer = response.json()
    assert (answer["from_version"], answer["to_version"]) == pair
    assert {t["ticker"]: t["action"] for t in answer["trades"]} == trades
    for trade in answer["trades"]:
        assert trade["change"] == pytest.approx(trade["to_weight"] - trade["from_weight"])


def test_performance_table_in_json_and_csv(server):
    response = get(server, "/v1/performance", key="performance")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    table = response.json()
    assert table["as_of"] == PERFORMANCE_AS_OF
    ids = [*PERFORMANCE_RUN, *PASSIVE_BENCHMARKS]
    assert [r["model_id"] for r in table["rows"]] == ids
    assert all(set(r) == set(TABLE_COLUMNS) for r in table["rows"])

    as_csv = get(server, "/v1/performance?format=csv", key="performance")
    assert as_csv.status_code == 200
    assert as_csv.headers["Content-Type"].split(";")[0] == "text/csv"
    reader = csv.reader(io.StringIO(as_csv.text))
    assert tuple(next(reader)) == TABLE_COLUMNS
    assert [row[0] for row in reader] == ids

    licensed = get(server, "/v1/performance", key="hy-only").json()
    assert [r["model_id"] for r in licensed["rows"]] == [CHECKED, *PASSIVE_BENCHMARKS]


def test_model_performance(server):
    response = get(server, f"/v1/models/{CHECKED}/performance", key="performance")
    assert response.status_code == 200
    answer = response.json()
    assert (answer["model_id"], answer["as_of"]) == (CHECKED, PERFORMANCE_AS_OF)
    assert set(answer["statistics"]) == set(TABLE_COLUMNS) - {"model_id", "name", "group"}
    months = [r["month"] for r in answer["returns"]]
    assert (months[0], months[-1], len(months)) == ("2016-01", PERFORMANCE_AS_OF, 36)


def test_performance_not_computed_is_503_with_retry_after(server):
    # The worker ran (here: published) only PERFORMANCE_RUN.
    response = get(server, "/v1/models/agg-plus-ig/performance", key="performance")
    assert_problem(response, 503, [])
    assert response.headers["Retry-After"] == "60"


def test_push_then_the_version_is_served(server):
    model = "hy-plus-aggressive"
    first = push(server, model, {**BODY, "effective_date": "2024-10-01", "note": None})
    assert first.status_code == 201
    weights = [
        {"ticker": "HYG", "weight": 0.6},
        {"ticker": "JNK", "weight": 0.3},
        {"ticker": "SHY", "weight": 0.1},
    ]
    response = push(server, model, {**BODY, "weights": weights})
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Location"] == f"/v1/models/{model}/rebalances/2"
    assert "Idempotent-Replayed" not in response.headers
    created = response.json()
    assert (created["model_id"], created["version"], created["source"]) == (model, 2, "push")
    assert created["as_of"] == created["effective_date"] == "2024-11-01"
    assert created["note"] == "manual override"
    assert created["weights"] == by_ticker(weights)

    assert get(server, response.headers["Location"]).json() == created
    latest = get(server, f"/v1/models/{model}/weights").json()
    assert (latest["version"], latest["hash"]) == (2, created["hash"])
    assert by_ticker(latest["weights"]) == by_ticker(weights)
    assert latest["hash"] == hash_of(latest["weights"])
    assert get(server, f"/v1/models/{model}/weights?as_of=2024-10-31").json()["version"] == 1
    irebal = get(server, f"/v1/models/{model}/weights?format=irebal").text.strip().splitlines()
    assert dict(line.split(",") for line in irebal[1:]) == {
        "HYG": "60.00",
        "JNK": "30.00",
        "SHY": "10.00",
        "$CASH": "0.00",
    }
    assert versions(server, model) == [2, 1]
    assert get(server, f"/v1/models/{model}").json()["latest_version"] == 2
    trades = get(server, f"/v1/models/{model}/trades").json()
    assert {t["ticker"]: t["action"] for t in trades["trades"]} == {
        "AGG": "sell",
        "LQD": "sell",
        "HYG": "buy",
        "JNK": "buy",
        "SHY": "buy",
    }


def test_a_push_lands_in_postgresql_and_the_machine_redis(server):
    """The server runs on what its environment names, not on the embedded defaults."""
    model = "active-broad-benchmark-plus"
    created = push(server, model, holding(("HYG", 0.5), ("EMB", 0.5)))
    assert created.status_code == 201
    engine = make_engine(postgres_url())
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT version, source, content_hash FROM rebalances WHERE model_id = :m"),
                {"m": model},
            ).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [(1, "push", created.json()["hash"])]
    cache = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        assert cache.get(f"pa:v1:model:{model}:current") == b"1"
    finally:
        cache.close()


def test_idempotent_replay_answers_the_first_response_and_adds_no_version(server):
    model = "agg-plus-aggressive-diversified"
    first = push(server, model, idempotency_key="replay-1")
    assert first.status_code == 201
    # Again, and on whichever worker takes it: the same answer, flagged as a replay.
    for _ in range(3):
        again = push(server, model, json.loads(json.dumps(BODY)), idempotency_key="replay-1")
        assert again.status_code == first.status_code
        assert again.content == first.content
        assert again.headers["Location"] == first.headers["Location"]
        assert again.headers["Idempotent-Replayed"] == "true"
    assert versions(server, model) == [1]


@pytest.mark.parametrize(
    ("change", "model"),
    [
        ({"weights": [{"ticker": "AGG", "weight": 0.5}, {"ticker": "LQD", "weight": 0.5}]}, None),
        ({"note": "another note"}, None),
        ({"effective_date": "2024-11-04"}, None),
        ({}, "agg-plus-aggressive"),
    ],
    ids=["weights", "note", "effective_date", "model"],
)
def test_conflicting_replay_is_422_naming_the_idempotency_key(server, change, model):
    first_model = "agg-plus-ig"
    idempotency_key = f"conflict-{uuid.uuid4().hex}"
    assert push(server, first_model, idempotency_key=idempotency_key).status_code == 201
    before = {m: versions(server, m) for m in (first_model, "agg-plus-aggressive")}
    response = push(server, model or first_model, {**BODY, **change}, idempotency_key)
    assert_problem(response, 422, [("Idempotency-Key", "headers")])
    assert "Idempotent-Replayed" not in response.headers
    assert {m: versions(server, m) for m in before} == before


def test_keys_create_list_use_and_revoke(server):
    created = call(server, "POST", "/v1/keys", key="admin", json=NEW_KEY)
    assert created.status_code == 201
    key = created.json()
    secret = key.pop("secret")
    assert secret.startswith("pa_live_") and secret.startswith(key["prefix"])
    assert {k: key[k] for k in NEW_KEY} == NEW_KEY
    assert key["revoked_at"] is None

    listing = get(server, "/v1/keys?limit=100", key="admin")
    assert listing.status_code == 200
    assert secret not in listing.text
    listed = next(k for k in listing.json()["data"] if k["id"] == key["id"])
    assert listed == key

    models = get(server, "/v1/models", key=secret)
    assert models.status_code == 200
    assert [m["id"] for m in models.json()["data"]] == [CHECKED]

    revoked = call(server, "DELETE", f"/v1/keys/{key['id']}", key="admin")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert "secret" not in revoked.json()
    # The very next request fails, and every one after it, whichever worker serves it.
    for _ in range(4):
        response = get(server, "/v1/models", key=secret)
        assert_problem(response, 401, [])
        assert response.headers["WWW-Authenticate"] == CHALLENGE
    again = call(server, "DELETE", f"/v1/keys/{key['id']}", key="admin")
    assert again.status_code == 200
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]


def test_keys_page_newest_first(server):
    everything = get(server, "/v1/keys?limit=100", key="admin").json()
    assert everything["next_cursor"] is None
    seen, cursor = [], None
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = get(server, f"/v1/keys?{query}", key="admin")
        assert page.status_code == 200
        seen += [k["id"] for k in page.json()["data"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [k["id"] for k in everything["data"]]
    assert len(seen) >= len(KEYS)


ACCOUNT = {"holdings": [{"ticker": "AGG", "quantity": 100}, {"ticker": "TLT", "quantity": 20}]}


def test_account_trade_lists(server):
    path = f"/v1/models/{READ}/accounts/trades"
    one = call(server, "POST", path, key="all-but-admin", json={**ACCOUNT, "cash": 2500.0})
    assert one.status_code == 200, one.text
    result = one.json()
    assert (result["model_id"], result["version"]) == (READ, 3)
    assert {t["ticker"] for t in result["trades"]} >= {"TLT", "LQD", "SHY"}
    assert result["cash"] >= 0 and result["drift_after"]["total"] < result["drift_before"]["total"]
    accounts = [{**ACCOUNT, "cash": 2500.0}, {"cash": 10_000.0}]
    batch = call(server, "POST", f"{path}:batch", key="all-but-admin", json={"accounts": accounts})
    assert batch.status_code == 200, batch.text
    first = {name: value for name, value in result.items() if name not in ("model_id", "version")}
    assert batch.json()["accounts"][0] == first
    bad = call(server, "POST", path, key="all-but-admin", json={"holdings": [{"ticker": "AGG"}]})
    assert_problem(bad, 422, [("holdings[0].quantity", "json")])


# --- every failure ----------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/v1/models", "models:read"),
    ("GET", f"/v1/models/{READ}", "models:read"),
    ("GET", f"/v1/models/{READ}/weights", "models:read"),
    ("GET", f"/v1/models/{READ}/rebalances", "models:read"),
    ("GET", f"/v1/models/{READ}/rebalances/1", "models:read"),
    ("GET", f"/v1/models/{READ}/trades", "models:read"),
    ("GET", f"/v1/models/{READ}/performance", "performance:read"),
    ("GET", "/v1/performance", "performance:read"),
    ("POST", f"/v1/models/{READ}/rebalances", "rebalances:write"),
    ("POST", f"/v1/models/{READ}/accounts/trades", "trades:write"),
    ("POST", f"/v1/models/{READ}/accounts/trades:batch", "trades:write"),
    ("GET", "/v1/jobs/no-such-job", "trades:write"),
    ("GET", "/v1/keys", "admin"),
    ("POST", "/v1/keys", "admin"),
    ("DELETE", "/v1/keys/key_0000000000000000", "admin"),
    ("GET", "/metrics", "metrics:read"),
]
ENDPOINT_IDS = [f"{method} {path}" for method, path, _ in ENDPOINTS]


def request_body(method: str, path: str) -> dict:
    """A valid body (and Idempotency-Key) for the endpoint, so only the key can be at fault."""
    if method != "POST":
        return {}
    if path == "/v1/keys":
        return {"json": NEW_KEY}
    if path.endswith("/accounts/trades"):
        return {"json": ACCOUNT}
    if path.endswith("/accounts/trades:batch"):
        return {"json": {"accounts": [ACCOUNT]}}
    return {"json": BODY, "headers": {"Idempotency-Key": uuid.uuid4().hex}}


def key_ids(server) -> list[str]:
    response = get(server, "/v1/keys?limit=100", key="admin")
    assert response.status_code == 200
    return [k["id"] for k in response.json()["data"]]


@pytest.fixture
def nothing_written(server):
    """A check that the ledger still has the keys and versions it had before the test."""
    before = key_ids(server), versions(server, READ)
    return lambda: (key_ids(server), versions(server, READ)) == before


@pytest.fixture(scope="module")
def revoked_secret(server) -> str:
    """The secret of a key holding every scope, revoked through the API."""
    body = {**NEW_KEY, "scopes": list(SCOPES), "models": None, "name": "revoked"}
    created = call(server, "POST", "/v1/keys", key="admin", json=body).json()
    assert get(server, "/v1/models", key=created["secret"]).status_code == 200
    assert call(server, "DELETE", f"/v1/keys/{created['id']}", key="admin").status_code == 200
    return created["secret"]


AUTHORIZATIONS = {
    "no key": None,
    "another scheme": "Basic dXNlcjpwYXNz",
    "empty bearer": "Bearer ",
    "malformed key": "Bearer not a key",
    "unknown key": "Bearer pa_live_0000000000000000000000000000000000000000000",
    "revoked key": "revoked",
}


@pytest.mark.parametrize("authorization", AUTHORIZATIONS)
@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_no_or_bad_key_is_401(
    server, revoked_secret, nothing_written, method, path, scope, authorization
):
    value = AUTHORIZATIONS[authorization]
    value = f"Bearer {revoked_secret}" if value == "revoked" else value
    kwargs = request_body(method, path)
    headers = {**kwargs.pop("headers", {}), **({"Authorization": value} if value else {})}
    response = call(server, method, path, key=None, headers=headers, **kwargs)
    assert_problem(response, 401, [])
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert nothing_written()


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_missing_scope_is_403_naming_the_scope(server, nothing_written, method, path, scope):
    response = call(server, method, path, key=f"all-but-{scope}", **request_body(method, path))
    problem = assert_problem(response, 403, [])
    assert scope in problem["detail"]
    assert nothing_written()


MODEL_ENDPOINTS = [(m, p, s) for m, p, s in ENDPOINTS if p.startswith(f"/v1/models/{READ}")]


@pytest.mark.parametrize(
    ("method", "path", "scope"), MODEL_ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in MODEL_ENDPOINTS]
)
def test_unlicensed_model_is_404_exactly_like_a_missing_one(
    server, nothing_written, method, path, scope
):
    """The key is licensed for CHECKED only: READ answers as if it did not exist."""
    missing_path = path.replace(READ, "no-such-model")
    unlicensed = call(server, method, path, key="hy-only", **request_body(method, path))
    missing = call(server, method, missing_path, key="hy-only", **request_body(method, path))
    problem = assert_problem(unlicensed, 404, [("model_id", "path")])
    assert READ in problem["detail"]
    assert problem == json.loads(missing.text.replace("no-such-model", READ))
    assert_problem(missing, 404, [("model_id", "path")])
    same = ("Content-Type", "WWW-Authenticate", "Retry-After", "Location")
    assert {h: unlicensed.headers.get(h) for h in same} == {h: missing.headers.get(h) for h in same}
    assert nothing_written()


WEIGHTS = f"/v1/models/{READ}/weights"
REBALANCES = f"/v1/models/{READ}/rebalances"


@pytest.mark.parametrize(
    ("path", "headers", "key", "status", "field"),
    [
        (f"{WEIGHTS}?as_of=2024-02-30", None, "reader", 422, ("as_of", "query")),
        (f"{WEIGHTS}?as_of=yesterday", None, "reader", 422, ("as_of", "query")),
        (f"{WEIGHTS}?as_of=2024-13-01", None, "reader", 422, ("as_of", "query")),
        (f"{WEIGHTS}?as_of=2010-01-01", None, "reader", 404, ("as_of", "query")),
        (f"{WEIGHTS}?format=pdf", None, "reader", 422, ("format", "query")),
        (f"{WEIGHTS}?format=", None, "reader", 422, ("format", "query")),
        (WEIGHTS, {"Accept": "application/pdf"}, "reader", 406, ("Accept", "headers")),
        (WEIGHTS, {"Accept": "application/json;q=0"}, "reader", 406, ("Accept", "headers")),
        (f"{WEIGHTS}?colour=blue", None, "reader", 422, ("colour", "query")),
        (f"{REBALANCES}?limit=101", None, "reader", 422, ("limit", "query")),
        (f"{REBALANCES}?limit=0", None, "reader", 422, ("limit", "query")),
        (f"{REBALANCES}?cursor=abc", None, "reader", 422, ("cursor", "query")),
        (f"{REBALANCES}/99", None, "reader", 404, ("version", "path")),
        (f"/v1/models/{READ}/trades?from=3&to=2", None, "reader", 422, ("from", "query")),
        (f"/v1/models/{READ}/trades?to=9", None, "reader", 404, ("to", "query")),
        ("/v1/performance?format=xlsx", None, "performance", 422, ("format", "query")),
        ("/v1/keys?limit=101", None, "admin", 422, ("limit", "query")),
        ("/v1/keys?cursor=key_nope", None, "admin", 422, ("cursor", "query")),
    ],
)
def test_bad_request_names_the_field(server, path, headers, key, status, field):
    assert_problem(get(server, path, key=key, headers=headers), status, [field])


def test_unknown_key_id_is_404_naming_it(server):
    response = call(server, "DELETE", "/v1/keys/key_0000000000000000", key="admin")
    assert_problem(response, 404, [("key_id", "path")])


def test_unknown_route_and_method_are_problem_json(server):
    assert_problem(get(server, "/v1/nothing-here"), 404, [])
    response = call(server, "PUT", "/v1/models")
    assert_problem(response, 405, [])
    assert "GET" in response.headers["Allow"]


PUSH_RULES = {
    # id: (body, the field named); all 422 but malformed JSON (400), all fields "in": "json"
    # but the Idempotency-Key header (the case sends none).
    "unknown ticker": (holding(("AGG", 0.5), ("LQD", 0.3), ("ZZZZ", 0.2)), "weights[2].ticker"),
    "index not an ETF": (holding(("AGG", 0.5), ("AGG-INDEX", 0.5)), "weights[1].ticker"),
    "duplicate ticker": (holding(("AGG", 0.5), ("LQD", 0.3), ("AGG", 0.2)), "weights[2].ticker"),
    "weight NaN": (raw("NaN"), "weights[0].weight"),
    "weight Infinity": (raw("Infinity"), "weights[0].weight"),
    "weight -Infinity": (raw("-Infinity"), "weights[0].weight"),
    "weight a string": (raw('"0.6"'), "weights[0].weight"),
    "weight below 0": (holding(("AGG", 0.6), ("LQD", 0.4), ("TLT", -1e-4)), "weights[2].weight"),
    "weight above 1": (holding(("AGG", 1.2), ("LQD", 0.4)), "weights[0].weight"),
    "sum below 1": (holding(("AGG", 0.6), ("LQD", 0.3)), "weights"),
    "sum above 1 beyond 1e-6": (holding(("AGG", 0.6), ("LQD", 0.4 + 2e-6)), "weights"),
    "no weights": (holding(), "weights"),
    "more weights than MAX_WEIGHTS": (
        holding(*[(f"T{n}", 1 / (MAX_WEIGHTS + 1)) for n in range(MAX_WEIGHTS + 1)]),
        "weights",
    ),
    "effective date before the latest version's": (
        {**BODY, "effective_date": "2024-09-30"},
        "effective_date",
    ),
    "effective date not a date": ({**BODY, "effective_date": "2024-11-31"}, "effective_date"),
    "effective date missing": ({"weights": BODY["weights"]}, "effective_date"),
    "unknown field": ({**BODY, "colour": "blue"}, "colour"),
    "malformed JSON": ("{nope", "body"),
    "missing Idempotency-Key": (BODY, "Idempotency-Key"),
}


@pytest.mark.parametrize("rule", PUSH_RULES)
def test_each_push_validation_rule_is_refused_naming_the_field(server, rule):
    body, field = PUSH_RULES[rule]
    missing_key = field == "Idempotency-Key"
    response = push(server, CHECKED, body, idempotency_key="" if missing_key else None)
    status = 400 if rule == "malformed JSON" else 422
    assert_problem(response, status, [(field, "headers" if missing_key else "json")])
    assert versions(server, CHECKED) == [1]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("[]", "body"),
        ("null", "body"),
        ('{"effective_date": "2024-11-01", "weights": [1]}', "weights[0]"),
    ],
    ids=["array", "null", "weight not an object"],
)
def test_push_body_not_an_object_names_the_body(server, body, field):
    response = push(server, CHECKED, body)
    assert_problem(response, 422, [(field, "json")])


def test_a_keys_rate_limit_holds_across_workers(server):
    """Both gunicorn workers count in Redis: the ``limited`` key gets 5 requests per window in
    all, then 429 problem+json saying when to retry, with the RateLimit headers."""
    path = f"/v1/models/{READ}/weights"
    first = get(server, path, key="limited")
    assert first.status_code == 200
    if int(first.headers["RateLimit-Reset"]) < 5:  # so close to the window's end: use the next
        time.sleep(int(first.headers["RateLimit-Reset"]))
        first = get(server, path, key="limited")
    answers = [first] + [get(server, path, key="limited") for _ in range(7)]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 3
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["4", "3", "2", "1"] + ["0"] * 4
    for refused in answers[5:]:
        assert refused.headers["Content-Type"] == PROBLEM
        assert refused.json()["status"] == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_gunicorn_refuses_an_overlong_request_line_and_too_many_headers(server):
    """The limits of service/api/gunicorn_conf.py hold on the server as production runs it."""
    long_path = f"/v1/models/{READ}/weights?as_of=" + "9" * 9000
    assert requests.get(server.base + long_path, timeout=TIMEOUT).status_code == 414
    many = {f"X-Header-{n}": "x" for n in range(150)}
    assert (
        requests.get(server.base + "/v1/health", headers=many, timeout=TIMEOUT).status_code == 431
    )
