"""Rate limits per key: a default, a key's own limit, 429 with Retry-After, RateLimit headers.

What a platform's integrator checks: how many requests a key gets per window, that the answer
over the limit says when to retry, that waiting that long is enough, and that one key's traffic
never spends another key's allowance.
"""

from __future__ import annotations

import time

import pytest

from service.api.extensions import get_session
from service.app import create_app
from service.ledger import create_key

from .conftest import bearer, close_app, seed

PROBLEM = "application/problem+json"
WEIGHTS = "/v1/models/agg-plus-baseline/weights"
ROUTES = [WEIGHTS, f"{WEIGHTS}?format=csv", "/v1/models", "/v1/models/agg-plus-baseline/rebalances"]
"""The weights read (key, count and body in one round trip) and routes that read the key alone."""


def remaining(response) -> int:
    return int(response.headers["RateLimit-Remaining"])


@pytest.mark.parametrize("route", ROUTES)
def test_a_key_gets_its_own_limit_then_429_with_retry_after(client, make_key, route):
    secret = make_key(rate_limit=3)
    answers = [client.get(route, headers=bearer(secret)) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [remaining(a) for a in answers] == [2, 1, 0, 0]
    assert {a.headers["RateLimit-Limit"] for a in answers} == {"3"}
    refused = answers[-1]
    assert refused.mimetype == PROBLEM
    assert refused.get_json()["status"] == 429
    assert "3 requests" in refused.get_json()["detail"]
    window = client.application.config["RATE_LIMIT_WINDOW"]
    assert 1 <= int(refused.headers["Retry-After"]) <= window
    assert refused.headers["Retry-After"] == refused.headers["RateLimit-Reset"]


def test_one_keys_traffic_does_not_spend_anothers(client, make_key):
    busy, quiet = make_key(rate_limit=2), make_key(rate_limit=2)
    statuses = [client.get(WEIGHTS, headers=bearer(busy)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    answer = client.get(WEIGHTS, headers=bearer(quiet))
    assert answer.status_code == 200
    assert remaining(answer) == 1


def test_requests_that_fail_count_too_but_unknown_keys_are_not_counted(client, make_key):
    """A 404 or a 403 spends the allowance as a 200 does; a bad key is a 401, never a 429."""
    secret = make_key(scopes=["models:read"], rate_limit=2)
    assert client.get("/v1/models/no-such-model", headers=bearer(secret)).status_code == 404
    assert client.get("/v1/performance", headers=bearer(secret)).status_code == 403
    assert client.get(WEIGHTS, headers=bearer(secret)).status_code == 429
    for _ in range(3):
        assert client.get(WEIGHTS, headers=bearer("pa_live_" + "x" * 43)).status_code == 401


@pytest.fixture
def limited_client(backend):
    """An app whose default is 2 requests per 2-second window."""
    app = create_app({"TESTING": True, **backend, "RATE_LIMIT": 2, "RATE_LIMIT_WINDOW": 2})
    try:
        seed(app)
        yield app.test_client()
    finally:
        close_app(app)


def test_the_default_limit_applies_and_waiting_retry_after_is_enough(limited_client):
    with limited_client.application.app_context():
        session = get_session()
        _, secret = create_key(session, name="t", tenant="t", scopes=["models:read"])
        session.commit()
    # Start at the beginning of a window, so that the three requests fall in the same one.
    time.sleep(2 - time.time() % 2)
    answers = [limited_client.get(WEIGHTS, headers=bearer(secret)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["RateLimit-Limit"] == "2"
    time.sleep(int(answers[-1].headers["Retry-After"]))
    again = limited_client.get(WEIGHTS, headers=bearer(secret))
    assert again.status_code == 200
    assert remaining(again) == 1


@pytest.fixture
def small_body_client(backend):
    """An app that accepts bodies of at most 2,000 bytes."""
    app = create_app({"TESTING": True, **backend, "MAX_CONTENT_LENGTH": 2000})
    try:
        seed(app)
        with app.app_context():
            session = get_session()
            _, secret = create_key(session, name="t", tenant="t", scopes=["rebalances:write"])
            session.commit()
        yield app.test_client(), secret
    finally:
        close_app(app)


def test_a_body_over_the_limit_is_413_naming_the_body_and_nothing_is_stored(small_body_client):
    client, secret = small_body_client
    path = "/v1/models/agg-plus-baseline/rebalances"
    weights = [{"ticker": "AGG", "weight": 1.0}]
    body = {"effective_date": "2030-01-02", "weights": weights, "note": "x" * 3000}
    headers = {**bearer(secret), "Idempotency-Key": "too-large"}
    answer = client.post(path, json=body, headers=headers)
    assert answer.status_code == 413
    assert answer.mimetype == PROBLEM
    problem = answer.get_json()
    assert problem["errors"][0]["field"] == "body"
    assert "2,000 bytes" in problem["detail"]
    # Nothing of it was kept, not even its Idempotency-Key: the same key with a body that fits
    # is a first push (201), not a conflicting replay (422).
    body["note"] = "small enough"
    assert client.post(path, json=body, headers=headers).status_code == 201
