"""The models a key may see, their definitions and their weights in every platform format."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from flask import Response, current_app, g, request
from flask.views import MethodView

from schemas.models import (
    ModelListSchema,
    ModelSchema,
    OrionModelSchema,
    WeightsQuerySchema,
    WeightsSchema,
)

from ...formats import FORMATS, Format, NotAcceptable, negotiate
from ..audit import audit_buffer
from ..auth import current_key, ensure_licensed, licensed, require
from ..blueprint import Blueprint, load_query
from ..conditional import conditional
from ..errors import fail
from ..extensions import get_redis, get_session
from ..metrics import count_cache_read, count_ledger_fallback

if TYPE_CHECKING:
    from ...cache import Window

blp = Blueprint("models", __name__, url_prefix="/v1/models", description="Model portfolios")
WEIGHTS_QUERY = WeightsQuerySchema()
READ_SCOPE = "models:read"


def model_view(definition, latest) -> dict:
    """A model as shown: its definition, its latest version and, for a variant, its record."""
    from ...ledger import is_variant_id

    view = {**definition.definition, "latest_version": latest.version if latest else None}
    if is_variant_id(definition.model_id):
        view["variant"] = g.variants[definition.model_id]
    return view


def licensed_definition(model_id: str, *, building: bool = False):
    """The model's definition; 404 when unknown or not licensed to this key, 410 for a retired
    variant, 404 for one not ready unless ``building`` (see ``auth.ensure_licensed``)."""
    from ...ledger import get_definition

    definition = get_definition(get_session(), model_id)
    ensure_licensed(model_id, definition is not None, building=building)
    return definition


def listed(definition) -> bool:
    """Whether ``/v1/models`` lists the model: licensed, and for a variant ready and live."""
    if not licensed(definition.model_id):
        return False
    variant = g.variants.get(definition.model_id)
    return variant is None or (variant.status == "ready" and variant.retired_at is None)


@blp.route("")
class Models(MethodView):
    @require("models:read")
    @conditional
    @blp.conditional_doc
    @blp.response(200, ModelListSchema)
    def get(self):
        """The models this key may see"""
        from ...ledger import latest_rebalance, list_variants, model_definitions

        session = get_session()
        tenant = current_key().tenant
        # Every variant not of the key's tenant is unseen: known here as None, in one query.
        definitions = model_definitions(session)
        g.variants = {d.model_id: None for d in definitions}
        g.variants.update({v.id: v for v in list_variants(session, tenant)} if tenant else {})
        data = [
            model_view(d, latest_rebalance(session, d.model_id)) for d in definitions if listed(d)
        ]
        return {"data": data, "next_cursor": None}


@blp.route("/<model_id>")
class Model(MethodView):
    @require("models:read")
    @conditional
    @blp.conditional_doc
    @blp.response(200, ModelSchema)
    def get(self, model_id: str):
        """A model's definition and its latest version

        A variant is shown while it is building too, with its status (``variant.status``):
        the URL its creation answers with (``Location``) is this one.
        """
        from ...ledger import latest_rebalance

        definition = licensed_definition(model_id, building=True)
        return model_view(definition, latest_rebalance(get_session(), model_id))


@dataclass
class WeightsRead:
    """What a weights request asks for, and what the cache holds of it (None: not cached)."""

    on: date
    fmt: Format
    found: tuple[int, bytes] | None = None


def requested(as_of: date | str | None, fmt: str | None, accept: str | None) -> WeightsRead:
    """The day (today by default) and the format (by ``fmt``, else the Accept header)."""
    on = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of or date.today()
    return WeightsRead(on, negotiate(fmt, accept))


def read_key_and_weights(redis, digest: str, window: Window, model_id: str, as_of, fmt, accept):
    """The key's cached record, its request count and the weights the request names, in one
    round trip: ``(KeyRead, WeightsRead)``.

    The query is read loosely here: for one that does not parse the weights are None, and the
    view's checks answer it.
    """
    from ...cache import read_api_key, read_api_key_and_in_force

    try:
        read = requested(as_of, fmt, accept)
        key, read.found = read_api_key_and_in_force(
            redis, digest, window, model_id, read.on, read.fmt.name
        )
    except (ValueError, NotAcceptable):  # ValueError: also a model id no cache key can hold
        return read_api_key(redis, digest, window), None
    return key, read


def prefetch_weights(redis, digest: str, window: Window, model_id: str):
    """:func:`read_key_and_weights` for the request (the ``prefetch`` of ``require``)."""
    args = request.args if request.query_string else {}  # parsed only when there is one
    accept = request.headers.get("Accept")
    return read_key_and_weights(
        redis, digest, window, model_id, args.get("as_of"), args.get("format"), accept
    )


# A function, not a MethodView like the others: the hot path, and a class adds two dispatches.
@blp.route("/<model_id>/weights", methods=["GET"])
@require(READ_SCOPE, prefetch=prefetch_weights)
@conditional
@blp.conditional_doc
@blp.documented(
    blp.arguments(WEIGHTS_QUERY, location="query"),
    blp.response(
        200,
        {"oneOf": [WeightsSchema, OrionModelSchema]},
        description="JSON (orion: Orion's JSON); text/csv for csv and irebal",
    ),
    blp.alt_response(
        200,
        schema={"type": "string"},
        content_type="text/csv",
        description="JSON (orion: Orion's JSON); text/csv for csv and irebal",
        success=True,
    ),
    blp.alt_response(406, "NOT_ACCEPTABLE"),
)
def weights(model_id: str):
    """The weights in force on a date, in the format asked for"""
    # The key's record, the version in force and its body came from the cache in one round
    # trip (prefetch_weights), without SQL; the read's audit is buffered. The query, if any, is
    # checked here rather than by flask-smorest's wrappers (see Blueprint.documented).
    query = load_query(WEIGHTS_QUERY) if request.query_string else {}
    ensure_licensed(model_id, True)
    read = g.pop("prefetched", None)
    if read is None:  # Redis is down, or the query needs the checks below
        try:
            read = requested(query.get("as_of"), query.get("format"), request.headers.get("Accept"))
        except NotAcceptable as error:
            licensed_definition(model_id)
            fail(406, str(error), field="Accept", location="headers")
    else:
        count_cache_read("weights", "miss" if read.found is None else "hit")
    version, body = read.found or ledger_weights(model_id, read.on, read.fmt.name)
    audit_buffer().record_read(current_key().id, model_id, version)
    return Response(body, mimetype=read.fmt.media_type, headers={"Vary": "Accept"})


def ledger_weights(model_id: str, on: date, fmt: str) -> tuple[int, bytes]:
    """The version in force and its body from the ledger (the system of record).

    The cache lacked a version the ledger has (it was flushed or lost), so the model's versions
    are published to it again.
    """
    from redis.exceptions import RedisError

    from ...ledger import latest_rebalance, list_rebalances
    from ...publishing import rendered_bodies, republish, security_labels, weights_document

    count_ledger_fallback("weights")
    definition = licensed_definition(model_id)
    session = get_session()
    rebalance = latest_rebalance(session, model_id, on)
    if rebalance is None:
        fail(404, f"{model_id} has no version in force on {on}", field="as_of")
    labels = security_labels(current_app.config["DATA_DIR"])
    body = rendered_bodies(weights_document(definition, rebalance, labels))[FORMATS[fmt].name]
    with contextlib.suppress(RedisError):
        republish(get_redis(), definition, list_rebalances(session, model_id, limit=None), labels)
    return rebalance.version, body
