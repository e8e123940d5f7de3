"""The weights fast path: the usual read of weights answered without Flask's request machinery."""

from __future__ import annotations

import re
from time import perf_counter

from redis.exceptions import RedisError
from werkzeug.utils import get_content_type

from ..ledger import secret_hash
from .audit import EXTENSION as AUDIT
from .auth import HANDED_OVER, PRIVATE, Caller, bearer_secret
from .conditional import etag_of
from .extensions import REDIS
from .limits import Quota, current_window
from .metrics import FAST_PATH, STARTED
from .v1.models import READ_SCOPE, read_key_and_weights

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
    ``tests/api/test_fast_path.py`` compares the two answers. A read answered here is counted
    in :data:`service.api.metrics.FAST_PATH`, shown as the view's at the scrape.
    """

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self.observe = FAST_PATH.observe

    def __call__(self, environ, start_response):
        path = WEIGHTS_PATH.fullmatch(environ.get("PATH_INFO", ""))
        if path is None or environ["REQUEST_METHOD"] != "GET" or environ.get("QUERY_STRING"):
            return self.wsgi_app(environ, start_response)
        environ[STARTED] = started = perf_counter()
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
        self.observe(perf_counter() - started)
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
            *PRIVATE.items(),
        ]
        return headers, body
