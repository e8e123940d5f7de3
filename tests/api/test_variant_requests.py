"""``POST /v1/variants`` as a platform sends it, on both backends: tickers matched whatever
their case and surrounding spaces, and a variant identical to a live one of the tenant a 409
naming it (issue 22).

The variants are created, not built (their builds are queued and never run here): what is
checked is what the answer and ``GET /v1/models/{id}`` say of the definition recorded.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import bearer

BASE = "agg-plus-baseline"
SCOPES = ["models:read", "variants:write"]
NO_HY = {"base_model": BASE, "name": "IG no HY", "exclude_tickers": ["HYG", "JNK"]}


@pytest.fixture
def acme(make_key) -> dict:
    return bearer(make_key(scopes=SCOPES, tenant="acme", name="acme"))


def create(client, key: dict, body: dict):
    return client.post("/v1/variants", json=body, headers=key)


def universe(client, key: dict, variant_id: str) -> list[str]:
    answer = client.get(f"/v1/models/{variant_id}", headers=key)
    assert answer.status_code == 200, answer.json
    return answer.json["universe"]["tickers"]


def test_tickers_in_lower_case_or_padded_are_the_tickers_they_name(client, acme):
    body = {
        "base_model": BASE,
        "name": "Spelled loosely",
        "exclude_tickers": [" hyg", "Jnk "],
        "substitutions": {"agg ": " bnd"},
    }
    answer = create(client, acme, body)
    assert answer.status_code == 202, answer.json
    settings = answer.json["settings"]
    assert settings["exclude_tickers"] == ["HYG", "JNK"]
    assert settings["substitutions"] == {"AGG": "BND"}
    tickers = universe(client, acme, answer.json["id"])
    assert {"HYG", "JNK", "AGG"}.isdisjoint(tickers) and "BND" in tickers


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"exclude_tickers": ["HYG", "nope"]}, "exclude_tickers[1]", "'NOPE' is not in the data."),
        ({"exclude_tickers": ["HYG", "hy g"]}, "exclude_tickers[1]", "Not a ticker symbol"),
        ({"exclude_tickers": ["", "HYG"]}, "exclude_tickers[0]", "Not a ticker symbol"),
        ({"substitutions": {"agg": "nope"}}, "substitutions.AGG", "'NOPE' is not in the data."),
        ({"substitutions": {"AGG": "$$"}}, "substitutions.AGG.value", "Not a ticker symbol"),
        ({"substitutions": {"a g g": "BND"}}, "substitutions.a g g.key", "Not a ticker symbol"),
        (
            {"substitutions": {"AGG": "BND", "agg ": "SCHZ"}},
            "substitutions.agg ",
            "AGG is replaced twice (as 'AGG' and 'agg ').",
        ),
        (
            {"exclude_tickers": ["agg"], "substitutions": {"Agg": "BND"}},
            "substitutions.AGG",
            "AGG is both excluded and substituted.",
        ),
    ],
)
def test_a_ticker_that_is_none_of_the_data_is_a_422_naming_field_and_index(
    client, acme, change, field, message
):
    answer = create(client, acme, {**NO_HY, **change})
    assert answer.status_code == 422, answer.json
    assert answer.headers["Content-Type"] == "application/problem+json"
    errors = answer.json["errors"]
    assert [e["field"] for e in errors] == [field]
    assert message in errors[0]["message"]


def test_sectors_are_matched_as_the_securities_spell_them(client, acme):
    exact = create(client, acme, {**NO_HY, "exclude_sectors": ["high_yield"]})
    assert exact.status_code == 202, exact.json
    capitalized = create(client, acme, {**NO_HY, "name": "b", "exclude_sectors": ["High_Yield"]})
    assert capitalized.status_code == 422
    assert capitalized.json["errors"][0]["field"] == "exclude_sectors[0]"


def test_a_fee_of_zero_is_kept_not_replaced_by_the_base_models(client, acme):
    answer = create(client, acme, {**NO_HY, "annual_fee": 0})
    assert answer.status_code == 202, answer.json
    assert answer.json["settings"]["annual_fee"] == 0
    model = client.get(f"/v1/models/{answer.json['id']}", headers=acme).json
    assert model["annual_fee"] == 0


def test_a_second_identical_variant_is_a_409_naming_the_first(client, acme, make_key):
    first = create(client, acme, NO_HY)
    assert first.status_code == 202, first.json
    existing = first.json["id"]
    twins = [
        NO_HY,  # the same request again
        {**NO_HY, "name": "another name"},
        {**NO_HY, "exclude_tickers": ["jnk", "hyg ", "HYG"]},  # other order, spelling, repeats
        {**NO_HY, "risk_multiplier": 1.0, "annual_fee": 0.004},  # the base model's own values
    ]
    for body in twins:
        answer = create(client, acme, body)
        assert answer.status_code == 409, (body, answer.json)
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert existing in answer.json["detail"]
        assert answer.json["errors"] == [
            {"field": "base_model", "in": "json", "message": f"identical to variant {existing}"}
        ]
    listed = client.get("/v1/variants", headers=acme).json["data"]
    assert [v["id"] for v in listed] == [existing]
    different = create(client, acme, {**NO_HY, "name": "riskier", "risk_multiplier": 1.2})
    assert different.status_code == 202
    other_tenant = bearer(make_key(scopes=SCOPES, tenant="other", name="other"))
    assert create(client, other_tenant, NO_HY).status_code == 202


def test_once_the_first_is_retired_the_same_variant_may_be_created_again(client, acme):
    first = create(client, acme, NO_HY).json["id"]
    assert client.delete(f"/v1/variants/{first}", headers=acme).status_code == 200
    again = create(client, acme, NO_HY)
    assert again.status_code == 202, again.json
    assert again.json["id"] != first


def test_two_identical_creates_at_once_record_one_variant(api_app, acme):
    def post(_):
        return create(api_app.test_client(), acme, {**NO_HY, "name": "at once"}).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(post, range(4)))
    assert statuses == [202, 409, 409, 409]
    listed = api_app.test_client().get("/v1/variants", headers=acme).json["data"]
    assert len(listed) == 1
