"""Pushing a version: validation, the write, idempotent replays and who may push."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from service.api.extensions import get_session
from service.ledger import audit_events, get_rebalance, latest_rebalance

from .conftest import bearer

PROBLEM = "application/problem+json"
MODEL = "agg-plus-baseline"
URL = f"/v1/models/{MODEL}/rebalances"
LATEST_SEEDED = 3
BODY = {
    "effective_date": "2024-11-01",
    "weights": [{"ticker": "AGG", "weight": 0.6}, {"ticker": "LQD", "weight": 0.4}],
    "note": "manual override",
}


@pytest.fixture
def pusher(make_key):
    return make_key(scopes=["rebalances:write", "models:read"])


def push(client, secret, body=BODY, idempotency_key="push-1", url=URL):
    headers = bearer(secret)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    if isinstance(body, str):
        return client.post(url, data=body, content_type="application/json", headers=headers)
    return client.post(url, json=body, headers=headers)


def latest_version(api_app, model_id=MODEL) -> int:
    with api_app.app_context():
        return latest_rebalance(get_session(), model_id).version


def with_weights(*pairs) -> dict:
    return {**BODY, "weights": [{"ticker": t, "weight": w} for t, w in pairs]}


def raw(weight: str) -> str:
    return (
        '{"effective_date": "2024-11-01", "weights": '
        f'[{{"ticker": "AGG", "weight": {weight}}}, {{"ticker": "LQD", "weight": 0.4}}]}}'
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (with_weights(("AGG", 0.5), ("LQD", 0.3), ("ZZZZ", 0.2)), "weights[2].ticker"),
        (with_weights(("AGG", 0.5), ("AGG-INDEX", 0.5)), "weights[1].ticker"),
        (with_weights(("AGG", 0.5), ("LQD", 0.3), ("AGG", 0.2)), "weights[2].ticker"),
        (with_weights(("AGG", 0.5), ("lqd", 0.3), (" agg", 0.2)), "weights[2].ticker"),
        (with_weights(("AG G", 0.6), ("LQD", 0.4)), "weights[0].ticker"),
        (with_weights(("AGG", 0.6), ("", 0.4)), "weights[1].ticker"),
        (with_weights(("AGG", 1.2), ("LQD", 0.4)), "weights[0].weight"),
        (with_weights(("AGG", 0.6), ("LQD", -0.0001)), "weights[1].weight"),
        (raw("NaN"), "weights[0].weight"),
        (raw("Infinity"), "weights[0].weight"),
        (raw("1e400"), "weights[0].weight"),
        (raw('"0.6"'), "weights[0].weight"),
        (raw("true"), "weights[0].weight"),
        (with_weights(), "weights"),
        (with_weights(("AGG", 0.6), ("LQD", 0.3)), "weights"),
        (with_weights(("AGG", 0.6), ("LQD", 0.4 + 2e-6)), "weights"),
        ({**BODY, "effective_date": "2024-09-30"}, "effective_date"),
        ({**BODY, "effective_date": "2024-13-01"}, "effective_date"),
        ({k: v for k, v in BODY.items() if k != "effective_date"}, "effective_date"),
        ({k: v for k, v in BODY.items() if k != "weights"}, "weights"),
        ({**BODY, "note": "x" * 1001}, "note"),
        ({**BODY, "colour": "blue"}, "colour"),
        (
            {**BODY, "weights": [{"ticker": "AGG", "weight": 1, "colour": "blue"}]},
            "weights[0].colour",
        ),
    ],
)
def test_each_validation_rule_names_the_field(api_app, client, pusher, body, field):
    response = push(client, pusher, body)
    assert response.status_code == 422
    assert response.content_type == PROBLEM
    assert [e["field"] for e in response.json["errors"]] == [field]
    assert latest_version(api_app) == LATEST_SEEDED


@pytest.mark.parametrize("excess", [5e-7, -9e-7])
def test_weights_within_the_tolerance_are_rescaled_and_served(client, pusher, make_key, excess):
    body = with_weights(("AGG", 0.6), ("LQD", 0.4 + excess), ("TLT", 0.0))
    response = push(client, pusher, body)
    assert response.status_code == 201
    weights = response.json["weights"]
    assert math.fsum(weights.values()) == pytest.approx(1, abs=1e-12)
    assert weights["AGG"] == pytest.approx(0.6, abs=1e-6)
    assert weights["TLT"] == 0.0
    irebal = client.get(
        f"/v1/models/{MODEL}/weights?as_of=2024-11-01&format=irebal", headers=bearer(make_key())
    )
    assert irebal.status_code == 200
    lines = irebal.get_data(as_text=True).strip().splitlines()
    assert sum(Decimal(line.split(",")[1]) for line in lines[1:]) == Decimal("100.00")


def test_effective_date_may_equal_the_latest(client, pusher):
    response = push(client, pusher, {**BODY, "effective_date": "2024-10-01"})
    assert response.status_code == 201


def test_push_records_a_new_version_that_is_served(api_app, client, pusher, make_key):
    response = push(client, pusher)
    assert response.status_code == 201
    version = LATEST_SEEDED + 1
    assert response.headers["Location"] == f"{URL}/{version}"
    assert "Idempotent-Replayed" not in response.headers
    created = response.json
    assert created["version"] == version
    assert created["source"] == "push"
    assert created["as_of"] == created["effective_date"] == "2024-11-01"
    assert created["note"] == "manual override"
    assert created["weights"] == {"AGG": 0.6, "LQD": 0.4}

    reader = bearer(make_key())
    assert client.get(response.headers["Location"], headers=reader).json == created
    weights = client.get(f"/v1/models/{MODEL}/weights?as_of=2024-11-01", headers=reader).json
    assert weights["version"] == version
    assert {w["ticker"]: w["weight"] for w in weights["weights"]} == {"AGG": 0.6, "LQD": 0.4}
    before = client.get(f"/v1/models/{MODEL}/weights?as_of=2024-10-31", headers=reader).json
    assert before["version"] == LATEST_SEEDED

    with api_app.app_context():
        session = get_session()
        row = get_rebalance(session, MODEL, version)
        events = audit_events(session, model_id=MODEL)
    assert row.pushed_by is not None and row.pushed_by.startswith("key_")
    assert [(e.action, e.version, e.key_id) for e in events] == [("push", version, row.pushed_by)]


def test_tickers_are_recorded_in_capitals_whatever_their_spelling(client, pusher):
    response = push(client, pusher, with_weights((" agg", 0.6), ("Lqd ", 0.4)))
    assert response.status_code == 201, response.json
    assert response.json["weights"] == {"AGG": 0.6, "LQD": 0.4}
    again = push(client, pusher, with_weights(("AGG", 0.6), ("LQD", 0.4)))
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == response.get_data()


def test_replay_answers_the_stored_response_without_a_new_version(api_app, client, pusher):
    first = push(client, pusher)
    again = push(client, pusher, json.loads(json.dumps(BODY)))
    assert again.status_code == first.status_code == 201
    assert again.get_data() == first.get_data()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert latest_version(api_app) == LATEST_SEEDED + 1


def test_replay_ignores_the_order_of_the_weights(api_app, client, pusher):
    first = push(client, pusher)
    reordered = {**BODY, "weights": list(reversed(BODY["weights"]))}
    again = push(client, pusher, reordered)
    assert again.status_code == 201
    assert again.get_data() == first.get_data()
    assert latest_version(api_app) == LATEST_SEEDED + 1


@pytest.mark.parametrize(
    ("body", "url"),
    [
        (with_weights(("AGG", 0.5), ("LQD", 0.5)), URL),
        ({**BODY, "note": "another note"}, URL),
        (BODY, "/v1/models/hy-plus-baseline/rebalances"),
    ],
)
def test_the_same_idempotency_key_with_another_request_is_422(api_app, client, pusher, body, url):
    assert push(client, pusher).status_code == 201
    response = push(client, pusher, body, url=url)
    assert response.status_code == 422
    assert response.content_type == PROBLEM
    assert response.json["errors"][0]["field"] == "Idempotency-Key"
    assert response.json["errors"][0]["in"] == "headers"
    assert latest_version(api_app) == LATEST_SEEDED + 1
    assert latest_version(api_app, "hy-plus-baseline") == 1


def test_idempotency_keys_belong_to_one_api_key(api_app, client, pusher, make_key):
    other = make_key(scopes=["rebalances:write"])
    assert push(client, pusher).json["version"] == LATEST_SEEDED + 1
    assert push(client, other).json["version"] == LATEST_SEEDED + 2


def test_a_concurrent_duplicate_rolls_back_and_replays(api_app, client, pusher, monkeypatch):
    """The loser of a race saw no record, wrote, and lost on saving it: it answers the winner's."""
    import service.ledger

    first = push(client, pusher)
    real = service.ledger.find_idempotency
    calls = []

    def not_yet_saved(*args):
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(service.ledger, "find_idempotency", not_yet_saved)
    again = push(client, pusher)
    assert len(calls) == 2
    assert again.status_code == 201
    assert again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert latest_version(api_app) == LATEST_SEEDED + 1
    with api_app.app_context():
        assert len(audit_events(get_session(), model_id=MODEL)) == 1


def test_an_earlier_effective_date_landing_after_the_check_is_422(
    api_app, client, pusher, monkeypatch
):
    """A push checked before a later-dated version landed is refused inside the transaction."""
    from service.api.v1 import rebalances

    assert push(client, pusher, {**BODY, "effective_date": "2024-12-02"}, "late").status_code == 201
    monkeypatch.setattr(rebalances, "check_push", lambda *_args: None)  # it ran before the race
    response = push(client, pusher, BODY, "early")
    assert response.status_code == 422
    assert [e["field"] for e in response.json["errors"]] == ["effective_date"]
    assert latest_version(api_app) == LATEST_SEEDED + 1
    with api_app.app_context():
        assert len(audit_events(get_session(), model_id=MODEL)) == 1


def test_redis_down_still_answers_201(api_app, client, pusher, monkeypatch):
    import service.publishing

    def down(*_args):
        raise RedisConnectionError("redis is down")

    monkeypatch.setattr(service.publishing, "publish", down)
    response = push(client, pusher)
    assert response.status_code == 201
    assert latest_version(api_app) == LATEST_SEEDED + 1


@pytest.mark.parametrize("value", [None, "", "x" * 201, "tab\there", " leading", "caf\u00e9"])
def test_missing_or_bad_idempotency_key_is_422(api_app, client, pusher, value):
    response = push(client, pusher, idempotency_key=value)
    assert response.status_code == 422
    assert response.content_type == PROBLEM
    assert [(e["field"], e["in"]) for e in response.json["errors"]] == [
        ("Idempotency-Key", "headers")
    ]
    assert latest_version(api_app) == LATEST_SEEDED


def test_longest_idempotency_key_is_accepted(client, pusher):
    assert push(client, pusher, idempotency_key="k" * 200).status_code == 201


def test_missing_scope_is_403(api_app, client, make_key):
    response = push(client, make_key(scopes=["models:read"]))
    assert response.status_code == 403
    assert response.content_type == PROBLEM
    assert "rebalances:write" in response.json["detail"]
    assert latest_version(api_app) == LATEST_SEEDED


def test_unlicensed_model_is_404_like_a_missing_one(api_app, client, make_key):
    secret = make_key(scopes=["rebalances:write"], models=["hy-plus-baseline"])
    unlicensed = push(client, secret)
    missing = push(client, secret, url="/v1/models/no-such-model/rebalances")
    assert unlicensed.status_code == missing.status_code == 404
    assert unlicensed.content_type == missing.content_type == PROBLEM
    assert latest_version(api_app) == LATEST_SEEDED


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer pa_live_not-a-key"}, {"Authorization": "Basic x"}]
)
def test_no_key_is_401(api_app, client, headers):
    response = client.post(URL, json=BODY, headers={**headers, "Idempotency-Key": "push-1"})
    assert response.status_code == 401
    assert response.content_type == PROBLEM
    assert latest_version(api_app) == LATEST_SEEDED


def test_a_body_that_is_not_json_names_the_body(client, make_key):
    headers = {
        **bearer(make_key(scopes=["rebalances:write"])),
        "Idempotency-Key": "not-json",
        "Content-Type": "application/json",
    }
    response = client.post("/v1/models/agg-plus-baseline/rebalances", data="{nope", headers=headers)
    assert response.status_code in (400, 422)
    assert response.content_type == "application/problem+json"
    assert response.json["errors"][0]["field"] == "body"
