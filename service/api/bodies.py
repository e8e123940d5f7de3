"""How a JSON request body is read: what cannot be read is refused before it is parsed.

Every JSON body (``service.api.blueprint.StrictParser`` reads them all) is refused, before
Python objects are built from it, with one line in the log and never a traceback, when it is:

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
from itertools import accumulate, islice

from flask import current_app
from webargs import core
from webargs.flaskparser import is_json_request

from .errors import fail, invalid

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
        raise invalid(errors)


def read_json(req):
    """The body of ``req``, parsed once it is known to be readable (see the module doc);
    ``missing`` when there is none."""
    body = req.get_data(cache=True)
    if not body:
        return core.missing
    refuse_unreadable(req, body)
    data = core.parse_json(body)
    refuse_unstorable(body, data)
    return data
