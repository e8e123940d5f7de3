"""Conditional GETs (RFC 9110): a successful answer of a ``@conditional`` view (models, weights,
versions, model trades, performance) carries a strong ETag, the hash of its body, and a request
whose ``If-None-Match`` names it (or ``*``) gets ``304 Not Modified`` without the body. A
platform polling them downloads a body only when it changed.

A decorator on the views rather than an ``after_request`` hook: the weights read is the hot
path, and Flask's hooks cost it a few percent of its throughput."""

from __future__ import annotations

import hashlib
from functools import wraps

from flask import Response, request
from werkzeug.http import parse_etags

CONDITIONAL_METHODS = ("GET", "HEAD")
KEPT_ON_304 = ("ETag", "Vary", "Cache-Control")
"""Headers a 304 repeats from the 200 it stands for (RFC 9110, 15.4.5)."""


def etag_of(body: bytes) -> str:
    """The strong ETag of ``body``, quoted."""
    return f'"{hashlib.sha1(body).hexdigest()}"'


def conditional_get(response: Response) -> Response:
    """``response`` with its ETag, or the 304 that stands for it."""
    if request.method not in CONDITIONAL_METHODS or response.status_code != 200:
        return response
    if response.direct_passthrough:  # a streamed file (the docs' assets): left alone
        return response
    etag = response.headers["ETag"] = etag_of(response.get_data())
    condition = request.headers.get("If-None-Match")  # parsed only when sent (the hot path)
    if condition is None or not parse_etags(condition).contains_weak(etag.strip('"')):
        return response
    kept = {name: response.headers[name] for name in KEPT_ON_304 if name in response.headers}
    return Response(status=304, headers=kept)


def conditional(view):
    """Decorate a GET view (outside flask-smorest's ``response``) with :func:`conditional_get`."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        return conditional_get(view(*args, **kwargs))

    return wrapped
