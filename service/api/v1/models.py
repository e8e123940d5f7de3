"""The models a key may see, their definitions and their weights in every platform format."""

from __future__ import annotations

from datetime import date

from flask import Response, current_app, request
from flask.views import MethodView
from redis.exceptions import RedisError

from schemas.models import ModelListSchema, ModelSchema, WeightsQuerySchema, WeightsSchema

from ...auth import ensure_licensed, licensed, require
from ...cache import read_body, version_in_force
from ...errors import fail
from ...extensions import get_redis, get_session
from ...formats import FORMATS, NotAcceptable, negotiate
from ...ledger import get_definition, latest_rebalance, model_definitions
from ...publishing import rendered_bodies, securities_catalog, weights_document
from ..blueprint import Blueprint

blp = Blueprint("models", __name__, url_prefix="/v1/models", description="Model portfolios")


def model_view(definition, latest) -> dict:
    return {**definition.definition, "latest_version": latest.version if latest else None}


def licensed_definition(model_id: str):
    """The model's definition; 404 when unknown or not licensed to this key."""
    definition = get_definition(get_session(), model_id)
    ensure_licensed(model_id, definition is not None)
    return definition


@blp.route("")
class Models(MethodView):
    @require("models:read")
    @blp.response(200, ModelListSchema)
    def get(self):
        """The models this key may see"""
        session = get_session()
        data = [
            model_view(d, latest_rebalance(session, d.model_id))
            for d in model_definitions(session)
            if licensed(d.model_id)
        ]
        return {"data": data, "next_cursor": None}


@blp.route("/<model_id>")
class Model(MethodView):
    @require("models:read")
    @blp.response(200, ModelSchema)
    def get(self, model_id: str):
        """A model's definition and its latest version"""
        definition = licensed_definition(model_id)
        return model_view(definition, latest_rebalance(get_session(), model_id))


@blp.route("/<model_id>/weights")
class Weights(MethodView):
    @require("models:read")
    @blp.arguments(WeightsQuerySchema, location="query")
    @blp.response(200, WeightsSchema, description="JSON; csv, irebal and orion by format")
    def get(self, query: dict, model_id: str):
        """The weights in force on a date, in the format asked for"""
        definition = licensed_definition(model_id)
        try:
            fmt = negotiate(query.get("format"), request.headers.get("Accept"))
        except NotAcceptable as error:
            fail(406, str(error), field="Accept", location="headers")
        on = query.get("as_of") or date.today()
        body = cached_body(model_id, on, fmt.name) or ledger_body(definition, on, fmt.name)
        return Response(body, mimetype=fmt.media_type)


def cached_body(model_id: str, on: date, fmt: str) -> bytes | None:
    """The body from the cache, or None on a miss or when Redis is down."""
    try:
        redis = get_redis()
        version = version_in_force(redis, model_id, on)
        return None if version is None else read_body(redis, model_id, version, fmt)
    except RedisError:
        current_app.logger.warning("redis unavailable: serving weights from the ledger")
        return None


def ledger_body(definition, on: date, fmt: str) -> bytes:
    """The body rendered from the ledger (the system of record)."""
    rebalance = latest_rebalance(get_session(), definition.model_id, on)
    if rebalance is None:
        fail(404, f"{definition.model_id} has no version in force on {on}", field="as_of")
    catalog = securities_catalog(current_app.config["DATA_DIR"])
    document = weights_document(definition, rebalance, catalog)
    return rendered_bodies(document)[FORMATS[fmt].name]
