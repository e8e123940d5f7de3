"""Trades between versions of a model: the default pair, explicit versions, and every error."""

from __future__ import annotations

from datetime import date

import pytest

from service.api.extensions import get_session
from service.ledger import add_rebalance

from .conftest import bearer

PROBLEM = "application/problem+json"
URL = "/v1/models/agg-plus-baseline/trades"
THIRD = 1 / 3


def trades_by_ticker(answer: dict) -> dict:
    return {t["ticker"]: (t["from_weight"], t["to_weight"], t["action"]) for t in answer["trades"]}


def test_default_is_the_latest_against_the_one_before(client, make_key):
    response = client.get(URL, headers=bearer(make_key()))
    assert response.status_code == 200
    answer = response.json
    assert (answer["model_id"], answer["from_version"], answer["to_version"]) == (
        "agg-plus-baseline",
        2,
        3,
    )
    assert [t["ticker"] for t in answer["trades"]] == ["AGG", "LQD", "SHY", "TLT"]
    assert trades_by_ticker(answer) == {
        "AGG": (0.4, THIRD, "sell"),
        "LQD": (0.35, THIRD, "sell"),
        "SHY": (0.0, THIRD, "buy"),
        "TLT": (0.25, 0.0, "sell"),
    }
    for trade in answer["trades"]:
        assert trade["change"] == pytest.approx(trade["to_weight"] - trade["from_weight"])
        assert set(trade) == {"ticker", "from_weight", "to_weight", "change", "action"}


@pytest.mark.parametrize(
    ("query", "versions"),
    [("from=1&to=3", (1, 3)), ("from=1", (1, 3)), ("to=2", (1, 2)), ("from=1&to=2", (1, 2))],
)
def test_explicit_versions(client, make_key, query, versions):
    answer = client.get(f"{URL}?{query}", headers=bearer(make_key())).json
    assert (answer["from_version"], answer["to_version"]) == versions
    if versions == (1, 3):
        assert trades_by_ticker(answer) == {
            "AGG": (0.5, THIRD, "sell"),
            "HYG": (0.3, 0.0, "sell"),
            "LQD": (0.0, THIRD, "buy"),
            "SHY": (0.0, THIRD, "buy"),
            "TLT": (0.2, 0.0, "sell"),
        }


def test_first_version_is_bought_from_cash(client, make_key):
    headers = bearer(make_key())
    for url in ("/v1/models/hy-plus-baseline/trades", f"{URL}?to=1"):
        answer = client.get(url, headers=headers).json
        assert answer["from_version"] is None
        assert answer["to_version"] == 1
        assert all(t["from_weight"] == 0 and t["action"] == "buy" for t in answer["trades"])
    hy = client.get("/v1/models/hy-plus-baseline/trades", headers=headers).json
    assert trades_by_ticker(hy) == {"HYG": (0.0, 0.6, "buy"), "JNK": (0.0, 0.4, "buy")}


def test_unchanged_weights_are_left_out(api_app, client, make_key):
    with api_app.app_context():
        session = get_session()
        add_rebalance(
            session,
            "hy-plus-baseline",
            as_of=date(2024, 10, 31),
            effective_date=date(2024, 11, 1),
            weights={"HYG": 0.6, "JNK": 0.3, "SHY": 0.1},
            source="worker",
        )
        session.commit()
    answer = client.get("/v1/models/hy-plus-baseline/trades", headers=bearer(make_key())).json
    assert (answer["from_version"], answer["to_version"]) == (1, 2)
    assert trades_by_ticker(answer) == {"JNK": (0.4, 0.3, "sell"), "SHY": (0.0, 0.1, "buy")}


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("from=abc", 422, "from"),
        ("to=1.5", 422, "to"),
        ("from=0", 422, "from"),
        ("to=-1", 422, "to"),
        ("from=3&to=2", 422, "from"),
        ("from=2&to=2", 422, "from"),
        ("from=3", 422, "from"),
        ("to=4", 404, "to"),
        ("from=1&to=9", 404, "to"),
        ("since=1", 422, "since"),
    ],
)
def test_bad_versions_name_the_parameter(client, make_key, query, status, field):
    response = client.get(f"{URL}?{query}", headers=bearer(make_key()))
    assert response.status_code == status
    assert response.content_type == PROBLEM
    assert [(e["field"], e["in"]) for e in response.json["errors"]] == [(field, "query")]


def test_model_without_versions_is_404(client, make_key):
    response = client.get("/v1/models/agg-plus-ig/trades", headers=bearer(make_key()))
    assert response.status_code == 404
    assert response.content_type == PROBLEM


def test_needs_a_key_with_models_read(client, make_key):
    assert client.get(URL).status_code == 401
    response = client.get(URL, headers=bearer(make_key(scopes=["performance:read"])))
    assert response.status_code == 403
    assert response.content_type == PROBLEM


@pytest.mark.parametrize("model_id", ["agg-plus-baseline", "no-such-model"])
def test_unlicensed_or_unknown_model_is_404(client, make_key, model_id):
    secret = make_key(models=["hy-plus-baseline"])
    response = client.get(f"/v1/models/{model_id}/trades", headers=bearer(secret))
    assert response.status_code == 404
    assert response.json["errors"][0]["field"] == "model_id"
