"""The one error shape: ``application/problem+json`` (RFC 9457) with the failing fields listed.

Every failure, from a bad query parameter to an unexpected exception, leaves the service as::

    {"type": "about:blank", "title": "Unprocessable Content", "status": 422,
     "detail": "...", "errors": [{"field": "weights[0].weight", "in": "json",
                                  "message": "Must be between 0 and 1."}]}

Views raise ``fail(status, detail, field=...)``; validation errors of webargs/marshmallow and
Werkzeug's HTTP errors are translated here. Stack traces never reach a client.

A component that cannot be reached is the client's cue to retry, not a bug: an error of the
ledger's connection (refused, dropped, timed out; SQLAlchemy's ``OperationalError``, a
``DBAPIError`` that invalidated its connection, or no connection free in the pool) and a Redis
connection error or timeout that a view did not fall back from answer 503 with ``Retry-After``
(:data:`UNAVAILABLE_RETRY_AFTER_SECONDS`), never 500. The request's ledger session is rolled back
first, so a request cut short stores nothing half-way; the detail names the component, never its
URL.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import TYPE_CHECKING

from flask import Flask, Response, current_app
from marshmallow.exceptions import SCHEMA
from werkzeug.exceptions import HTTPException, InternalServerError

from .extensions import close_session

if TYPE_CHECKING:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

PROBLEM_JSON = "application/problem+json"
UNAVAILABLE_RETRY_AFTER_SECONDS = 5
"""The ``Retry-After`` of a 503 for an unreachable ledger or cache: a restarted server or a
dropped connection is usually back within seconds, and clients back off further on their own."""


class Problem(HTTPException):
    """An HTTP error with a detail and the fields at fault."""

    def __init__(self, status: int, detail: str, errors: list[dict] | None = None, headers=None):
        super().__init__(description=detail)
        self.code = status
        self.data = {"message": detail, "errors": errors or [], "headers": headers or {}}


def fail(status: int, detail: str, *, field: str | None = None, location: str = "query"):
    """Raise a problem; ``field`` names the input at fault."""
    errors = [{"field": field, "in": location, "message": detail}] if field else []
    raise Problem(status, detail, errors)


def invalid(errors: list[dict]) -> Problem:
    """The 422 of a body, naming each field at fault (``{"field", "in", "message"}``)."""
    return Problem(422, "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)


def problem_response(
    status: int, detail: str, errors: list[dict] | None = None, headers: dict | None = None
) -> Response:
    """The problem+json response."""
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "errors": errors or [],
    }
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def field_errors(messages: dict, location: str = "", prefix: str = "") -> list[dict]:
    """Flatten webargs' nested ``{location: {field: [messages]}}`` into a list of fields."""
    errors = []
    for key, value in messages.items():
        if not prefix and not location:
            # A whole-body error (e.g. invalid JSON) comes as a list, not a dict of fields.
            errors += field_errors(value if isinstance(value, dict) else {"body": value}, str(key))
            continue
        if key == SCHEMA:  # marshmallow's name for an error of the whole object: name the object
            name = prefix or "body"
        elif str(key).isdigit() and prefix:  # an item of a list; a top-level "0" is a name
            name = f"{prefix}[{key}]"
        else:
            name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            errors += field_errors(value, location, str(name))
        else:
            for message in value if isinstance(value, list) else [value]:
                errors.append({"field": str(name), "in": location, "message": str(message)})
    return errors


def handle_http_exception(error: HTTPException) -> Response:
    data = getattr(error, "data", None) or {}
    errors = data.get("errors")
    if isinstance(errors, dict) or "messages" in data:
        errors = field_errors(data.get("messages") or errors)
    detail = data.get("message") or error.description or HTTPStatus(error.code).phrase
    if errors and not data.get("message"):
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    headers = dict(data.get("headers") or {})
    if error.code == 405 and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    return problem_response(error.code, detail, errors, headers)


def handle_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    current_app.logger.exception("unexpected error")
    return problem_response(500, InternalServerError.description)


def unavailable(component: str) -> Response:
    """The 503 of a component that cannot be reached."""
    return problem_response(
        503,
        f"the {component} is unavailable; retry later",
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
    )


def handle_redis_unavailable(error: RedisConnectionError | RedisTimeoutError) -> Response:
    current_app.logger.warning("redis unavailable: %s", error)
    return unavailable("cache")


def handle_database_error(error: DBAPIError | PoolTimeoutError) -> Response:
    """503 when the ledger cannot be reached; any other database error is unexpected (500)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    reachable = isinstance(error, DBAPIError) and not (
        isinstance(error, OperationalError) or error.connection_invalidated
    )
    if reachable:
        return handle_unexpected(error)
    close_session()  # rolls back whatever the request had begun
    current_app.logger.warning(
        "ledger unavailable: %s", getattr(error, "orig", None) or type(error).__name__
    )
    return unavailable("ledger")


def refuse_nul_in_path(endpoint: str | None, values: dict | None) -> None:
    """404 naming a path parameter that holds a NUL character: nothing has such an id, and
    PostgreSQL cannot compare a text with one (its ``DataError`` would be a 500)."""
    for name, value in (values or {}).items():
        if isinstance(value, str) and "\x00" in value:
            fail(404, f"No {name} holds a NUL character.", field=name, location="path")


def init_app(app: Flask) -> None:
    """Route every error to the problem+json shape (after flask-smorest's own handler), and
    refuse a path parameter no id can match before a view sends it to the ledger."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    app.url_value_preprocessor(refuse_nul_in_path)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(RedisConnectionError, handle_redis_unavailable)
    app.register_error_handler(RedisTimeoutError, handle_redis_unavailable)
    app.register_error_handler(DBAPIError, handle_database_error)
    app.register_error_handler(PoolTimeoutError, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected)
