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
builds Python objects from it, each with one line in the log and never a traceback:

* a non-empty body whose ``Content-Type`` is not JSON (``application/json``, with any charset,
  or ``application/*+json``): 415 naming ``Content-Type`` (webargs would read it as no body and
  answer "Missing data" for every required field); a request with no body at all is read as an
  empty object, so its missing fields are named (422);
* arrays and objects nested deeper than :data:`MAX_JSON_DEPTH`: 400 naming ``body``, found by
  counting brackets outside strings, without parsing (a body a thousand levels deep broke the
  parser's recursion, a 500);
* malformed JSON: 400 naming ``body`` (webargs);
* a string or key holding a NUL character or a lone surrogate (``"\\ud800"`` decodes to one): 422
  naming each (``name``, ``options.restricted[0]``): no ledger stores them (PostgreSQL refuses a
  NUL in a text, and neither driver can encode a lone surrogate in UTF-8; both were a 500).
"""

import re
from collections.abc import Iterator
from copy import deepcopy
from functools import wraps
from http import HTTPStatus
from itertools import accumulate, islice

import flask_smorest
from flask import current_app, request
from flask_smorest import abort
from flask_smorest.utils import prepare_response
from marshmallow import Schema, ValidationError
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from .errors import PROBLEM_JSON, Problem, fail

QUERY_LOCATIONS = ("query", "querystring")
TAKES_QUERY = "takes_query"
"""Set on a view that reads a query string (``Blueprint.arguments``, ``Blueprint.documented``)."""

JSON_MEDIA_TYPE = "application/json"
MAX_JSON_DEPTH = 32
"""The deepest nesting of arrays and objects a request body may have. Our deepest body, a batch
(the body, ``accounts``, an account, ``holdings``, a holding), is 5 levels; 32 leaves room for
any body to come while keeping the parser and the schemas, which recurse once a level, far from
Python's recursion limit (1,000 frames, over a hundred of them used by the time a body is read)."""
MAX_FIELDS_NAMED = 20
"""The fields a problem names at most, of a body with many strings it cannot store."""
JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
NOT_A_BRACKET = bytes(byte for byte in range(256) if byte not in b"[]{}")
BRACKET_STEP = [1 if byte in b"[{" else -1 for byte in range(256)]
"""The change of depth at each bracket (only brackets are looked up)."""
UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
"""The escapes that decode to a NUL or a surrogate: a body without any holds neither (a NUL or a
surrogate written as is is not JSON, or not UTF-8)."""
UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
"""A NUL, or a surrogate left alone (a valid pair decodes to one character outside the range)."""


def bracket_depth(text: bytes) -> int:
    """The deepest nesting of the brackets in ``text``, wherever they are."""
    brackets = text.translate(None, NOT_A_BRACKET)
    return max(accumulate(map(BRACKET_STEP.__getitem__, brackets)), default=0)


def too_deep(body: bytes) -> bool:
    """Whether ``body`` nests arrays and objects deeper than :data:`MAX_JSON_DEPTH`, found without
    parsing it: every bracket counted first (quick, and exact unless a string holds brackets),
    then, only if that is over, those outside strings."""
    return (
        bracket_depth(body) > MAX_JSON_DEPTH
        and bracket_depth(JSON_STRING.sub(b"", body)) > MAX_JSON_DEPTH
    )


def escaped(text: str) -> str:
    """``text`` with each NUL or surrogate written as its JSON escape (``\\u0000``)."""
    return UNSTORABLE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def unstorable_texts(value, where: str = "") -> Iterator[tuple[str, str]]:
    """``(field, message)`` for each string and key of the loaded ``value`` that holds a NUL
    or a lone surrogate, the field named as in every problem (``weights[2].ticker``)."""
    if isinstance(value, str):
        found = UNSTORABLE.search(value)
        if found:
            yield where or "body", unstorable_message(found.group())
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{escaped(key)}" if where else escaped(key)
            found = UNSTORABLE.search(key)
            if found:
                yield name, unstorable_message(found.group(), "key")
            yield from unstorable_texts(item, name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_texts(item, f"{where or 'body'}[{index}]")


def unstorable_message(character: str, what: str = "text") -> str:
    if character == "\x00":
        return f"The {what} holds a NUL character (\\u0000), which no text may hold."
    return f"The {what} holds a lone surrogate ({escaped(character)}), which is not a character."


def refuse_unreadable(req, body: bytes) -> None:
    """415 for a body that is not JSON, 400 for one too deep to parse safely (module doc)."""
    if not is_json_request(req):
        given = req.mimetype or "none"
        current_app.logger.warning("refused a body of Content-Type %s", given)
        detail = f"The body must be JSON, sent with Content-Type: {JSON_MEDIA_TYPE} (not {given})."
        fail(415, detail, field="Content-Type", location="header")
    if too_deep(body):
        current_app.logger.warning("refused a body nested over %d levels", MAX_JSON_DEPTH)
        detail = f"The body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels."
        fail(400, detail, field="body", location="json")


def refuse_unstorable(body: bytes, data) -> None:
    """422 naming each string or key of the body that holds a NUL or a lone surrogate."""
    if not UNSTORABLE_ESCAPE.search(body):
        return
    errors = [
        {"field": field, "in": "json", "message": message}
        for field, message in islice(unstorable_texts(data), MAX_FIELDS_NAMED)
    ]
    if errors:
        current_app.logger.warning("refused a body holding a NUL or a lone surrogate")
        raise Problem(422, "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)


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
        """The body, parsed once it is known to be readable (see the module doc); ``missing``
        when there is none."""
        body = req.get_data(cache=True)
        if not body:
            return core.missing
        refuse_unreadable(req, body)
        data = core.parse_json(body)
        refuse_unstorable(body, data)
        return data


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
