"""The inputs the schemathesis run of ``test_schemathesis.py`` adds to those it generates from
``openapi.yaml``: bodies a parser cannot read (issue 22). Loaded into the schemathesis process
through ``SCHEMATHESIS_HOOKS``, never imported by pytest's: importing schemathesis patches
Hypothesis for the whole process.

A third of the cases with a JSON body, picked by the CRC of their operation and body (so that a
case is changed the same way each time Hypothesis replays it), become one of :data:`HOSTILE`:
arrays nested 1,000 deep, objects nested 20,000 deep, a NUL or a lone surrogate in each string,
a NUL in a key, or the JSON sent as ``text/plain``, as a form or with no ``Content-Type``.

After each call of an operation (with its own method) whose body is one of those, as the request
on the wire shows (schemathesis' own strings hold NULs too), :func:`after_call` writes a line to
:data:`CALLS` in the run's working directory: the kind, the operation, the status and the
answer's ``Content-Type``, for the test to check that each kind was sent and refused.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import schemathesis
from schemathesis.core import NOT_SET

CALLS = "hostile-calls.jsonl"
JSON = "application/json"
SHARE = 3
"""One case in SHARE with a JSON body is made hostile."""
NESTED_PREFIXES = (b"[" * 33, b'{"a":' * 33)
"""How a body nested deeper than the service's 32 levels starts."""


def nested_arrays(case) -> None:
    case.body = b"[" * 1_000 + b"]" * 1_000


def nested_objects(case) -> None:
    case.body = b'{"a":' * 20_000 + b"1" + b"}" * 20_000


def in_strings(value, character: str):
    """``value`` with ``character`` in each of its strings (not its keys)."""
    if isinstance(value, str):
        return value[:1] + character + value[1:]
    if isinstance(value, dict):
        return {key: in_strings(item, character) for key, item in value.items()}
    if isinstance(value, list):
        return [in_strings(item, character) for item in value]
    return value


def strings_holding(character: str):
    def change(case) -> None:
        changed = in_strings(case.body, character)
        if changed != case.body:  # a body with no string is left as generated: schemathesis
            case.body = json.dumps(changed).encode()  # judges a body it is given as bytes invalid

    return change


def nul_in_a_key(case) -> None:
    case.body = json.dumps({"na\x00me": case.body}).encode()


def sent_as(media_type: str | None):
    def change(case) -> None:
        case.body = json.dumps(case.body).encode()
        if media_type:
            case.media_type = media_type
        else:  # requests drops a header set to None, and sets none of its own for bytes
            case.headers = {**(case.headers or {}), "Content-Type": None}

    return change


HOSTILE = (
    nested_arrays,
    nested_objects,
    strings_holding("\x00"),
    strings_holding("\ud800"),
    nul_in_a_key,
    sent_as("text/plain"),
    sent_as("application/x-www-form-urlencoded"),
    sent_as(None),
)


@schemathesis.hook
def map_case(context, case):
    if case.media_type != JSON or case.body is NOT_SET or isinstance(case.body, bytes):
        return case
    crc = zlib.crc32(repr((case.operation.label, case.body)).encode())
    if crc % SHARE == 0:
        HOSTILE[crc // SHARE % len(HOSTILE)](case)
    return case


def sent_kind(content_type: str | None, body: bytes | str | None) -> str | None:
    """What makes the body of a request unreadable to the service, or None."""
    if not body:
        return None
    body = body.encode() if isinstance(body, str) else body
    media_type = (content_type or "").split(";")[0].strip()
    if media_type != JSON:
        return f"Content-Type: {media_type or 'none'}"
    if body.startswith(NESTED_PREFIXES):
        return "nested"
    if b"\\u0000" in body:
        return "NUL"
    if b"\\ud800" in body:
        return "lone surrogate"
    return None


@schemathesis.hook
def after_call(context, case, response):
    request = response.request
    if request.method != case.operation.method.upper():
        return  # another method on the operation's path (405, or Flask's OPTIONS): no body read
    kind = sent_kind(request.headers.get("Content-Type"), request.body)
    if kind is None:
        return
    answered = response.headers.get("content-type", [""])[0]
    line = {
        "kind": kind,
        "operation": case.operation.label,
        "status": response.status_code,
        "content_type": answered,
    }
    with Path(CALLS).open("a") as calls:
        calls.write(json.dumps(line) + "\n")
