"""The limits on what one client may ask: requests per key, and the size of a request's body.

Rate limits per API key are counted in Redis in the same round trip that reads the key.

Every authenticated request counts against its key in fixed windows aligned on the clock
(``PLUSALPHA_RATE_LIMIT_WINDOW`` seconds, 60 by default): a key may make its own ``rate_limit``
requests per window if it has one, else ``PLUSALPHA_RATE_LIMIT`` (1,200). Over the limit the answer
is 429 problem+json with ``Retry-After``; every answer to a key carries ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds until the window ends), the fields of
the IETF RateLimit header draft that platforms' HTTP clients already read.

Why not Flask-Limiter: with Redis storage and headers on, it costs three more Redis round trips
per request (the hit, then the window's counter and its TTL for the headers), on top of the one
that reads the key. The weights read is answered in one round trip (the key's record, the
counter and the weights come back from one script, see :mod:`service.cache.store`), which is
what keeps it near a bare Redis GET (``scripts/bench_api.py``).

When Redis is unreachable nothing is counted: the service goes on answering from the ledger,
and being down on rebalance day would cost the platforms more than a window without limits.

A body over ``PLUSALPHA_MAX_BODY_BYTES`` (Flask's ``MAX_CONTENT_LENGTH``, 64 MiB: a batch of
100,000 accounts of 10 holdings is 41 MB) is refused with 413 before it is read or parsed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..cache import Window
from .errors import Problem, problem_response
from .metrics import RATE_LIMITED


def current_window(seconds: int, now: float | None = None) -> Window:
    """The window of ``seconds`` that ``now`` (default: the clock) falls in."""
    return Window(int((time.time() if now is None else now) // seconds), seconds)


@dataclass(frozen=True)
class Quota:
    """Where a key stands in its window once a request is counted."""

    limit: int
    requests: int
    reset: int
    """Seconds until the window ends (at least 1)."""

    @classmethod
    def of(cls, limit: int, requests: int, window: Window, now: float | None = None) -> Quota:
        ends = (window.number + 1) * window.seconds
        reset = max(1, int(ends - (time.time() if now is None else now) + 0.999))
        return cls(limit, requests, reset)

    @property
    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.limit - self.requests)),
            "RateLimit-Reset": str(self.reset),
        }

    @property
    def exceeded(self) -> bool:
        return self.requests > self.limit

    def enforce(self) -> None:
        """Raise the 429 when this request is over the limit."""
        if self.exceeded:
            RATE_LIMITED.inc()
            raise Problem(
                429,
                f"this API key may make {self.limit} requests per rate-limit window; "
                f"retry in {self.reset} s",
                headers={**self.headers, "Retry-After": str(self.reset)},
            )


def body_too_large(error: RequestEntityTooLarge):
    """The 413 problem, naming the body, its size when declared, and the limit."""
    limit = request.max_content_length
    size = f"{request.content_length:,} bytes" if request.content_length else "too large"
    detail = f"the request body is {size}; the limit is {limit:,} bytes"
    return problem_response(413, detail, [{"field": "body", "in": "body", "message": detail}])


def init_app(app: Flask) -> None:
    app.register_error_handler(RequestEntityTooLarge, body_too_large)
