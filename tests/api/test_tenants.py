"""Tenant isolation (OWASP API1, broken object-level authorization) on every operation of
``openapi.yaml``.

Tenant A holds a key with every scope, licensed to one model, and owns objects of every kind a
path can name: its model, a version it pushed, a background job it queued (a batch over 1,000
accounts, run to the end so the job holds a result), keys and variants (one built, whose model
routes are all called too, and new ones to show and retire). Tenant B holds a key with every
scope but admin, licensed to another model. Every operation of the committed OpenAPI document,
so a new route is covered as soon as it is documented, is called on A's objects with B's key
(404, or 403 where B lacks the scope: never a 2xx, and never a body holding A's data) and then
with A's key, which must succeed: that proves the objects are real, so B's 404 is a refusal
and not a miss. A route whose path names an object this module cannot make fails the test.

The admin scope is firm-wide by design (SECURITY.md): key management belongs to the firm's
operators, so an admin key sees every tenant's keys whatever its own tenant;
``test_an_admin_key_is_firm_wide`` states it, so that a change of that design is deliberate.

``SCOPE_OF`` (the endpoint table of docs/api.md) and ``BODIES`` (a valid body per operation) are
also used by ``tests/test_security.py``.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterator

import pandas as pd
import pytest
import yaml
from rq import Queue, SimpleWorker

from schemas.accounts import MAX_BATCH
from service.api.extensions import get_redis, get_session
from service.api.scopes import SCOPES
from service.engine.backtest import run_backtests
from service.engine.models import MODELS
from service.engine.performance import truncate
from service.engine.sample import SCHWAB_ETFS
from service.engine.variants import spec_from_definition
from service.ledger import get_definition, put_shelf
from service.worker.handles import QUEUE, handles
from service.worker.jobs import performance_bodies, store_documents
from service.worker.variants import finish
from tests.test_openapi import DOCUMENT

from .conftest import bearer

MODEL_A = "agg-plus-baseline"
MODEL_B = "hy-plus-baseline"
TENANT_A = "tenant-a-7c1e"
TENANT_B = "tenant-b-42d0"
NOTE_A = "tenant A's own note 5f9b"
WEBHOOK_A = "tenant A's receiver 81d3"
WEBHOOK_URL = "https://93.184.216.34/hooks/a"
"""A literal public address (the URL rules resolve it without DNS)."""
PERFORMANCE_AS_OF = "2018-12"

SCOPE_OF = {
    ("get", "/v1/health"): None,
    ("get", "/v1/models"): "models:read",
    ("get", "/v1/models/{model_id}"): "models:read",
    ("get", "/v1/models/{model_id}/weights"): "models:read",
    ("get", "/v1/models/{model_id}/rebalances"): "models:read",
    ("get", "/v1/models/{model_id}/rebalances/{version}"): "models:read",
    ("get", "/v1/models/{model_id}/trades"): "models:read",
    ("get", "/v1/models/{model_id}/performance"): "performance:read",
    ("get", "/v1/models/{model_id}/factsheet"): "performance:read",
    ("get", "/v1/performance"): "performance:read",
    ("post", "/v1/models/{model_id}/rebalances"): "rebalances:write",
    ("post", "/v1/models/{model_id}/accounts/trades"): "trades:write",
    ("post", "/v1/models/{model_id}/accounts/trades:batch"): "trades:write",
    ("get", "/v1/jobs/{job_id}"): "trades:write",
    ("get", "/v1/keys"): "admin",
    ("post", "/v1/keys"): "admin",
    ("delete", "/v1/keys/{key_id}"): "admin",
    ("post", "/v1/keys/{key_id}/rotate"): "admin",
    ("get", "/metrics"): "metrics:read",
    ("get", "/v1/webhooks"): "webhooks:write",
    ("post", "/v1/webhooks"): "webhooks:write",
    ("get", "/v1/webhooks/{webhook_id}"): "webhooks:write",
    ("patch", "/v1/webhooks/{webhook_id}"): "webhooks:write",
    ("delete", "/v1/webhooks/{webhook_id}"): "webhooks:write",
    ("post", "/v1/webhooks/{webhook_id}/rotate-secret"): "webhooks:write",
    ("post", "/v1/webhooks/{webhook_id}/test"): "webhooks:write",
    ("get", "/v1/webhooks/{webhook_id}/deliveries"): "webhooks:write",
    ("post", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"): "webhooks:write",
    ("get", "/v1/shelves"): "models:read",
    ("get", "/v1/shelves/{shelf_id}"): "models:read",
    ("get", "/v1/variants"): "variants:write",
    ("post", "/v1/variants"): "variants:write",
    ("get", "/v1/variants/{variant_id}"): "variants:write",
    ("delete", "/v1/variants/{variant_id}"): "variants:write",
}
"""The scope each operation needs (None: no key), as the endpoint table of docs/api.md says."""

ACCOUNT = {
    "holdings": [{"ticker": "AGG", "quantity": 10}],
    "cash": 1000.0,
    "prices": {"AGG": 100.0},
    "options": {"mode": "full", "fractional": True},
}
BODIES = {
    ("post", "/v1/keys"): {
        "name": "made by the caller",
        "tenant": TENANT_A,
        "scopes": ["models:read"],
        "models": [MODEL_A],
    },
    ("post", "/v1/models/{model_id}/rebalances"): {
        "effective_date": "2024-11-01",
        "weights": [{"ticker": "AGG", "weight": 0.6}, {"ticker": "LQD", "weight": 0.4}],
        "note": NOTE_A,
    },
    ("post", "/v1/webhooks"): {
        "url": WEBHOOK_URL,
        "events": ["model.rebalanced"],
        "models": None,
        "description": WEBHOOK_A,
    },
    ("patch", "/v1/webhooks/{webhook_id}"): {"description": WEBHOOK_A + " (changed)"},
    ("post", "/v1/models/{model_id}/accounts/trades"): ACCOUNT,
    ("post", "/v1/variants"): {
        "base_model": MODEL_A,
        "name": "made by the caller",
        "exclude_tickers": ["HYG", "JNK"],
        "risk_multiplier": 0.8,
    },
    ("post", "/v1/models/{model_id}/accounts/trades:batch"): {
        "accounts": [{k: ACCOUNT[k] for k in ("holdings", "cash")}] * 2,
        "prices": ACCOUNT["prices"],
        "options": ACCOUNT["options"],
    },
}
"""A valid request body of each operation that takes one (on tenant A's model)."""

HEADERS = {"Idempotency-Key": lambda: uuid.uuid4().hex}
SHELF = "schwab-etfs"
VARIANT_NAME = "tenant A's own variant 3d8c"
FOR_B = {
    ("get", "/v1/shelves/{shelf_id}"): {200},  # a shelf is no tenant's: it lists public tickers
    ("post", "/v1/variants"): {422},  # naming base_model: B may not read A's model
}
"""What B gets where it is not the rule's 404 (or 200 for a collection, 403 for admin)."""
"""A valid value of each required request header, made afresh for every request."""


@functools.cache
def openapi() -> dict:
    """The committed ``openapi.yaml``."""
    return yaml.safe_load(DOCUMENT.read_text())


def resolve(node: dict) -> dict:
    """``node``, or the component its ``$ref`` names."""
    while "$ref" in node:
        node = functools.reduce(dict.get, node["$ref"].lstrip("#/").split("/"), openapi())
    return node


def operations() -> Iterator[tuple[str, str, dict]]:
    """``(method, path, operation)`` of every operation of the committed ``openapi.yaml``, the
    operation's ``parameters`` resolved and including those its path declares for every method."""
    for path, item in openapi()["paths"].items():
        shared = item.get("parameters", [])
        for method, operation in item.items():
            if method != "parameters":
                parameters = [resolve(p) for p in shared + operation.get("parameters", [])]
                yield method, path, {**operation, "parameters": parameters}


def parameters(operation: dict, location: str, required_only: bool = True) -> list[str]:
    """The names of the operation's parameters ``in`` location (required ones by default)."""
    return [
        p["name"]
        for p in operation["parameters"]
        if p["in"] == location and (p.get("required") or not required_only)
    ]


def call(client, method: str, url: str, key: dict, operation: dict, path: str):
    """The operation on ``url`` with ``key``, its body from BODIES and its required headers."""
    headers = {**key, **{name: HEADERS[name]() for name in parameters(operation, "header")}}
    body = BODIES.get((method, path)) if "requestBody" in operation else None
    return client.open(url, method=method.upper(), headers=headers, json=body)


def unmade(method: str, path: str, operation: dict, objects: dict) -> str | None:
    """Why this module cannot call the operation yet, or None when it can."""
    if (method, path) not in SCOPE_OF:
        return f"{method.upper()} {path}: no scope in SCOPE_OF (add the one of docs/api.md)"
    missing = [name for name in parameters(operation, "path") if name not in objects]
    if missing:
        return f"{method.upper()} {path}: no object of tenant A for {missing}"
    if "requestBody" in operation and (method, path) not in BODIES:
        return f"{method.upper()} {path}: no valid body in BODIES"
    headers = [name for name in parameters(operation, "header") if name not in HEADERS]
    if headers:
        return f"{method.upper()} {path}: no value for the headers {headers}"
    return None


@pytest.fixture(scope="module")
def performance_run(small_sample):
    """A short backtest of both tenants' models and the documents the worker publishes of it
    (built and rendered once)."""
    short = truncate(small_sample, pd.Period(PERFORMANCE_AS_OF, "M"))
    backtests = run_backtests(short, (MODEL_A, MODEL_B))
    return short, backtests, performance_bodies(short, backtests)


class TenantA:
    """Tenant A's key and objects, made through the API as the tenant would."""

    def __init__(self, api_app, client, make_key, performance_run):
        self.client = client
        self.key = bearer(make_key(scopes=SCOPES, models=[MODEL_A], tenant=TENANT_A, name="a"))
        self.variants = 0
        with api_app.app_context():
            store_documents(get_redis(), performance_run[2])
            put_shelf(get_session(), SHELF, "Schwab bond ETFs", SCHWAB_ETFS)
            get_session().commit()
        self.variant_id = self.new_variant(VARIANT_NAME)
        with api_app.app_context():
            # Built on the short data of the performance run, not by the job its creation
            # queued (which would backtest the whole sample): the routes are what is tested.
            Queue(QUEUE, connection=get_redis()).empty()
            short = performance_run[0]
            spec = spec_from_definition(get_definition(get_session(), self.variant_id).definition)
            finish(handles(api_app.config), short, spec.id, run_backtests(short, [spec])[spec.id])
        pushed = self.post(
            f"/v1/models/{MODEL_A}/rebalances",
            BODIES[("post", "/v1/models/{model_id}/rebalances")],
            {"Idempotency-Key": uuid.uuid4().hex},
        )
        self.version = pushed["version"]
        self.hash = pushed["hash"]
        batch = {"accounts": [{"cash": 100.0 * k} for k in range(MAX_BATCH + 1)]}
        self.job_id = self.post(f"/v1/models/{MODEL_A}/accounts/trades:batch", batch)["job_id"]
        with api_app.app_context():
            redis = get_redis()
            SimpleWorker([Queue(QUEUE, connection=redis)], connection=redis).work(burst=True)
        self.key_names: list[str] = []
        self.key_prefixes: list[str] = []
        self.webhooks: list[dict] = []
        self.delivery_ids: list[str] = []

    def post(self, url: str, body: dict, headers: dict | None = None) -> dict:
        response = self.client.post(url, json=body, headers={**self.key, **(headers or {})})
        assert response.status_code in (201, 202), response.json
        return response.json

    def new_variant(self, name: str | None = None) -> str:
        """A new variant of tenant A (building: its build is not run); its id. Each has a fee
        of its own: a variant identical to a live one is refused."""
        body = {**BODIES[("post", "/v1/variants")], "name": name or uuid.uuid4().hex}
        self.variants += 1
        return self.post("/v1/variants", {**body, "annual_fee": self.variants / 10_000})["id"]

    def new_key(self) -> str:
        """A new key of tenant A (made by its admin key); its id."""
        name = f"tenant A reader {len(self.key_names)}"
        body = {"name": name, "tenant": TENANT_A, "scopes": ["models:read"], "models": [MODEL_A]}
        created = self.post("/v1/keys", body)
        self.key_names.append(name)
        self.key_prefixes.append(created["prefix"])
        return created["id"]

    def new_webhook(self) -> str:
        """A new webhook subscription of tenant A; its id."""
        created = self.post("/v1/webhooks", BODIES[("post", "/v1/webhooks")])
        self.webhooks.append(created)
        return created["id"]

    def new_delivery(self) -> str:
        """A delivery (of a test event) of tenant A's latest webhook; its id."""
        delivery = self.post(f"/v1/webhooks/{self.webhooks[-1]['id']}/test", {})
        self.delivery_ids.append(delivery["id"])
        return delivery["id"]

    def objects(self) -> dict[str, Callable[[], str]]:
        """How to name each kind of tenant A's objects in a path, by parameter name (a path's
        parameters are made in order: a delivery belongs to the webhook made before it)."""
        return {
            "model_id": lambda: MODEL_A,
            "version": lambda: str(self.version),
            "job_id": lambda: self.job_id,
            "key_id": self.new_key,
            "webhook_id": self.new_webhook,
            "delivery_id": self.new_delivery,
            "shelf_id": lambda: SHELF,
            "variant_id": self.new_variant,
        }

    def markers(self) -> set[str]:
        """Strings that only tenant A's data holds."""
        return {
            MODEL_A,
            MODELS[MODEL_A].name,
            TENANT_A,
            NOTE_A,
            self.hash,
            self.job_id,
            *self.key_names,
            *self.key_prefixes,
            WEBHOOK_A,
            WEBHOOK_URL,
            *(w["id"] for w in self.webhooks),
            *(w["secret"] for w in self.webhooks),
            *self.delivery_ids,
            self.variant_id,
            VARIANT_NAME,
        }


@pytest.fixture
def tenant_a(api_app, client, make_key, performance_run) -> TenantA:
    return TenantA(api_app, client, make_key, performance_run)


@pytest.fixture
def tenant_b(make_key) -> dict:
    """Tenant B's key: every scope but admin, licensed to another model than A's."""
    scopes = [s for s in SCOPES if s != "admin"]
    return bearer(make_key(scopes=scopes, models=[MODEL_B], tenant=TENANT_B, name="b"))


@pytest.mark.parametrize("model", ["base", "variant"])
def test_tenant_b_reaches_nothing_of_tenant_a_on_any_operation(client, tenant_a, tenant_b, model):
    """Every operation on tenant A's model, and (``variant``) every operation that names a model
    on tenant A's variant of it."""
    failures, objects, called = [], tenant_a.objects(), 0
    if model == "variant":
        objects["model_id"] = lambda: tenant_a.variant_id
    for method, path, operation in operations():
        reason = unmade(method, path, operation, objects)
        if reason:
            failures.append(reason)
            continue
        if model == "variant" and "{model_id}" not in path:
            called += 1
            continue
        url = path.format(**{name: objects[name]() for name in parameters(operation, "path")})
        by_b = call(client, method, url, tenant_b, operation, path)
        by_a = call(client, method, url, tenant_a.key, operation, path)
        called += 1
        what = f"{method.upper()} {url}"
        scope = SCOPE_OF[(method, path)]
        if (method, path) in FOR_B:
            expected = FOR_B[(method, path)]
        elif scope == "admin":
            expected = {403}
        elif parameters(operation, "path"):
            expected = {404}
        elif method == "post":  # B's own new item (a webhook)
            expected = {201}
        else:  # a collection: B's own items only, or nothing (a public route)
            expected = {200}
        if by_b.status_code not in expected:
            failures.append(f"{what} with B's key: {by_b.status_code}, not {expected}")
        sent = url + json.dumps(BODIES.get((method, path)))
        leaked = sorted(m for m in tenant_a.markers() if m in by_b.text)
        leaked = [m for m in leaked if m not in sent]
        if leaked:
            failures.append(f"{what} with B's key shows tenant A's {leaked}")
        if not 200 <= by_a.status_code < 300:
            failures.append(f"{what} with A's own key: {by_a.status_code} {by_a.json}")
    assert not failures, "\n".join(failures)
    assert called == len(SCOPE_OF), "SCOPE_OF names operations openapi.yaml lacks"


def test_the_collections_show_tenant_b_its_own_items_only(client, tenant_a, tenant_b):
    models = client.get("/v1/models", headers=tenant_b).json["data"]
    assert [m["id"] for m in models] == [MODEL_B]
    rows = client.get("/v1/performance", headers=tenant_b).json["rows"]
    assert {r["model_id"] for r in rows if r["group"] != "passive_benchmark"} == {MODEL_B}
    table = client.get("/v1/performance?format=csv", headers=tenant_b).text
    assert MODEL_B in table and MODEL_A not in table
    assert MODEL_A in client.get("/v1/performance?format=csv", headers=tenant_a.key).text


def test_a_webhook_is_its_tenants_and_sees_what_its_key_may_read(client, tenant_a, make_key):
    """Another key of tenant A manages A's webhooks; B lists none of them."""
    webhook_id = tenant_a.new_webhook()
    sibling = bearer(make_key(scopes=["webhooks:write"], models=[MODEL_A], tenant=TENANT_A))
    other = bearer(make_key(scopes=["webhooks:write"], tenant=TENANT_B))
    listed = client.get("/v1/webhooks", headers=sibling).json["data"]
    assert [w["id"] for w in listed] == [webhook_id]
    assert client.get("/v1/webhooks", headers=other).json["data"] == []
    refused = client.post("/v1/webhooks", json={**BODIES[("post", "/v1/webhooks")],
                          "models": [MODEL_B]}, headers=tenant_a.key)  # fmt: skip
    assert refused.status_code == 422 and refused.json["errors"][0]["field"] == "models[0]"


def test_another_key_of_the_same_tenant_cannot_read_a_job(client, tenant_a, make_key):
    """A job's result is the queuing key's alone, even within its tenant (it may be licensed
    to other models)."""
    sibling = bearer(make_key(scopes=["trades:write"], models=[MODEL_A], tenant=TENANT_A))
    assert client.get(f"/v1/jobs/{tenant_a.job_id}", headers=tenant_a.key).status_code == 200
    assert client.get(f"/v1/jobs/{tenant_a.job_id}", headers=sibling).status_code == 404


def test_an_admin_key_is_firm_wide(client, tenant_a, make_key):
    """The admin scope is the firm's operators': whatever its tenant, an admin key lists and
    rotates every tenant's keys (SECURITY.md, API1). No platform key may hold it."""
    key_id = tenant_a.new_key()
    operator = bearer(make_key(scopes=["admin"], tenant=TENANT_B, name="operator"))
    listed = client.get("/v1/keys?limit=100", headers=operator).json["data"]
    assert {TENANT_A, TENANT_B} <= {k["tenant"] for k in listed}
    rotated = client.post(f"/v1/keys/{key_id}/rotate", headers=operator)
    assert rotated.status_code == 201
    assert rotated.json["tenant"] == TENANT_A
