"""The service against the OWASP API Security Top 10 (2023), beyond tenant isolation
(``tests/api/test_tenants.py``): what ``SECURITY.md`` cites, item by item.

* API5, function-level authorization: each operation of ``openapi.yaml`` needs the scope the
  endpoint table of docs/api.md gives it, found by calling it with keys that lack one scope
  each; a platform's key is refused the push and every admin operation.
* API3 / API8, unknown input: every request body refuses a field it does not know, at the top
  and in every nested object, and every query refuses an unknown parameter, naming it.
* API8, configuration: no debug mode, no stack trace or secret in a 500, no API key secret in
  the logs (SQL statements included) or the ledger, and Redis and database URLs carrying a
  password work, in the app, under gunicorn and in the CLI, without the password ever showing in
  a log, an answer or the CLI's output, even when the connection fails.
* API2, keys are rotated with no gap: ``POST /v1/keys/{key_id}/rotate`` and
  ``plusalpha keys rotate``.

The API tests run on both backends of ``tests/api/conftest.py``. The password tests need the
machine's PostgreSQL (trust auth takes any password) and start a ``redis-server`` of their own
with ``--requirepass`` on a free port.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import make_url, text
from werkzeug.exceptions import InternalServerError

import service.api.auth as auth_module
import service.ledger
from service.api.extensions import LEDGER, get_session
from service.api.scopes import SCOPES
from service.app import create_app
from service.config import VARIABLES
from service.ledger import audit_events, create_key, list_keys
from service.ledger.repository import rotate_key

from ..live import free_port, serve
from .conftest import bearer, close_app, empty_postgres_database, postgres_url, seed
from .test_tenants import BODIES, HEADERS, SCOPE_OF, call, operations, parameters, resolve

PROBLEM = "application/problem+json"
MODEL = "agg-plus-baseline"
UNKNOWN = "unexpected_field"
PASSWORD = "s3cret-Pw-91qz"
"""The password of the Redis and database URLs below: distinctive, so that a find is a leak."""
WRONG_PASSWORD = "wr0ng-Pw-38kd"
PLATFORM_SCOPES = (
    "models:read",
    "performance:read",
    "trades:write",
    "variants:write",
    "webhooks:write",
)
"""What a platform's key may hold; rebalances:write and admin are the firm's."""
SAMPLE_PATH = {
    "model_id": MODEL,
    "version": "1",
    "job_id": "no-such-job",
    "key_id": "key_0000000000000000",
    "webhook_id": "wh_000000000000000000000000",
    "delivery_id": "msg_000000000000000000000000",
    "shelf_id": "no-such-shelf",
    "variant_id": "agg-plus-baseline.no-such-variant",
}
"""A value of every path parameter (the operation's scope is checked before its object)."""
PLATFORM = {"name": "platform", "tenant": "tenant-b", "scopes": ["models:read"], "models": [MODEL]}


def url_of(path: str) -> str:
    return path.format(**SAMPLE_PATH)


# --- API5: function-level authorization --------------------------------------------------------


def test_every_documented_operation_has_its_scope():
    documented = {(method, path) for method, path, _ in operations()}
    assert documented == set(SCOPE_OF), (
        "tests/api/test_tenants.py SCOPE_OF must list exactly the operations of openapi.yaml"
    )


def test_each_operation_needs_the_scope_the_readme_gives(client, make_key):
    """A key lacking one scope is refused (403) exactly the operations of that scope."""
    all_but = {
        scope: bearer(make_key(scopes=[s for s in SCOPES if s != scope])) for scope in SCOPES
    }
    found = {}
    for method, path, _ in operations():
        refused = [
            scope
            for scope, key in all_but.items()
            if client.open(url_of(path), method=method.upper(), headers=key, json={}).status_code
            == 403
        ]
        found[(method, path)] = refused[0] if len(refused) == 1 else refused or None
        anonymous = client.open(url_of(path), method=method.upper(), json={})
        expected = 200 if SCOPE_OF[(method, path)] is None else 401
        assert anonymous.status_code == expected, f"{method.upper()} {path} without a key"
    assert found == SCOPE_OF


def test_a_platform_key_is_refused_the_push_and_every_admin_operation(client, make_key):
    key = bearer(make_key(scopes=PLATFORM_SCOPES))
    firm_only = {
        op: scope for op, scope in SCOPE_OF.items() if scope not in (None, *PLATFORM_SCOPES)
    }
    assert set(firm_only.values()) == {"rebalances:write", "admin", "metrics:read"}
    assert ("post", "/v1/models/{model_id}/rebalances") in firm_only
    for (method, path), scope in firm_only.items():
        headers = {**key, **{name: make() for name, make in HEADERS.items()}}
        response = client.open(
            url_of(path), method=method.upper(), headers=headers, json=BODIES.get((method, path))
        )
        assert response.status_code == 403, f"{method.upper()} {path}"
        assert response.content_type == PROBLEM
        assert scope in response.json["detail"]


# --- API9: inventory ---------------------------------------------------------------------------

UNDOCUMENTED = {
    ("get", "/v1/openapi.json"),
    ("get", "/v1/docs"),
    ("get", "/v1/docs/assets/{filename}"),
    ("get", "/static/{filename}"),
    ("get", "/"),
    ("get", "/models/{model_id}"),
    ("get", "/models/{model_id}.pdf"),
    ("get", "/assets/{name}"),
    ("get", "/v1/assets/{name}"),
}
"""What the app serves beyond the document: the document itself, its docs page and their
assets (no key, no data), Flask's static folder (the service has none: always 404), the
public site (``service.api.site``: pages, not API operations; tests/api/test_site.py) and the
stylesheets and icon the API's pages link (no key, no data)."""


def test_the_app_serves_exactly_the_documented_operations(app):
    served = {
        (method.lower(), re.sub(r"<(?:[^:>]*:)?([^>]+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(method, path) for method, path, _ in operations()}
    assert served - UNDOCUMENTED == documented


# --- API3 / API8: unknown fields and parameters ------------------------------------------------


def with_unknown_field(body, schema: dict, where: str = "") -> Iterator[tuple[str, object]]:
    """``(field, body)``: the body with an unknown field added to one of its objects, for each
    object the schema describes by its properties (maps of arbitrary keys, such as prices, are
    left alone); lists are entered through their first item."""
    schema = resolve(schema)
    if "allOf" in schema and len(schema["allOf"]) == 1:
        schema = resolve(schema["allOf"][0])
    if isinstance(body, dict) and "properties" in schema:
        yield (f"{where}.{UNKNOWN}" if where else UNKNOWN), {**body, UNKNOWN: 1}
        for name, value in body.items():
            inner = schema["properties"].get(name, {})
            for field, changed in with_unknown_field(value, inner, f"{where}.{name}".lstrip(".")):
                yield field, {**body, name: changed}
    elif isinstance(body, list) and body and "items" in schema:
        for field, changed in with_unknown_field(body[0], schema["items"], f"{where}[0]"):
            yield field, [changed, *body[1:]]


def test_every_body_refuses_an_unknown_field_naming_it(client, make_key):
    key = bearer(make_key(scopes=SCOPES))
    tried = set()
    for method, path, operation in operations():
        if "requestBody" not in operation:
            continue
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        for field, body in with_unknown_field(BODIES[(method, path)], schema):
            headers = {**key, **{name: HEADERS[name]() for name in parameters(operation, "header")}}
            response = client.open(url_of(path), method=method.upper(), headers=headers, json=body)
            assert response.status_code == 422, f"{method.upper()} {path} with {field}"
            assert response.json["errors"] == [
                {"field": field, "in": "json", "message": "Unknown field."}
            ]
            tried.add(field)
    assert {UNKNOWN, f"weights[0].{UNKNOWN}", f"accounts[0].holdings[0].{UNKNOWN}"} <= tried
    assert f"options.{UNKNOWN}" in tried


def test_every_query_refuses_an_unknown_parameter_naming_it(client, make_key):
    """Operations with a query and operations without one alike: a misspelt ``as_of`` must not
    silently give today's weights, nor a stray parameter pass unnoticed."""
    key = bearer(make_key(scopes=SCOPES))
    every = [(m, p) for m, p, _ in operations()]
    assert any(not parameters(op, "query", required_only=False) for _, _, op in operations())
    for method, path in every:
        response = client.open(f"{url_of(path)}?{UNKNOWN}=1", method=method.upper(), headers=key)
        assert response.status_code == 422, f"{method.upper()} {path}"
        assert response.json["errors"] == [
            {"field": UNKNOWN, "in": "query", "message": "Unknown field."}
        ]


def resolve_type(operation: dict, name: str) -> str:
    (schema,) = [p["schema"] for p in operation["parameters"] if p["name"] == name]
    return resolve(schema).get("type", "string")


def test_a_nul_in_any_path_parameter_is_a_404_naming_it(client, make_key):
    """On both ledgers: PostgreSQL refuses to compare a text holding a NUL, which reached it as
    a 500 before (``DELETE /v1/keys/{key_id}``, found by probing every route)."""
    key = bearer(make_key(scopes=SCOPES))
    tried = 0
    for method, path, operation in operations():
        for name in parameters(operation, "path"):
            if resolve_type(operation, name) != "string":
                continue  # no integer holds a NUL: the route does not match, a bare 404
            url = path.format(**{**SAMPLE_PATH, name: "x%00y"})
            response = call(client, method, url, key, operation, path)
            assert response.status_code == 404, f"{method.upper()} {path} with {name}"
            assert response.json["errors"] == [
                {"field": name, "in": "path", "message": f"No {name} holds a NUL character."}
            ]
            tried += 1
    assert tried > 20


# --- API8: configuration -----------------------------------------------------------------------


def test_the_app_of_the_default_settings_runs_without_debug(monkeypatch, tmp_path):
    for name in (*VARIABLES, "FLASK_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # the default var dir is relative
    app = create_app()
    assert app.debug is False
    assert app.testing is False
    assert not app.config["PROPAGATE_EXCEPTIONS"]


@pytest.mark.parametrize("debug", [False, True], ids=["as-served", "debug-by-mistake"])
def test_an_unexpected_error_is_a_bare_500(api_app, client, make_key, monkeypatch, debug):
    """Even with DEBUG set by mistake: no trace, no exception text, no secret."""
    api_app.config.update(TESTING=False, DEBUG=debug)
    secret = make_key(scopes=["admin"])
    message = f"cannot reach postgresql://postgres:{PASSWORD}@db/ledger for {secret}"

    def broken(*args, **kwargs):
        raise RuntimeError(message)

    monkeypatch.setattr(service.ledger, "list_keys", broken)
    response = client.get("/v1/keys", headers=bearer(secret))
    assert response.status_code == 500
    assert response.content_type == PROBLEM
    assert response.json == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": InternalServerError.description,
        "errors": [],
    }
    for shown in ("Traceback", "RuntimeError", PASSWORD, secret, "list_keys"):
        assert shown not in response.text


def log_everything(caplog) -> None:
    """Capture every record at DEBUG, SQLAlchemy's statements and parameters included (its
    logger stays at WARNING unless set)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")


def test_no_api_key_secret_in_the_logs_or_the_ledger(api_app, client, make_key, caplog):
    """Every log record at DEBUG, SQL statements and their parameters included."""
    log_everything(caplog)
    admin = make_key(scopes=["admin", "models:read"])
    unknown = "pa_live_" + "x" * 43
    created = client.post("/v1/keys", json=PLATFORM, headers=bearer(admin)).json
    rotated = client.post(f"/v1/keys/{created['id']}/rotate", headers=bearer(admin)).json
    secrets = {admin, unknown, created["secret"], rotated["secret"]}
    for secret in secrets:
        for url in ("/v1/models", f"/v1/models/{MODEL}/weights", "/v1/models/nope", "/v1/keys"):
            client.get(url, headers=bearer(secret))
        client.get("/v1/models?limit=x", headers=bearer(secret))
    assert "api_keys" in caplog.text, "the SQL statements were not logged: nothing was checked"
    with api_app.app_context():
        session = get_session()
        stored = [
            str(row)
            for table in ("api_keys", "audit_events")
            for row in session.execute(text(f"SELECT * FROM {table}"))
        ]
    for secret in secrets:
        assert secret not in caplog.text
        assert not [row for row in stored if secret in row]


def test_no_webhook_secret_in_the_logs(api_app, client, make_key, caplog):
    """A webhook's signing secret is kept in the ledger to sign with, but never logged: not in
    SQL statements' parameters at DEBUG, nor when it is made, rotated, shown or used."""
    log_everything(caplog)
    key = bearer(make_key(scopes=["webhooks:write"]))
    body = {"url": "https://93.184.216.34/hook", "events": ["model.rebalanced"]}
    created = client.post("/v1/webhooks", json=body, headers=key).json
    url = f"/v1/webhooks/{created['id']}"
    rotated = client.post(f"{url}/rotate-secret", headers=key).json
    for path in (url, "/v1/webhooks", f"{url}/deliveries"):
        assert client.get(path, headers=key).status_code == 200
    assert client.post(f"{url}/test", headers=key).status_code == 202
    assert "webhook_subscriptions" in caplog.text, "the SQL statements were not logged"
    for secret in (created["secret"], rotated["secret"]):
        assert secret not in caplog.text
        assert secret.removeprefix("whsec_") not in caplog.text


# --- API8: Redis and database URLs with a password ---------------------------------------------


@pytest.fixture(scope="module")
def password_redis() -> Iterator[str]:
    """The URL of a redis-server of this module's own that requires ``PASSWORD``."""
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--requirepass", PASSWORD]
        + ["--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    try:
        wait_for_redis(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def wait_for_redis(url: str, server: subprocess.Popen) -> None:
    connection = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        for _ in range(100):
            if server.poll() is not None:
                break
            try:
                connection.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        pytest.fail("redis-server with a password did not start")
    finally:
        connection.close()


@pytest.fixture
def password_settings(tmp_path, postgres_unreachable, password_redis) -> dict:
    """App settings whose Redis and database URLs carry ``PASSWORD``, on an empty ledger."""
    if postgres_unreachable:
        pytest.skip(postgres_unreachable)
    empty_postgres_database(postgres_url())
    redis.Redis.from_url(password_redis).flushdb()
    database = make_url(postgres_url()).set(password=PASSWORD)
    return {
        "VAR_DIR": str(tmp_path / "var"),
        "DATA_DIR": None,
        "DATABASE_URL": database.render_as_string(hide_password=False),
        "REDIS_URL": password_redis,
    }


def cli_secret(output: str) -> str:
    """The secret ``plusalpha keys create`` or ``keys rotate`` printed."""
    return re.search(r"pa_live_[\w-]+", output).group(0)


def test_urls_with_a_password_work_and_never_show_it(password_settings, caplog):
    log_everything(caplog)
    app = create_app(password_settings)
    try:
        seed(app)
        runner = app.test_cli_runner()
        created = runner.invoke(args=["keys", "create", "--name", "pw", "--scope", "models:read"])
        rebuilt = runner.invoke(args=["cache", "rebuild"])
        assert created.exit_code == rebuilt.exit_code == 0, created.output + rebuilt.output
        key = bearer(cli_secret(created.output))
        client = app.test_client()
        health = client.get("/v1/health")
        assert health.json == {"status": "ok", "redis": "ok", "ledger": "ok"}
        assert client.get(f"/v1/models/{MODEL}/weights", headers=key).status_code == 200
        answers = [
            health,
            client.get("/v1/models/nope", headers=key),
            client.get(f"/v1/models/{MODEL}/weights?x=1", headers=key),
            client.get("/v1/models", headers=bearer("pa_live_unknown")),
        ]
    finally:
        close_app(app)
    assert [a.status_code for a in answers] == [200, 404, 422, 401]
    shown = [created.output, rebuilt.output, caplog.text, *(a.text for a in answers)]
    assert not [output for output in shown if PASSWORD in output]


def test_urls_with_a_password_work_under_gunicorn(password_settings):
    app = create_app(password_settings)
    try:
        seed(app)
        created = app.test_cli_runner().invoke(
            args=["keys", "create", "--name", "pw", "--scope", "models:read"]
        )
    finally:
        close_app(app)
    environ = {
        "PLUSALPHA_VAR_DIR": password_settings["VAR_DIR"],
        "DATABASE_URL": password_settings["DATABASE_URL"],
        "REDIS_URL": password_settings["REDIS_URL"],
    }
    with serve(environ) as base:
        health = requests.get(f"{base}/v1/health", timeout=30)
        weights = requests.get(
            f"{base}/v1/models/{MODEL}/weights",
            headers=bearer(cli_secret(created.output)),
            timeout=30,
        )
    assert health.json() == {"status": "ok", "redis": "ok", "ledger": "ok"}
    assert weights.status_code == 200
    assert PASSWORD not in health.text + weights.text


def test_a_failing_connection_does_not_print_its_password(password_settings):
    """What an operator's terminal shows when Redis refuses the password, or the database is
    down: an error (exit status 1) without the password."""
    wrong_redis = password_settings["REDIS_URL"].replace(PASSWORD, WRONG_PASSWORD)
    dead_database = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/ledger"
    plusalpha = str(Path(sys.executable).with_name("plusalpha"))
    environ = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    environ["PLUSALPHA_VAR_DIR"] = password_settings["VAR_DIR"]
    service.ledger.upgrade(password_settings["DATABASE_URL"])  # cache rebuild creates no ledger
    runs = {
        "redis.exceptions.AuthenticationError": (
            {"REDIS_URL": wrong_redis, "DATABASE_URL": password_settings["DATABASE_URL"]},
            ["cache", "rebuild"],
        ),
        "sqlalchemy.exc.OperationalError": (
            {"REDIS_URL": password_settings["REDIS_URL"], "DATABASE_URL": dead_database},
            ["keys", "create", "--name", "x", "--scope", "models:read"],
        ),
    }
    started = {
        error: subprocess.Popen(
            [plusalpha, *args],
            env={**environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for error, (env, args) in runs.items()
    }
    for error, process in started.items():
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 1, output
        assert error in output, output
        assert PASSWORD not in output and WRONG_PASSWORD not in output


# --- API2: key rotation ------------------------------------------------------------------------


@pytest.fixture
def admin(make_key) -> dict:
    return bearer(make_key(scopes=["admin"], name="operator"))


def settings_of(key: dict) -> dict:
    """What a key may do: everything shown but its identity and its use."""
    own = ("id", "prefix", "secret", "created_at", "last_used_at", "revoked_at")
    return {name: value for name, value in key.items() if name not in own}


def test_a_rotated_key_is_replaced_at_once_by_one_with_the_same_licence(api_app, client, admin):
    created = client.post("/v1/keys", json=PLATFORM, headers=admin).json
    old = bearer(created["secret"])
    before = client.get("/v1/models", headers=old)  # the old key's record is now cached
    assert before.status_code == 200

    rotated = client.post(f"/v1/keys/{created['id']}/rotate", headers=admin)
    assert rotated.status_code == 201
    new = rotated.json
    assert set(new) == set(created)  # the shape of POST /v1/keys, secret included
    assert new["id"] != created["id"] and new["secret"] != created["secret"]
    assert new["secret"].startswith(new["prefix"])
    assert settings_of(new) == settings_of(created)
    assert new["revoked_at"] is None

    failed = client.get("/v1/models", headers=old)
    assert failed.status_code == 401
    assert failed.content_type == PROBLEM
    after = client.get("/v1/models", headers=bearer(new["secret"]))
    assert after.status_code == 200
    assert after.json == before.json
    listed = {k["id"]: k for k in client.get("/v1/keys", headers=admin).json["data"]}
    assert listed[created["id"]]["revoked_at"] is not None
    assert listed[new["id"]]["revoked_at"] is None
    with api_app.app_context():
        events = audit_events(get_session(), limit=2)
    assert [(e.action, e.detail["key"]) for e in events] == [
        ("revoke_key", created["id"]),
        ("create_key", new["id"]),
    ]


def test_a_revoked_or_unknown_key_is_not_rotated(client, admin):
    created = client.post("/v1/keys", json=PLATFORM, headers=admin).json
    assert client.post(f"/v1/keys/{created['id']}/rotate", headers=admin).status_code == 201
    again = client.post(f"/v1/keys/{created['id']}/rotate", headers=admin)
    assert again.status_code == 409
    assert again.json["errors"][0]["field"] == "key_id"
    unknown = client.post("/v1/keys/key_0000000000000000/rotate", headers=admin)
    assert unknown.status_code == 404
    assert len(client.get("/v1/keys", headers=admin).json["data"]) == 3


def test_a_rotation_that_fails_leaves_the_old_key_working(client, admin, monkeypatch):
    """One transaction: a failure before the commit issues nothing and revokes nothing."""
    created = client.post("/v1/keys", json=PLATFORM, headers=admin).json

    def broken(*args, **kwargs):
        raise RuntimeError("the ledger failed mid-rotation")

    monkeypatch.setattr(auth_module, "revoke", broken)
    assert client.post(f"/v1/keys/{created['id']}/rotate", headers=admin).status_code == 500
    assert client.get("/v1/models", headers=bearer(created["secret"])).status_code == 200
    listed = client.get("/v1/keys", headers=admin).json["data"]
    assert [k["name"] for k in listed] == ["platform", "operator"]
    assert listed[0]["revoked_at"] is None


def test_of_two_rotations_of_one_key_at_once_one_wins(api_app):
    """The second waits for the first's transaction, then finds the key revoked: one successor."""
    sessions = api_app.extensions[LEDGER].get()
    with sessions() as session:
        key, _ = create_key(session, name="raced", tenant="t", scopes=["models:read"])
        session.commit()
    with sessions() as first, sessions() as second, ThreadPoolExecutor(1) as pool:
        assert rotate_key(first, key.id) is not None
        racing = pool.submit(rotate_key, second, key.id)
        first.commit()
        assert racing.result() is None
        second.rollback()
    with sessions() as session:
        raced = [k for k in list_keys(session, limit=100) if k.name == "raced"]
    assert sorted(k.revoked_at is None for k in raced) == [False, True]


def test_plusalpha_keys_rotate(api_app, client, admin):
    created = client.post("/v1/keys", json=PLATFORM, headers=admin).json
    assert client.get("/v1/models", headers=bearer(created["secret"])).status_code == 200
    runner = api_app.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate", created["id"]])
    assert result.exit_code == 0, result.output
    secret = cli_secret(result.output)
    assert secret != created["secret"]
    assert client.get("/v1/models", headers=bearer(created["secret"])).status_code == 401
    models = client.get("/v1/models", headers=bearer(secret))
    assert [m["id"] for m in models.json["data"]] == [MODEL]

    again = runner.invoke(args=["keys", "rotate", created["id"]])
    assert again.exit_code == 1
    assert created["id"] in again.output
    assert client.get("/v1/models", headers=bearer(secret)).status_code == 200
