"""Variants and shelves through a real gunicorn server and a real RQ worker (issue 13,
acceptance 1).

One server and one worker for the module, configured through their environment as in
production: the ledger on the machine's PostgreSQL (``PLUSALPHA_TEST_POSTGRES_URL``, emptied
first), the cache and the queue on a database of the machine's Redis of their own
(``PLUSALPHA_TEST_VARIANTS_REDIS_URL``, default database 10 of the server of
``PLUSALPHA_TEST_REDIS_URL``), the data a directory of the sample's real-ticker series to
December 2018 (37 monthly rebalances a model: a build takes seconds). The module is skipped,
saying why, only when a server cannot be reached.

A tenant (``acme``) creates variants with its key and waits, as a platform would, for
``GET /v1/models/{id}`` to say ``ready``; the builds are the worker's RQ jobs. What is checked
is what the tenant checks: the weights of every version, the volatility against the base
model's, that every model route answers, and that another tenant's key gets 404 everywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests

from service.api.extensions import get_redis, get_session
from service.app import create_app
from service.config import VARIABLES, settings_from_env
from service.engine.backtest import run_backtests
from service.engine.data import write_data
from service.engine.sample import REAL_ETFS, SCHWAB_ETFS
from service.ledger import create_key, put_shelf
from service.publishing import publish_definitions
from service.worker.jobs import publish_performance
from tests.worker.test_jobs import through_as_of

from ..live import serve
from .conftest import (
    close_app,
    emptied_services,
    flush_redis,
    machine_redis_url,
    postgres_url,
)

REDIS_URL = machine_redis_url("PLUSALPHA_TEST_VARIANTS_REDIS_URL", 10)
TIMEOUT = 30
BUILD_TIMEOUT = 300
"""A guard against waiting for ever for a build, not a measurement."""
BASE = "agg-plus-baseline"
SCOPES = ["models:read", "performance:read", "trades:write", "variants:write"]
KEYS = {
    "acme": {"tenant": "acme", "scopes": SCOPES},
    "acme-hy-only": {"tenant": "acme", "scopes": SCOPES, "models": ["hy-plus-baseline"]},
    "other": {"tenant": "other", "scopes": SCOPES},
    "admin": {"tenant": "plusalpha", "scopes": ["admin", "variants:write", "models:read"]},
}
NO_HY = {"base_model": BASE, "name": "IG no HY", "exclude_tickers": ["HYG", "JNK"]}
ROUTES = [
    "",
    "/weights",
    "/weights?format=csv",
    "/weights?format=irebal",
    "/weights?format=orion",
    "/weights?as_of=2017-06-30",
    "/rebalances",
    "/rebalances/1",
    "/trades",
    "/trades?from=1&to=2",
    "/performance",
    "/factsheet",
    "/factsheet?format=pdf",
]
"""Every read a model has, under ``/v1/models/{id}``."""
EVERY_SECTOR = sorted({etf[2] for etf in REAL_ETFS if etf[5] < "2018"})
"""The sectors of the real-ticker ETFs the test data holds."""
ACCOUNT = {"holdings": [{"ticker": "AGG", "quantity": 10}], "cash": 10000.0}


class Live:
    def __init__(self, base: str, keys: dict[str, str], shelf: list[str]):
        self.base, self.keys, self.shelf = base, keys, shelf

    def call(self, method: str, path: str, key: str = "acme", **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.keys[key]}", **kwargs.pop("headers", {})}
        return requests.request(
            method, self.base + path, headers=headers, timeout=TIMEOUT, **kwargs
        )

    def create(self, body: dict, key: str = "acme") -> requests.Response:
        return self.call("POST", "/v1/variants", key, json=body)

    def ready(self, body: dict) -> dict:
        """Create the variant, wait for its build; the model as ``GET /v1/models/{id}`` shows it."""
        created = self.create(body)
        assert created.status_code == 202, created.text
        location = created.headers["Location"]
        deadline = time.monotonic() + BUILD_TIMEOUT
        while time.monotonic() < deadline:
            model = self.call("GET", location).json()
            if model["variant"]["status"] != "building":
                assert model["variant"]["status"] == "ready", model["variant"]
                return model
            time.sleep(0.5)
        pytest.fail(f"{location} was not built")

    def versions(self, model_id: str) -> list[dict]:
        page = self.call("GET", f"/v1/models/{model_id}/rebalances?limit=100").json()
        assert page["next_cursor"] is None
        return page["data"]


@pytest.fixture(scope="module")
def live(tmp_path_factory, postgres_unreachable, small_sample):
    emptied_services(postgres_unreachable, REDIS_URL)
    root = tmp_path_factory.mktemp("variants")
    data = through_as_of(small_sample)
    write_data(data, root / "data")
    environ = {
        "PLUSALPHA_VAR_DIR": str(root / "var"),
        "PLUSALPHA_DATA_DIR": str(root / "data"),
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": postgres_url(),
        "PLUSALPHA_MAX_VARIANTS_PER_TENANT": "5",
    }
    shelf = [t for t in SCHWAB_ETFS if t in data.securities.index]
    app = create_app(settings_from_env(environ))
    try:
        with app.app_context():
            session = get_session()
            publish_definitions(session)
            put_shelf(session, "schwab-etfs", "Schwab bond ETFs", shelf)
            keys = {
                role: create_key(session, name=role, **fields)[1] for role, fields in KEYS.items()
            }
            session.commit()
            publish_performance(get_redis(), data, run_backtests(data, [BASE]))
    finally:
        close_app(app)
    worker = start_worker(environ, root / "worker.log")
    try:
        with serve(environ) as base:
            yield Live(base, keys, shelf)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        flush_redis(REDIS_URL)


def start_worker(environ: dict, log: Path) -> subprocess.Popen:
    """An RQ worker of the service's class on its queue, with the app's variables from
    ``environ`` only (RQ's own class may take a minute to stop: ``MeasuredWorker.unsubscribe``)."""
    env = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    rq = Path(sys.executable).with_name("rq")
    command = [str(rq), "worker", "--url", REDIS_URL, "plusalpha"]
    command += ["--worker-class", "service.worker.figures.MeasuredWorker"]
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env | environ, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def no_hy(live) -> dict:
    return live.ready({**NO_HY, "risk_multiplier": 0.8})


@pytest.fixture(scope="module")
def on_shelf(live) -> dict:
    return live.ready(
        {"base_model": BASE, "name": "Schwab", "shelf": "schwab-etfs", "max_position": 0.3}
    )


def test_a_variant_without_hy_at_lower_risk_is_built_and_holds_neither(live, no_hy):
    assert no_hy["id"] == "agg-plus-baseline.acme-ig-no-hy"
    assert (
        no_hy["risk_multiplier"] == 0.8 and no_hy["variant"]["settings"]["risk_multiplier"] == 0.8
    )
    versions = live.versions(no_hy["id"])
    assert len(versions) == 37  # every month from December 2015 to December 2018
    assert all(not {"HYG", "JNK"} & set(v["weights"]) for v in versions)
    base = live.call("GET", f"/v1/models/{BASE}/performance").json()["statistics"]
    ours = live.call("GET", f"/v1/models/{no_hy['id']}/performance").json()["statistics"]
    assert ours["volatility"] < base["volatility"]
    assert no_hy["variant"]["notes"]["min_variance_months"] == 0


def test_a_shelf_variant_holds_only_the_shelf(live, on_shelf):
    versions = live.versions(on_shelf["id"])
    assert versions and all(set(v["weights"]) <= set(live.shelf) for v in versions)
    shelves = live.call("GET", "/v1/shelves").json()["data"]
    assert [(s["id"], s["tickers"]) for s in shelves] == [("schwab-etfs", live.shelf)]


def test_a_ready_variant_has_every_route_of_a_model(live, no_hy):
    model_id = no_hy["id"]
    for route in ROUTES:
        answer = live.call("GET", f"/v1/models/{model_id}{route}")
        assert answer.status_code == 200, (route, answer.text)
        etag = answer.headers.get("ETag")
        if etag:
            again = live.call(
                "GET", f"/v1/models/{model_id}{route}", headers={"If-None-Match": etag}
            )
            assert again.status_code == 304, route
        assert "RateLimit-Remaining" in answer.headers
    first = live.call("GET", f"/v1/models/{model_id}/rebalances/1").json()["provenance"]
    assert first["definition"]["id"] == model_id and len(first["data_hash"]) == 64
    assert first["definition"]["universe"]["tickers"] == no_hy["universe"]["tickers"]
    trades = live.call("POST", f"/v1/models/{model_id}/accounts/trades", json=ACCOUNT)
    assert trades.status_code == 200 and trades.json()["model_id"] == model_id
    listed = [m["id"] for m in live.call("GET", "/v1/models").json()["data"]]
    assert model_id in listed


def test_another_tenant_gets_404_on_every_route_of_the_variant(live, no_hy):
    model_id = no_hy["id"]
    for key in ("other", "acme-hy-only"):  # another tenant; acme's key that may not read the base
        for route in ROUTES:
            answer = live.call("GET", f"/v1/models/{model_id}{route}", key)
            assert answer.status_code == 404, (key, route)
            assert model_id not in answer.text.replace(f"no model '{model_id}'", "")
        trades = live.call("POST", f"/v1/models/{model_id}/accounts/trades", key, json=ACCOUNT)
        assert trades.status_code == 404
        assert model_id not in [m["id"] for m in live.call("GET", "/v1/models", key).json()["data"]]
    assert live.call("GET", f"/v1/variants/{model_id}", "other").status_code == 404
    assert live.call("DELETE", f"/v1/variants/{model_id}", "other").status_code == 404
    assert live.call("GET", "/v1/variants", "other").json()["data"] == []


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"base_model": "no-such-model"}, "base_model", "Must be one of the nine"),
        ({"base_model": "hy-plus-baseline"}, None, None),  # acme-hy-only reads it: see below
        ({"exclude_tickers": ["HYG", "NOPE"]}, "exclude_tickers[1]", "'NOPE' is not in the data."),
        ({"exclude_sectors": ["crypto"]}, "exclude_sectors[0]", "'crypto' is not a sector."),
        ({"substitutions": {"AGG": "NOPE"}}, "substitutions.AGG", "'NOPE' is not in the data."),
        (
            {"exclude_tickers": ["AGG"], "substitutions": {"AGG": "BND"}},
            "substitutions.AGG",
            "AGG is both excluded and substituted.",
        ),
        ({"risk_multiplier": 3.5}, "risk_multiplier", "less than or equal to 3.0"),
        ({"risk_multiplier": 0.1}, "risk_multiplier", "greater than or equal to 0.25"),
        ({"shelf": "no-such-shelf"}, "shelf", "No shelf 'no-such-shelf'."),
        (
            {"shelf": "schwab-etfs", "max_position": 0.2},
            "max_position",
            "4 ETFs at most 20% each cannot make 100%.",
        ),
        ({"exclude_sectors": EVERY_SECTOR}, "exclude_sectors", "Leaves the universe empty."),
        ({"max_sector": 0}, "max_sector", "Must be greater than 0"),
        ({"annual_fee": 0.5}, "annual_fee", "less than or equal to 0.05"),
    ],
)
def test_each_bad_input_is_a_422_naming_its_field(live, change, field, message):
    if field is None:
        answer = live.create({**NO_HY, **change}, "acme-hy-only")
        assert answer.status_code == 202  # its key may read hy-plus-baseline
        answer = live.create({**NO_HY, "base_model": BASE}, "acme-hy-only")
        field, message = "base_model", "is not one of the nine models this key may read"
    else:
        answer = live.create({**NO_HY, **change})
    assert answer.status_code == 422, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    errors = answer.json()["errors"]
    assert [e["field"] for e in errors] == [field]
    assert message in errors[0]["message"]


def test_the_tenants_limit_is_a_422_naming_tenant(live, no_hy, on_shelf):
    created = []
    while True:
        more = {"name": f"more {len(created)}", "annual_fee": 0.001 * (len(created) + 1)}
        answer = live.create({**NO_HY, **more})  # another fee: not the same variant again
        if answer.status_code != 202:
            break
        created.append(answer.json()["id"])
        assert len(created) < 10
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "tenant"
    assert "5 variants, the most a tenant may have" in answer.json()["errors"][0]["message"]
    for variant_id in created:  # retired ones do not count
        assert live.call("DELETE", f"/v1/variants/{variant_id}").status_code == 200
    assert live.create({**NO_HY, "name": "one more"}).status_code == 202


def test_a_retired_variant_answers_410_and_keeps_its_history(live, on_shelf):
    model_id = on_shelf["id"]
    retired = live.call("DELETE", f"/v1/variants/{model_id}")
    assert retired.status_code == 200 and retired.json()["retired_at"]
    for route in ("", "/weights", "/rebalances", "/performance"):
        answer = live.call("GET", f"/v1/models/{model_id}{route}")
        assert answer.status_code == 410, route
        assert answer.headers["Content-Type"] == "application/problem+json"
    assert live.call("GET", f"/v1/models/{model_id}", "other").status_code == 404
    listed = {v["id"]: v for v in live.call("GET", "/v1/variants").json()["data"]}
    assert listed[model_id]["retired_at"] and listed[model_id]["status"] == "ready"
    assert model_id not in [m["id"] for m in live.call("GET", "/v1/models").json()["data"]]


def test_an_admin_key_may_create_for_a_tenant_and_lists_every_tenant(live, no_hy):
    answer = live.create({**NO_HY, "name": "made for other", "tenant": "other"}, "admin")
    assert answer.status_code == 202 and answer.json()["tenant"] == "other"
    tenants = {v["tenant"] for v in live.call("GET", "/v1/variants", "admin").json()["data"]}
    assert {"acme", "other"} <= tenants
    refused = live.create({**NO_HY, "tenant": "other"})  # not an admin key
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["field"] == "tenant"


def test_the_month_a_variant_holds_is_never_recorded_twice(live, no_hy):
    versions = live.versions(no_hy["id"])
    months = [v["as_of"] for v in versions]
    assert len(months) == len(set(months))
    assert pd.Series(months).is_monotonic_decreasing
