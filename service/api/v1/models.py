"""The models a key may see, their definitions and their weights in every platform format."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import date

from flask import Response, current_app, g, request
from flask.views import MethodView
from redis.exceptions import RedisError
from werkzeug.utils import get_content_type

from schemas.models import (
    ModelListSchema,
    ModelSchema,
    OrionModelSchema,
    WeightsQuerySchema,
    WeightsSchema,
)

from ...audit import EXTENSION as AUDIT
from ...audit import audit_buffer
from ...auth import (
    HANDED_OVER,
    Caller,
    bearer_secret,
    current_key,
    ensure_licensed,
    licensed,
    require,
)
from ...cache import Window, read_api_key, read_api_key_and_in_force
from ...conditional import conditional, etag_of
from ...errors import fail
from ...extensions import REDIS, get_redis, get_session
from ...formats import FORMATS, Format, NotAcceptable, negotiate
from ...ledger import (
    get_definition,
    latest_rebalance,
    list_rebalances,
    model_definitions,
    secret_hash,
)
from ...limits import Quota, current_window
from ...publishing import rendered_bodies, republish, securities_catalog, weights_document
from ..blueprint import Blueprint, load_query

blp = Blueprint("models", __name__, url_prefix="/v1/models", description="Model portfolios")
WEIGHTS_QUERY = WeightsQuerySchema()
READ_SCOPE = "models:read"


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
    @conditional
    @blp.conditional_doc
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
    @conditional
    @blp.conditional_doc
    @blp.response(200, ModelSchema)
    def get(self, model_id: str):
        """A model's definition and its latest version"""
        definition = licensed_definition(model_id)
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
    version, body = read.found or ledger_weights(model_id, read.on, read.fmt.name)
    audit_buffer().record_read(current_key().id, model_id, version)
    return Response(body, mimetype=read.fmt.media_type, headers={"Vary": "Accept"})


def ledger_weights(model_id: str, on: date, fmt: str) -> tuple[int, bytes]:
    """The version in force and its body from the ledger (the system of record).

    The cache lacked a version the ledger has (it was flushed or lost), so the model's versions
    are published to it again.
    """
    definition = licensed_definition(model_id)
    session = get_session()
    rebalance = latest_rebalance(session, model_id, on)
    if rebalance is None:
        fail(404, f"{model_id} has no version in force on {on}", field="as_of")
    catalog = securities_catalog(current_app.config["DATA_DIR"])
    body = rendered_bodies(weights_document(definition, rebalance, catalog))[FORMATS[fmt].name]
    with contextlib.suppress(RedisError):
        republish(get_redis(), definition, list_rebalances(session, model_id, limit=None), catalog)
    return rebalance.version, body


WEIGHTS_PATH = re.compile(r"/v1/models/([^/]+)/weights")


class WeightsFastPath:
    """WSGI middleware: the usual read of weights answered without Flask's request machinery.

    The usual read is ``GET /v1/models/{model_id}/weights`` with no query string and no
    ``If-None-Match``, by a key whose record is cached, live, holding ``models:read``, licensed
    for the model and within its rate limit, of weights the cache holds. It is read in the one
    round trip of the view (:func:`read_key_and_weights`), audited as the view audits, and
    answered with the view's body and headers. Anything else goes on to the app, with what was
    read (``auth.HANDED_OVER``): the view's checks answer it, and it is not counted twice.

    Why: Flask's routing, request context and response object cost the weights read about a
    third of its time in the process, more than all the checks; platforms poll this route.
    A change to the view's checks, audit or headers is a change here too:
    ``tests/api/test_fast_path.py`` compares the two answers.
    """

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        path = WEIGHTS_PATH.fullmatch(environ.get("PATH_INFO", ""))
        if path is None or environ["REQUEST_METHOD"] != "GET" or environ.get("QUERY_STRING"):
            return self.wsgi_app(environ, start_response)
        try:
            answer = self.answer(environ, path.group(1))
        except RedisError:  # the view falls back to the ledger
            answer = None
        except Exception:  # a bug here must not cost the read: the view answers it
            self.app.logger.exception("weights fast path failed; the view answers")
            answer = None
        if answer is None:
            return self.wsgi_app(environ, start_response)
        headers, body = answer
        start_response("200 OK", headers)
        return [body]

    def answer(self, environ, model_id: str) -> tuple[list, bytes] | None:
        """The headers and body of the usual read; None for anything else."""
        secret = bearer_secret(environ.get("HTTP_AUTHORIZATION", ""))
        if not secret or "HTTP_IF_NONE_MATCH" in environ:
            return None
        config = self.app.config
        window = current_window(config["RATE_LIMIT_WINDOW"])
        redis = self.app.extensions[REDIS].get()
        accept = environ.get("HTTP_ACCEPT")
        key, read = read_key_and_weights(
            redis, secret_hash(secret), window, model_id, None, None, accept
        )
        environ[HANDED_OVER] = (key, read)
        if key.record is None or read is None or read.found is None:
            return None
        caller = Caller(**key.record)
        quota = Quota.of(caller.rate_limit or config["RATE_LIMIT"], key.requests, window)
        if not caller.may_read(READ_SCOPE, model_id) or quota.exceeded:
            return None
        del environ[HANDED_OVER]
        version, body = read.found
        audit = self.app.extensions[AUDIT]
        audit.touch(caller.id)
        audit.record_read(caller.id, model_id, version)
        headers = [
            ("Content-Type", get_content_type(read.fmt.media_type, "utf-8")),
            ("Content-Length", str(len(body))),
            ("Vary", "Accept"),
            ("ETag", etag_of(body)),
            *quota.headers.items(),
        ]
        return headers, body
