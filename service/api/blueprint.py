"""The Blueprint every resource uses: unknown query parameters are errors, not ignored.

webargs ignores unknown query parameters by default; a platform that misspells ``as_of``
would silently get today's weights. Here the schemas' ``unknown = RAISE`` decides everywhere,
and an operation that takes no query at all refuses any parameter (422 naming it).

Two savings on the hot read path (a weights read with no query string spends a tenth of its time
parsing nothing otherwise): an arguments schema given as a class is instantiated once, not on
every request, and an absent query string loads as the schema's defaults, computed once.

The OpenAPI document lists, for every operation, each status it may answer: schemathesis checks
every answer of the live server against it (``tests/api/test_schemathesis.py``), and a client
generated from it must know every error it can get. The problems most operations share are added
here, in one place, so that a new route is documented like the others (``problem_statuses``):
401, 403 and 429 unless the operation is public (``@blp.doc(security=[])``), 404 when its path
names something (a model the key may not see, a version, a key, a job), 410 when it names a
model (a retired variant), 400, 413 and 415 when it takes a body, 500, and 503 when the ledger
or the cache cannot be reached (``service.api.errors``); each an ``application/problem+json``
body with the headers a client acts on (``PROBLEM_HEADERS``). There is no catch-all ``default``
answer: an undocumented status is a finding. What one operation adds (406, 409, 202, ...) its
view documents with ``@blp.alt_response``; ``@blp.conditional_doc`` documents a
``@conditional`` view's ETag, ``If-None-Match`` and 304.

Every JSON body is read by :class:`StrictParser`, which refuses what it cannot read before it
builds Python objects from it (``service.api.bodies``).
"""

from copy import deepcopy
from functools import wraps
from http import HTTPStatus

import flask_smorest
from flask import request
from flask_smorest import abort
from flask_smorest.utils import prepare_response
from marshmallow import Schema, ValidationError
from webargs.flaskparser import FlaskParser

from .bodies import read_json
from .errors import PROBLEM_JSON

QUERY_LOCATIONS = ("query", "querystring")
TAKES_QUERY = "takes_query"
"""Set on a view that reads a query string (``Blueprint.arguments``, ``Blueprint.documented``)."""


class StrictParser(FlaskParser):
    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,
        "querystring": None,
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._defaults: dict[Schema, dict] = {}

    def parse(self, argmap, req=None, *, location=None, **kwargs):
        if location not in QUERY_LOCATIONS or request.args or not isinstance(argmap, Schema):
            return super().parse(argmap, req, location=location, **kwargs)
        if argmap not in self._defaults:
            self._defaults[argmap] = super().parse(argmap, req, location=location, **kwargs)
        return dict(self._defaults[argmap])

    def _raw_load_json(self, req):
        """The body, parsed once it is known to be readable; ``missing`` when there is none."""
        return read_json(req)


def seconds(description: str) -> dict:
    return {
        "description": description,
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }


PROBLEM_HEADERS = {
    HTTPStatus.UNAUTHORIZED: {
        "WWW-Authenticate": {
            "description": 'How to authenticate: Bearer realm="plusalpha".',
            "required": True,
            "schema": {"type": "string"},
        },
    },
    HTTPStatus.TOO_MANY_REQUESTS: {
        "Retry-After": seconds("Seconds until the key may make requests again."),
        "RateLimit-Limit": seconds("Requests the key may make per rate-limit window."),
        "RateLimit-Remaining": seconds("Requests left to the key in this window."),
        "RateLimit-Reset": seconds("Seconds until the window ends."),
    },
    HTTPStatus.SERVICE_UNAVAILABLE: {
        "Retry-After": seconds("Seconds after which to try again."),
    },
}
"""The headers of a problem answer, by status, that a client needs to act on it."""

RESOURCE = "names_a_resource"
"""Set in an operation's doc info when its path has a parameter (see ``add_url_rule``)."""
MODEL = "names_a_model"
"""Set in an operation's doc info when its path names a model, which may be a retired variant
(410, see ``service.api.auth.ensure_licensed``)."""


def status_response(status: HTTPStatus, error_schema) -> dict:
    """The documented answer of ``status``: problem+json for an error, else no body."""
    response = {"description": status.phrase}
    if status >= HTTPStatus.BAD_REQUEST:
        response["schema"] = error_schema
    if status in PROBLEM_HEADERS:
        response["headers"] = deepcopy(PROBLEM_HEADERS[status])
    return response


def register_status_responses(spec, error_schema) -> None:
    """Every status's answer as a response component named after it (``NOT_FOUND``), listed
    in the document only where an operation refers to it."""
    for status in HTTPStatus:
        response = status_response(status, error_schema)
        prepare_response(response, spec, PROBLEM_JSON)
        spec.components.response(status.name, response, lazy=True)


def problem_statuses(operation: dict, doc_info: dict) -> list[HTTPStatus]:
    """The problems the operation may answer whatever it does (see the module doc)."""
    statuses = [
        HTTPStatus.UNPROCESSABLE_ENTITY,  # at least an unknown query parameter
        HTTPStatus.INTERNAL_SERVER_ERROR,
        HTTPStatus.SERVICE_UNAVAILABLE,
    ]
    if doc_info.get("manual_doc", {}).get("security") != []:
        statuses += [
            HTTPStatus.UNAUTHORIZED,
            HTTPStatus.FORBIDDEN,
            HTTPStatus.TOO_MANY_REQUESTS,
        ]
    if doc_info.get(RESOURCE):
        statuses.append(HTTPStatus.NOT_FOUND)
    if doc_info.get(MODEL):
        statuses.append(HTTPStatus.GONE)
    if "requestBody" in operation:
        statuses += [
            HTTPStatus.BAD_REQUEST,
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        ]
    return statuses


def load_query(schema: Schema) -> dict:
    """The query string loaded by ``schema``, answered 422 naming each parameter at fault as
    ``Blueprint.arguments`` would (for a view that is ``Blueprint.documented``)."""
    try:
        return schema.load(request.args.to_dict())
    except ValidationError as error:
        abort(422, messages={"query": error.messages})


def without_query(view):
    """``view``, answering 422 to any query parameter (for an operation that takes none).

    Wrapped at registration, so an operation that reads a query (the hot read of weights
    included) pays nothing for it.
    """
    if getattr(view, TAKES_QUERY, False):
        return view

    @wraps(view)
    def wrapped(*args, **kwargs):
        if request.query_string:
            abort(422, messages={"query": {name: ["Unknown field."] for name in request.args}})
        return view(*args, **kwargs)

    return wrapped


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = StrictParser()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_problems_doc)

    def arguments(self, schema, *args, **kwargs):
        schema = schema() if isinstance(schema, type) else schema
        decorator = super().arguments(schema, *args, **kwargs)
        if kwargs.get("location") not in QUERY_LOCATIONS:
            return decorator

        def reading_query(view):
            view = decorator(view)
            setattr(view, TAKES_QUERY, True)
            return view

        return reading_query

    @staticmethod
    def documented(*decorators):
        """The documentation of flask-smorest's ``decorators`` (``arguments``, ``response``,
        ...) on a view that does their work itself, without their wrappers.

        For the hot read of weights: their wrappers cost about a tenth of its time in the
        process, for a view that returns a ready ``Response`` and parses its query with
        :func:`load_query` only when there is one.
        """

        def document(view):
            shadow = wraps(view)(lambda *args, **kwargs: None)
            for decorator in reversed(decorators):
                shadow = decorator(shadow)
            view._apidoc = shadow._apidoc
            setattr(view, TAKES_QUERY, getattr(shadow, TAKES_QUERY, False))
            return view

        return document

    def add_url_rule(self, rule, endpoint=None, view_func=None, *args, **kwargs):
        if isinstance(view_func, type):  # a MethodView: each of its methods
            for method in view_func.methods:
                name = method.lower()
                setattr(view_func, name, without_query(getattr(view_func, name)))
        elif view_func is not None:
            view_func = without_query(view_func)
        super().add_url_rule(rule, endpoint, view_func, *args, **kwargs)
        if "<" in rule:
            for doc_info in self._docs[self._endpoints[-1]].values():
                if isinstance(doc_info, dict):
                    doc_info[RESOURCE] = True
                    if "<model_id>" in rule:
                        doc_info[MODEL] = True

    @staticmethod
    def conditional_doc(view):
        """Document a view decorated with ``service.api.conditional.conditional``: the ETag of its
        answer, the If-None-Match header and the 304 answer (as flask-smorest documents its own
        ``etag`` views)."""
        view._apidoc = {**deepcopy(getattr(view, "_apidoc", {})), "etag": True}
        return view

    @staticmethod
    def _prepare_problems_doc(doc, doc_info, **_kwargs):
        responses = doc.setdefault("responses", {})
        for status in problem_statuses(doc, doc_info):
            responses.setdefault(int(status), status.name)
        return doc
