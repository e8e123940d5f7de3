"""API keys: create, list and revoke them, with the admin scope only."""

from __future__ import annotations

import pytest

from service.api.extensions import get_session
from service.ledger import audit_events

from .conftest import bearer

PROBLEM = "application/problem+json"
SHOWN = {
    "id",
    "name",
    "tenant",
    "scopes",
    "models",
    "prefix",
    "created_at",
    "last_used_at",
    "revoked_at",
    "rate_limit",
}
NEW_KEY = {
    "name": "reader",
    "tenant": "tenant-b",
    "scopes": ["models:read"],
    "models": ["hy-plus-baseline"],
}


@pytest.fixture
def admin(make_key):
    return bearer(make_key(scopes=["admin"], name="admin"))


def test_create_a_key_then_use_its_secret(client, admin):
    response = client.post("/v1/keys", json=NEW_KEY, headers=admin)
    assert response.status_code == 201
    created = response.json
    assert set(created) == SHOWN | {"secret"}
    assert created["secret"].startswith("pa_live_")
    assert created["secret"].startswith(created["prefix"])
    assert created["id"].startswith("key_")
    assert {k: created[k] for k in NEW_KEY} == NEW_KEY
    assert created["revoked_at"] is None and created["last_used_at"] is None

    models = client.get("/v1/models", headers=bearer(created["secret"]))
    assert models.status_code == 200
    assert [m["id"] for m in models.json["data"]] == ["hy-plus-baseline"]
    assert client.get("/v1/keys", headers=bearer(created["secret"])).status_code == 403


def test_a_key_for_every_model(client, admin):
    body = {**NEW_KEY, "models": None, "scopes": ["models:read", "models:read"]}
    created = client.post("/v1/keys", json=body, headers=admin).json
    assert created["models"] is None
    assert created["scopes"] == ["models:read"]
    models = client.get("/v1/models", headers=bearer(created["secret"])).json["data"]
    assert len(models) > 1


def test_the_secret_is_never_listed(client, admin):
    created = client.post("/v1/keys", json=NEW_KEY, headers=admin).json
    listing = client.get("/v1/keys", headers=admin)
    assert listing.status_code == 200
    assert created["secret"] not in listing.get_data(as_text=True)
    shown = next(k for k in listing.json["data"] if k["id"] == created["id"])
    assert set(shown) == SHOWN
    assert shown == {k: v for k, v in created.items() if k != "secret"}


def test_revoke_then_the_secret_fails_at_once(api_app, client, admin):
    created = client.post("/v1/keys", json=NEW_KEY, headers=admin).json
    secret = bearer(created["secret"])
    assert client.get("/v1/models", headers=secret).status_code == 200

    revoked = client.delete(f"/v1/keys/{created['id']}", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json["id"] == created["id"]
    assert revoked.json["revoked_at"] is not None
    assert "secret" not in revoked.json
    failed = client.get("/v1/models", headers=secret)
    assert failed.status_code == 401
    assert failed.content_type == PROBLEM

    again = client.delete(f"/v1/keys/{created['id']}", headers=admin)
    assert again.status_code == 200
    assert again.json["revoked_at"] == revoked.json["revoked_at"]
    with api_app.app_context():
        actions = [e.action for e in audit_events(get_session(), limit=10)]
    assert actions == ["revoke_key", "revoke_key", "create_key"]


def test_revoking_an_unknown_key_is_404(client, admin):
    response = client.delete("/v1/keys/key_0000000000000000", headers=admin)
    assert response.status_code == 404
    assert response.content_type == PROBLEM
    assert response.json["errors"][0]["field"] == "key_id"


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/v1/keys"), ("post", "/v1/keys"), ("delete", "/v1/keys/key_0000000000000000")],
)
def test_a_key_without_admin_is_403(client, make_key, method, path):
    secret = make_key(scopes=["models:read", "performance:read", "rebalances:write"])
    response = getattr(client, method)(path, json=NEW_KEY, headers=bearer(secret))
    assert response.status_code == 403
    assert response.content_type == PROBLEM
    assert "admin" in response.json["detail"]


@pytest.mark.parametrize(("method", "path"), [("get", "/v1/keys"), ("post", "/v1/keys")])
def test_no_key_is_401(client, method, path):
    response = getattr(client, method)(path, json=NEW_KEY)
    assert response.status_code == 401
    assert response.content_type == PROBLEM


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"scopes": ["models:read", "superuser"]}, "scopes[1]"),
        ({"scopes": []}, "scopes"),
        ({"scopes": "admin"}, "scopes"),
        ({"models": ["agg-plus-baseline", "no-such-model"]}, "models[1]"),
        ({"models": []}, "models"),
        ({"name": ""}, "name"),
        ({"tenant": "t" * 201}, "tenant"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_fields_are_422_naming_the_field(client, admin, change, field):
    response = client.post("/v1/keys", json={**NEW_KEY, **change}, headers=admin)
    assert response.status_code == 422
    assert response.content_type == PROBLEM
    assert [e["field"] for e in response.json["errors"]] == [field]
    listed = client.get("/v1/keys", headers=admin).json["data"]
    assert [k["name"] for k in listed] == ["admin"]


@pytest.mark.parametrize("missing", ["name", "tenant", "scopes", "models"])
def test_every_field_is_required(client, admin, missing):
    body = {k: v for k, v in NEW_KEY.items() if k != missing}
    response = client.post("/v1/keys", json=body, headers=admin)
    assert response.status_code == 422
    assert [e["field"] for e in response.json["errors"]] == [missing]


def test_keys_page_newest_first_with_a_cursor(client, admin):
    names = [f"key-{i}" for i in range(5)]
    for name in names:
        response = client.post("/v1/keys", json={**NEW_KEY, "name": name}, headers=admin)
        assert response.status_code == 201
    expected = [*reversed(names), "admin"]

    seen, cursor = [], None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/v1/keys?{query}", headers=admin).json
        assert len(page["data"]) <= 2
        seen += [k["name"] for k in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected

    everything = client.get("/v1/keys", headers=admin).json
    assert [k["name"] for k in everything["data"]] == expected
    assert everything["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("cursor=key_nope", "cursor"),
        ("cursor=%00key", "cursor"),  # a NUL: PostgreSQL would refuse it (a 500 before)
        ("x=1", "x"),
    ],
)
def test_bad_paging_is_422(client, admin, query, field):
    response = client.get(f"/v1/keys?{query}", headers=admin)
    assert response.status_code == 422
    assert response.content_type == PROBLEM
    assert [e["field"] for e in response.json["errors"]] == [field]


def test_limit_100_is_allowed(client, admin):
    assert client.get("/v1/keys?limit=100", headers=admin).status_code == 200


def test_a_key_created_with_a_rate_limit_is_held_to_it(client, admin):
    created = client.post("/v1/keys", json={**NEW_KEY, "rate_limit": 2}, headers=admin).json
    assert created["rate_limit"] == 2
    path = "/v1/models/hy-plus-baseline/weights"
    statuses = [client.get(path, headers=bearer(created["secret"])).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert client.post("/v1/keys", json=NEW_KEY, headers=admin).json["rate_limit"] is None


@pytest.mark.parametrize("rate_limit", [0, -5, 1.5, "100", 2**31])
def test_a_rate_limit_that_is_not_a_positive_integer_is_refused(client, admin, rate_limit):
    response = client.post("/v1/keys", json={**NEW_KEY, "rate_limit": rate_limit}, headers=admin)
    assert response.status_code == 422
    assert [e["field"] for e in response.json["errors"]] == ["rate_limit"]


def test_plusalpha_keys_create_with_a_rate_limit(api_app, client):
    runner = api_app.test_cli_runner()
    args = ["keys", "create", "--name", "cli", "--scope", "models:read"]
    result = runner.invoke(args=[*args, "--rate-limit", "2"])
    assert result.exit_code == 0, result.output
    secret = result.output.rsplit(": ", 1)[1].strip()
    path = "/v1/models/hy-plus-baseline/weights"
    statuses = [client.get(path, headers=bearer(secret)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = runner.invoke(args=[*args, "--rate-limit", "0"])
    assert refused.exit_code == 2
    assert "--rate-limit" in refused.output
