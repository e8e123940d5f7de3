"""A model's versions: the list, newest first with a cursor, one version, and a push.

A push is idempotent by its ``Idempotency-Key`` header (per API key): the version, the
response given and an audit event are recorded in one transaction, so a retry of the same
request replays that response, while the same ``Idempotency-Key`` with another request is
refused with 422 (the IETF ``Idempotency-Key`` draft's status for a reused key).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import date

from flask import Response, current_app
from flask.views import MethodView

from schemas.models import (
    MAX_VERSION,
    IdempotencyHeaderSchema,
    PushSchema,
    RebalanceDetailSchema,
    RebalanceListSchema,
    RebalancePageQuerySchema,
)

from ..auth import current_key, require
from ..blueprint import Blueprint
from ..conditional import conditional
from ..errors import Problem, fail, invalid
from ..extensions import get_redis, get_session
from .models import licensed_definition

IDEMPOTENCY_HEADER = "Idempotency-Key"
CREATED = 201

blp = Blueprint("rebalances", __name__, url_prefix="/v1/models", description="Versions of a model")


def cursor_version(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    # ASCII digits ("²" is a digit to str.isdigit, not to int), within the ledger's range.
    if not re.fullmatch("[0-9]{1,10}", cursor) or int(cursor) > MAX_VERSION:
        fail(422, f"cursor {cursor!r} is not one this API gave", field="cursor")
    return int(cursor)


@blp.route("/<model_id>/rebalances")
class Rebalances(MethodView):
    @require("models:read")
    @conditional
    @blp.conditional_doc
    @blp.arguments(RebalancePageQuerySchema, location="query")
    @blp.response(200, RebalanceListSchema)
    def get(self, query: dict, model_id: str):
        """The model's versions, newest first"""
        from ...ledger import list_rebalances

        licensed_definition(model_id)
        limit = query["limit"]
        rows = list_rebalances(
            get_session(),
            model_id,
            before_version=cursor_version(query.get("cursor")),
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return {"data": rows, "next_cursor": str(rows[-1].version) if more else None}

    @require("rebalances:write")
    @blp.arguments(IdempotencyHeaderSchema, location="headers")
    @blp.arguments(PushSchema)
    @blp.response(
        CREATED,
        RebalanceDetailSchema,
        headers={
            "Location": {"description": "The new version", "schema": {"type": "string"}},
            "Idempotent-Replayed": {
                "description": "true when this is the stored answer to an earlier request",
                "schema": {"type": "string"},
            },
        },
    )
    def post(self, headers: dict, body: dict, model_id: str):
        """Push a new version of the model

        The weights of distinct ETFs, each in [0, 1], must sum to 1 within 1e-6 (they are
        recorded rescaled to sum to 1); the effective date must not be before the latest
        version's.

        Idempotent by the ``Idempotency-Key`` header: the same key, Idempotency-Key and body
        answer the first response again (with ``Idempotent-Replayed: true``) and add no
        version; the same Idempotency-Key with another body (or model) is refused with 422.
        """
        from ...ledger import find_idempotency

        definition = licensed_definition(model_id)
        idempotency_key = headers["idempotency_key"]
        digest = request_hash(model_id, body)
        record = find_idempotency(get_session(), current_key().id, idempotency_key)
        if record is not None:
            return replay(record, digest)
        check_push(model_id, body)
        return push(definition, body, idempotency_key, digest)


@blp.route(f"/<model_id>/rebalances/<int(max={MAX_VERSION}):version>")
class Rebalance(MethodView):
    @require("models:read")
    @conditional
    @blp.conditional_doc
    @blp.response(200, RebalanceDetailSchema)
    def get(self, model_id: str, version: int):
        """One version of the model, with its provenance"""
        from ...ledger import get_rebalance

        licensed_definition(model_id)
        row = get_rebalance(get_session(), model_id, version)
        if row is None:
            fail(404, f"{model_id} has no version {version}", field="version", location="path")
        return row


# --- pushing ----------------------------------------------------------------------------------


def request_hash(model_id: str, body: dict) -> str:
    """The sha256 of the push's canonical JSON: the same request gives the same hash."""
    from ...ledger import canonical_weights

    canonical = {
        "model_id": model_id,
        "effective_date": body["effective_date"].isoformat(),
        "weights": canonical_weights({w["ticker"]: w["weight"] for w in body["weights"]}),
        "note": body["note"],
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_push(model_id: str, body: dict) -> None:
    """422 naming every field at fault: unknown tickers, an effective date before the latest."""
    from ...ledger import latest_rebalance
    from ...publishing import securities_catalog

    catalog = securities_catalog(current_app.config["DATA_DIR"])
    holdable = set(catalog.index[catalog["kind"].isin(("etf", "fund"))])
    errors = [
        field_error(f"weights[{i}].ticker", f"{w['ticker']!r} is not a known ETF or fund ticker.")
        for i, w in enumerate(body["weights"])
        if w["ticker"] not in holdable
    ]
    latest = latest_rebalance(get_session(), model_id)
    if latest is not None and body["effective_date"] < latest.effective_date:
        errors.append(too_early(latest))
    if errors:
        raise invalid(errors)


def too_early(latest) -> dict:
    return field_error(
        "effective_date",
        f"Must not be before {latest.effective_date.isoformat()}, "
        f"the effective date of version {latest.version}.",
    )


def field_error(field: str, message: str, location: str = "json") -> dict:
    return {"field": field, "in": location, "message": message}


def rescaled(weights: dict[str, float]) -> dict[str, float]:
    """The weights divided by their sum, which the schema allows 1e-6 away from 1.

    The published formats (irebal, orion) need weights summing to 1 within 1e-9.
    """
    total = math.fsum(weights.values())
    return weights if total == 1 else {ticker: w / total for ticker, w in weights.items()}


def push(definition, body: dict, idempotency_key: str, digest: str) -> Response:
    """Record the version, its response and an audit event at once; then publish it."""
    from sqlalchemy.exc import IntegrityError

    from ...ledger import (
        add_audit_events,
        add_rebalance,
        find_idempotency,
        get_rebalance,
        save_idempotency,
    )

    session = get_session()
    key_id = current_key().id
    effective: date = body["effective_date"]
    try:
        row = add_rebalance(
            session,
            definition.model_id,
            as_of=effective,
            effective_date=effective,
            weights=rescaled({w["ticker"]: w["weight"] for w in body["weights"]}),
            source="push",
            pushed_by=key_id,
            note=body["note"],
        )
        previous = get_rebalance(session, row.model_id, row.version - 1)
        if previous is not None and effective < previous.effective_date:
            # Another push landed since check_push; the model's lock makes this one final.
            session.rollback()
            raise invalid([too_early(previous)])
        answer = RebalanceDetailSchema().dump(row)  # as its Location serves it
        save_idempotency(session, key_id, idempotency_key, digest, CREATED, answer)
        add_audit_events(
            session,
            [
                {
                    "action": "push",
                    "key_id": key_id,
                    "model_id": row.model_id,
                    "version": row.version,
                    "detail": {"idempotency_key": idempotency_key, "hash": row.content_hash},
                }
            ],
        )
        session.commit()
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key saved first: undo ours, answer its.
        session.rollback()
        record = find_idempotency(session, key_id, idempotency_key)
        if record is None:
            raise
        return replay(record, digest)
    publish_quietly(definition, row)
    return answer_response(CREATED, answer)


def publish_quietly(definition, row) -> None:
    """Publish the version to the cache; a Redis outage is logged, not fatal.

    The ledger is the record: the version is published again once Redis is back
    (:func:`service.publishing.publish_later`).
    """
    from redis.exceptions import RedisError

    from ...publishing import publish, publish_later, security_labels

    labels = security_labels(current_app.config["DATA_DIR"])
    try:
        publish(get_redis(), definition, row, labels)
    except RedisError:
        current_app.logger.warning(
            "redis unavailable: %s version %s is in the ledger but not the cache yet",
            row.model_id,
            row.version,
        )
        publish_later(get_redis(), definition, row, labels)


def replay(record, digest: str) -> Response:
    """The stored answer to the same request; 422 when the Idempotency-Key was another's."""
    if record.request_hash != digest:
        raise Problem(
            422,
            f"this {IDEMPOTENCY_HEADER} was already used with another request",
            [field_error(IDEMPOTENCY_HEADER, "Already used with another request.", "headers")],
        )
    return answer_response(record.status_code, record.response, {"Idempotent-Replayed": "true"})


def answer_response(status: int, answer: dict, headers: dict | None = None) -> Response:
    """The JSON response of a push, with the new version's Location."""
    location = f"/v1/models/{answer['model_id']}/rebalances/{answer['version']}"
    response = current_app.json.response(answer)
    response.status_code = status
    response.headers["Location"] = location
    response.headers.update(headers or {})
    return response
