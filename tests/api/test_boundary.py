"""The parser refuses what it cannot read, on every operation that takes a JSON body (issue 22).

The operations are those of the committed ``openapi.yaml`` with a ``requestBody``
(``tests/api/test_security.py`` checks that the app serves exactly the documented operations),
so a new one is covered as soon as it is documented; each is called with a key holding every
scope and its required headers, so that the request reaches the parser, and with a valid body
of ``tests/api/test_tenants.py`` changed one way at a time. Each refusal is a 4xx
``application/problem+json`` naming the field at fault, logs one line and stores nothing: the
ledger, every row of every table, is the same after as before. On both backends of
``tests/api/conftest.py``: a NUL reached PostgreSQL as a 500, a lone surrogate SQLite.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from service.api.bodies import MAX_JSON_DEPTH
from service.api.extensions import get_session
from service.api.log_filters import OncePerInterval
from service.api.scopes import SCOPES
from service.ledger.schema import Base

from .conftest import bearer
from .test_security import SAMPLE_PATH
from .test_tenants import BODIES, HEADERS, operations, parameters, resolve

PROBLEM = "application/problem+json"
JSON = "application/json"
WEBHOOKS = "/v1/webhooks"
KNOWN = {
    ("post", "/v1/models/{model_id}/accounts/trades"),
    ("post", "/v1/models/{model_id}/accounts/trades:batch"),
    ("post", "/v1/models/{model_id}/rebalances"),
    ("post", "/v1/variants"),
    ("post", "/v1/webhooks"),
    ("patch", "/v1/webhooks/{webhook_id}"),
    ("post", "/v1/keys"),
}
"""The operations that take a JSON body today: the enumeration must find at least these."""
NUL = "\x00"
LONE_SURROGATE = "\ud800"
UNSTORABLE = {
    NUL: "holds a NUL character (\\u0000)",
    LONE_SURROGATE: "holds a lone surrogate (\\ud800)",
}
"""Each character no ledger stores, and what its problem says (JSON escapes, as sent)."""


def body_operations() -> list[tuple[str, str, dict]]:
    return [(m, p, op) for m, p, op in operations() if "requestBody" in op]


def operation_id(operation: tuple[str, str, dict]) -> str:
    return f"{operation[0].upper()} {operation[1]}"


@pytest.fixture
def send(client, make_key) -> Callable:
    """``send(method, path, operation, data, content_type)``: the operation on tenant-a's objects
    (a webhook made for it), with a key holding every scope and the required headers."""
    key = bearer(make_key(scopes=SCOPES))
    made = client.post(WEBHOOKS, json=BODIES[("post", WEBHOOKS)], headers=key)
    assert made.status_code == 201, made.json
    path_values = {**SAMPLE_PATH, "webhook_id": made.json["id"]}

    def call(method, path, operation, data: bytes | None, content_type: str | None = JSON):
        headers = {**key, **{name: HEADERS[name]() for name in parameters(operation, "header")}}
        if content_type:
            headers["Content-Type"] = content_type
        url = path.format(**path_values)
        return client.open(url, method=method.upper(), data=data, headers=headers)

    return call


def ledger(app) -> dict[str, list[str]]:
    """Every row of every table of the ledger, as text, but the keys' last use (which the
    audit's flusher writes whenever a key is used)."""
    with app.app_context():
        session = get_session()
        return {
            table.name: sorted(
                str(row)
                for row in session.execute(
                    select(*(c for c in table.columns if c.name != "last_used_at"))
                )
            )
            for table in Base.metadata.sorted_tables
        }


def assert_refused(response, status: int, field: str, location: str = "json") -> str:
    """The answer is a problem of ``status`` naming ``field`` alone; its message."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.content_type == PROBLEM
    problem = response.json
    assert problem["status"] == status
    assert [(e["field"], e["in"]) for e in problem["errors"]] == [(field, location)], problem
    return problem["errors"][0]["message"]


def with_each_string(body, change: Callable[[str], str], where: str = "") -> Iterator:
    """``(field, body)``: the body with one of its strings changed, for each string."""
    if isinstance(body, str):
        yield where, change(body)
    elif isinstance(body, dict):
        for name, value in body.items():
            inner = f"{where}.{name}" if where else name
            for field, changed in with_each_string(value, change, inner):
                yield field, {**body, name: changed}
    elif isinstance(body, list):
        for index, value in enumerate(body):
            for field, changed in with_each_string(value, change, f"{where}[{index}]"):
                yield field, [*body[:index], changed, *body[index + 1 :]]


def with_each_key(body, suffix: str, where: str = "") -> Iterator[tuple[str, object]]:
    """``(field, body)``: the body with ``suffix`` added to one key of one of its objects, for
    each key; the field names the changed key with ``suffix`` written as JSON escapes it."""
    shown = json.dumps(suffix)[1:-1]
    if isinstance(body, dict):
        for name, value in body.items():
            inner = f"{where}.{name}" if where else name
            renamed = {(k + suffix if k == name else k): v for k, v in body.items()}
            yield inner + shown, renamed
            for field, changed in with_each_key(value, suffix, inner):
                yield field, {**body, name: changed}
    elif isinstance(body, list):
        for index, value in enumerate(body):
            for field, changed in with_each_key(value, suffix, f"{where}[{index}]"):
                yield field, [*body[:index], changed, *body[index + 1 :]]


def nested(levels: int, shape: str) -> bytes:
    """A body of ``levels`` arrays (``"[[[…]]]"``) or objects (``{"a": {"a": …}}``) in each
    other."""
    if shape == "arrays":
        return b"[" * levels + b"]" * levels
    return b'{"a":' * levels + b"1" + b"}" * levels


def test_every_operation_with_a_body_is_enumerated_and_documents_415():
    found = {(method, path) for method, path, _ in body_operations()}
    assert found >= KNOWN
    for method, path, operation in body_operations():
        assert "415" in map(str, operation["responses"]), f"{method.upper()} {path}"


@pytest.mark.parametrize("shape", ["arrays", "objects"])
@pytest.mark.parametrize("levels", [1_000, 20_000])
def test_json_nested_too_deep_is_400_naming_the_body(api_app, send, levels, shape):
    before = ledger(api_app)
    for method, path, operation in body_operations():
        response = send(method, path, operation, nested(levels, shape))
        message = assert_refused(response, 400, "body")
        assert f"deeper than {MAX_JSON_DEPTH} levels" in message, operation_id((method, path, {}))
    assert ledger(api_app) == before


def test_the_depth_limit_is_exact_and_brackets_in_strings_do_not_count(send):
    method, path = "post", "/v1/keys"
    (operation,) = [op for m, p, op in body_operations() if (m, p) == (method, path)]
    at_limit = send(method, path, operation, nested(MAX_JSON_DEPTH, "arrays"))
    over = send(method, path, operation, nested(MAX_JSON_DEPTH + 1, "arrays"))
    assert at_limit.status_code == 422  # read, then refused by the schema: not an object
    assert at_limit.json["errors"][0]["field"] == "body"
    assert "deeper" not in at_limit.json["detail"]
    assert_refused(over, 400, "body")
    name = "[{" * 100  # 200 open brackets in a string: text, not nesting
    body = {**BODIES[(method, path)], "name": name}
    created = send(method, path, operation, json.dumps(body).encode())
    assert created.status_code == 201, created.json
    assert created.json["name"] == name


@pytest.mark.parametrize("character", UNSTORABLE, ids=["nul", "lone surrogate"])
def test_a_nul_or_lone_surrogate_in_any_string_is_422_naming_it(api_app, send, character):
    before = ledger(api_app)
    tried = set()
    for method, path, operation in body_operations():
        valid = BODIES[(method, path)]
        for field, body in with_each_string(valid, lambda text: text[:2] + character + text[2:]):
            response = send(method, path, operation, json.dumps(body).encode())
            message = assert_refused(response, 422, field)
            assert UNSTORABLE[character] in message
            tried.add(field)
    assert {"name", "note", "description", "weights[1].ticker", "options.mode"} <= tried
    assert ledger(api_app) == before


@pytest.mark.parametrize("character", UNSTORABLE, ids=["nul", "lone surrogate"])
def test_a_nul_or_lone_surrogate_in_any_key_is_422_naming_it(api_app, send, character):
    before = ledger(api_app)
    tried = set()
    for method, path, operation in body_operations():
        for field, body in with_each_key(BODIES[(method, path)], character):
            response = send(method, path, operation, json.dumps(body).encode())
            message = assert_refused(response, 422, field)
            assert UNSTORABLE[character] in message
            tried.add(field)
    shown = json.dumps(character)[1:-1]
    assert {f"name{shown}", f"prices.AGG{shown}", f"weights[0].ticker{shown}"} <= tried
    assert ledger(api_app) == before


def test_escapes_that_are_text_are_stored_as_sent(send):
    """A surrogate pair is one character (an emoji), and an escaped backslash before ``u0000``
    is text: neither is refused."""
    method, path = "patch", "/v1/webhooks/{webhook_id}"
    (operation,) = [op for m, p, op in body_operations() if (m, p) == (method, path)]
    raw = b'{"description": "caf\\u00e9 \\ud83d\\ude00 C:\\\\u0000"}'
    response = send(method, path, operation, raw)
    assert response.status_code == 200, response.json
    assert response.json["description"] == "café 😀 C:\\u0000"


@pytest.mark.parametrize(
    "content_type, data",
    [
        ("text/plain", None),
        (None, None),
        ("application/x-www-form-urlencoded", b"name=x&tenant=y"),
        ("multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; name="n"'),
    ],
    ids=["text/plain", "no content type", "form", "multipart"],
)
def test_a_body_not_sent_as_json_is_415_naming_the_type_expected(api_app, send, content_type, data):
    before = ledger(api_app)
    for method, path, operation in body_operations():
        body = data or json.dumps(BODIES[(method, path)]).encode()
        response = send(method, path, operation, body, content_type)
        message = assert_refused(response, 415, "Content-Type", "header")
        assert f"Content-Type: {JSON}" in message
        assert f"not {(content_type or 'none').split(';')[0]}" in message
    assert ledger(api_app) == before


@pytest.mark.parametrize("content_type", [f"{JSON}; charset=utf-8", "application/merge-patch+json"])
def test_json_with_a_charset_or_under_a_json_suffix_is_read(send, content_type):
    method, path = "patch", "/v1/webhooks/{webhook_id}"
    (operation,) = [op for m, p, op in body_operations() if (m, p) == (method, path)]
    body = json.dumps({"description": "read"}).encode()
    response = send(method, path, operation, body, content_type)
    assert response.status_code == 200, response.json
    assert response.json["description"] == "read"


@pytest.mark.parametrize("content_type", [JSON, None, "text/plain"])
def test_no_body_at_all_names_the_missing_fields(send, content_type):
    """As before: an empty body is read as an empty object, whatever its Content-Type."""
    tried = set()
    for method, path, operation in body_operations():
        schema = resolve(operation["requestBody"]["content"][JSON]["schema"])
        if not schema.get("required"):
            continue
        response = send(method, path, operation, None, content_type)
        assert response.status_code == 422, operation_id((method, path, operation))
        assert response.content_type == PROBLEM
        named = {e["field"] for e in response.json["errors"]}
        assert named == set(schema["required"]), operation_id((method, path, operation))
        tried.add(path)
    assert len(tried) >= 5  # keys, a push, a batch, variants, webhooks


def test_malformed_json_is_400_naming_the_body(api_app, send):
    before = ledger(api_app)
    for method, path, operation in body_operations():
        response = send(method, path, operation, b'{"name": "unterminated')
        assert_refused(response, 400, "body")
    assert ledger(api_app) == before


def test_each_refusal_logs_one_line_and_no_traceback(api_app, send, caplog, monkeypatch):
    for found in api_app.logger.filters:
        if isinstance(found, OncePerInterval):  # let every line through, repeats included
            monkeypatch.setattr(found, "interval", 0)
    method, path = "post", "/v1/variants"
    (operation,) = [op for m, p, op in body_operations() if (m, p) == (method, path)]
    unstorable = json.dumps({**BODIES[(method, path)], "name": NUL}).encode()
    refusals = [
        (nested(1_000, "arrays"), JSON),
        (unstorable, JSON),
        (unstorable, "text/plain"),
    ]
    caplog.set_level(logging.INFO)
    for data, content_type in refusals:
        assert send(method, path, operation, data, content_type).status_code in (400, 415, 422)
    lines = [r for r in caplog.records if r.name == api_app.logger.name]
    assert len(lines) == len(refusals), [r.getMessage() for r in lines]
    for record in lines:
        assert record.levelno == logging.WARNING
        assert record.exc_info is None
        assert "\n" not in record.getMessage()
        assert record.getMessage().startswith("refused a body")
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
