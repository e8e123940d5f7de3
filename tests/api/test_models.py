"""Models, weights and versions, and every way a request can fail."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from service.api.extensions import get_session
from service.ledger import key_for_secret

from .conftest import SEED_VERSIONS, bearer

PROBLEM = "application/problem+json"


def test_health_needs_no_key(client):
    response = client.get("/v1/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "redis": "ok", "ledger": "ok"}


def test_models_lists_only_the_licensed(client, make_key):
    everything = client.get("/v1/models", headers=bearer(make_key()))
    assert {m["id"] for m in everything.json["data"]} >= set(SEED_VERSIONS)
    licensed = client.get("/v1/models", headers=bearer(make_key(models=["hy-plus-baseline"])))
    assert [m["id"] for m in licensed.json["data"]] == ["hy-plus-baseline"]
    assert licensed.json["next_cursor"] is None


def test_model_definition_and_latest_version(client, make_key):
    response = client.get("/v1/models/agg-plus-baseline", headers=bearer(make_key()))
    assert response.status_code == 200
    assert response.json["benchmark"] == "AGG"
    assert response.json["risk_multiplier"] == 1.0
    assert response.json["latest_version"] == 3


@pytest.mark.parametrize(
    ("as_of", "version"), [("2024-08-15", 1), ("2024-09-03", 2), ("2024-12-31", 3)]
)
def test_weights_in_force_on_a_date(client, make_key, as_of, version):
    response = client.get(
        f"/v1/models/agg-plus-baseline/weights?as_of={as_of}", headers=bearer(make_key())
    )
    assert response.status_code == 200
    document = response.json
    assert document["version"] == version
    expected = SEED_VERSIONS["agg-plus-baseline"][version - 1][2]
    assert {w["ticker"]: w["weight"] for w in document["weights"]} == expected
    assert set(document) == {
        "model_id",
        "name",
        "description",
        "version",
        "as_of",
        "effective_date",
        "hash",
        "weights",
    }


def test_a_format_name_in_any_case_is_the_format(client, make_key):
    headers = bearer(make_key())
    url = "/v1/models/agg-plus-baseline/weights"
    for name in ("csv", "irebal"):
        expected = client.get(f"{url}?format={name}", headers=headers)
        for spelling in (name.upper(), name.capitalize()):
            response = client.get(f"{url}?format={spelling}", headers=headers)
            assert response.status_code == 200
            assert response.data == expected.data


def test_every_format_by_parameter_and_by_accept(client, make_key):
    headers = bearer(make_key())
    url = "/v1/models/agg-plus-baseline/weights"
    as_csv = client.get(f"{url}?format=csv", headers=headers)
    rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert as_csv.content_type.startswith("text/csv")
    assert [float(r["weight"]) for r in rows] == [1 / 3] * 3
    irebal = client.get(url, headers={**headers, "Accept": "application/vnd.plusalpha.irebal+csv"})
    lines = irebal.get_data(as_text=True).strip().splitlines()
    assert sum(Decimal(line.split(",")[1]) for line in lines[1:]) == Decimal("100.00")
    assert lines[-1].startswith("$CASH,")
    orion = json.loads(client.get(f"{url}?format=orion", headers=headers).get_data())
    assert set(orion["securities"][0]) == {
        "ticker",
        "targetPercent",
        "lowerModelTolerancePercent",
        "upperModelTolerancePercent",
    }


def test_the_cache_lost_the_ledger_still_answers(api_app, client, make_key):
    from service.api.extensions import get_redis
    from service.cache import flush_all

    headers = bearer(make_key())
    before = client.get("/v1/models/agg-plus-baseline/weights", headers=headers).get_data()
    with api_app.app_context():
        assert flush_all(get_redis()) > 0
    after = client.get("/v1/models/agg-plus-baseline/weights", headers=headers).get_data()
    assert after == before


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer pa_live_not-a-key"}, 401),
        ({"Authorization": "Basic abc"}, 401),
    ],
)
def test_missing_or_bad_key_is_401(client, headers, status):
    response = client.get("/v1/models", headers=headers)
    assert response.status_code == status
    assert response.content_type == PROBLEM
    assert "WWW-Authenticate" in response.headers


def test_a_key_revoked_from_the_shell_fails_at_once(api_app, client, make_key):
    secret = make_key()
    assert client.get("/v1/models", headers=bearer(secret)).status_code == 200
    with api_app.app_context():
        key_id = key_for_secret(get_session(), secret).id
    result = api_app.test_cli_runner().invoke(args=["keys", "revoke", key_id])
    assert result.exit_code == 0, result.output
    assert client.get("/v1/models", headers=bearer(secret)).status_code == 401
    unknown = api_app.test_cli_runner().invoke(args=["keys", "revoke", "key_nope"])
    assert unknown.exit_code != 0
    assert "no key 'key_nope'" in unknown.output


def test_missing_scope_is_403(client, make_key):
    response = client.get("/v1/models", headers=bearer(make_key(scopes=["performance:read"])))
    assert response.status_code == 403
    assert "models:read" in response.json["detail"]


@pytest.mark.parametrize(
    "path",
    ["", "/weights", "/rebalances", "/rebalances/1"],
)
def test_unlicensed_model_is_404_like_a_missing_one(client, make_key, path):
    secret = make_key(models=["hy-plus-baseline"])
    unlicensed = client.get(f"/v1/models/agg-plus-baseline{path}", headers=bearer(secret))
    missing = client.get(f"/v1/models/no-such-model{path}", headers=bearer(secret))
    assert unlicensed.status_code == missing.status_code == 404
    assert unlicensed.content_type == missing.content_type == PROBLEM


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("as_of=2024-13-01", "as_of"),
        ("as_of=yesterday", "as_of"),
        ("format=xlsx", "format"),
        ("colour=blue", "colour"),
    ],
)
def test_bad_query_parameters_name_the_field(client, make_key, query, field):
    response = client.get(
        f"/v1/models/agg-plus-baseline/weights?{query}", headers=bearer(make_key())
    )
    assert response.status_code == 422
    assert response.content_type == PROBLEM
    assert [e["field"] for e in response.json["errors"]] == [field]


def test_no_version_in_force_before_the_first(client, make_key):
    response = client.get(
        "/v1/models/agg-plus-baseline/weights?as_of=2010-01-01", headers=bearer(make_key())
    )
    assert response.status_code == 404
    assert response.json["errors"][0]["field"] == "as_of"


def test_rebalances_page_newest_first_with_a_cursor(client, make_key):
    headers = bearer(make_key())
    first = client.get("/v1/models/agg-plus-baseline/rebalances?limit=2", headers=headers).json
    assert [r["version"] for r in first["data"]] == [3, 2]
    second = client.get(
        f"/v1/models/agg-plus-baseline/rebalances?limit=2&cursor={first['next_cursor']}",
        headers=headers,
    ).json
    assert [r["version"] for r in second["data"]] == [1]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "field"), [("limit=101", "limit"), ("limit=0", "limit"), ("cursor=abc", "cursor")]
)
def test_bad_paging_is_422(client, make_key, query, field):
    response = client.get(
        f"/v1/models/agg-plus-baseline/rebalances?{query}", headers=bearer(make_key())
    )
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == field
