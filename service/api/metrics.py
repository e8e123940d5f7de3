"""The figures the API processes count, for ``GET /metrics`` (:mod:`service.api.scrape`).

Every metric an API process records is defined here, with ``prometheus-client``; what is read
at scrape time instead (whether Redis and the ledger are up, the worker's figures, the queue's
length) is in :mod:`service.api.scrape`.

Under gunicorn, ``prometheus-client`` runs in its multiprocess mode: gunicorn's master empties
the metrics folder when it starts and names it in ``PROMETHEUS_MULTIPROC_DIR`` before forking a
worker (``on_starting`` in :mod:`service.api.gunicorn_conf`), each worker writes its figures to
files of its own there, and a scrape adds up every worker's files, those of workers that have
exited included (a counter never goes back). The library chooses its mode when first imported,
so the variable is set before any worker imports the app. A process on its own (the Flask dev
server, the tests, the CLI) has no variable set: its figures are in memory, in
:data:`REGISTRY`, which is the process's, shared by every app it creates.

Labels take few values: a route is the template of the matched rule
(``/v1/models/{model_id}/weights``, never the path asked for) or ``unmatched``, and a method
outside :data:`METHODS` is ``other``, so that no client can grow the number of series.
"""

from __future__ import annotations

import functools
import re
from time import perf_counter

from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from werkzeug.routing import Rule

from ..config import multiprocess_metrics_dir

MULTIPROCESS_DIR = multiprocess_metrics_dir()
"""The folder of the multiprocess files, or None: read as ``prometheus_client`` was imported,
when it chose its mode."""

REGISTRY = CollectorRegistry()
"""The figures of this process (scraped when not under gunicorn)."""
disable_created_metrics()  # no ``_created`` series: multiprocess mode has none either

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
"""The route label of a request that matched no route (a 404 or 405 of routing)."""
STARTED = "plusalpha.started"
"""The WSGI environ key holding when the request reached the app (``time.perf_counter``); the
weights fast path sets it for a request it leaves to Flask, so its cache read is timed too."""
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "plusalpha_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "plusalpha_http_request_duration_seconds",
    "Time from a request reaching the app to its answer being ready, by method and route.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
CACHE_READS = Counter(
    "plusalpha_cache_reads",
    "Reads of the serving cache by what they looked for (api_key, weights) and what they found "
    "(hit, miss; error: Redis unreachable).",
    ["item", "result"],
    registry=REGISTRY,
)
LEDGER_FALLBACKS = Counter(
    "plusalpha_ledger_fallbacks",
    "Reads answered from the ledger because the cache lacked them or Redis was unreachable.",
    ["item"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "plusalpha_rate_limited_requests",
    "Requests refused with 429: their key was over its rate limit.",
    registry=REGISTRY,
)
AUDIT_FLUSH_FAILURES = Counter(
    "plusalpha_audit_flush_failures",
    "Writes of the buffered read audit to the ledger that failed (retried at the next flush).",
    registry=REGISTRY,
)


@functools.cache
def template(rule: str) -> str:
    """A Flask rule as a route template: ``/v1/models/<model_id>`` is ``/v1/models/{model_id}``
    (converters dropped, as in ``openapi.yaml``)."""
    return re.sub(r"<(?:[^:>]*:)?([^>]+)>", r"{\1}", rule)


def route_of(rule: Rule | None) -> str:
    """The route label of a request that matched ``rule`` (None: matched nothing)."""
    return UNMATCHED if rule is None else template(rule.rule)


def count_cache_read(item: str, result: str) -> None:
    CACHE_READS.labels(item, result).inc()


def count_ledger_fallback(item: str) -> None:
    LEDGER_FALLBACKS.labels(item).inc()


def fast_path_counter(route: str):
    """``record(seconds)`` for the weights fast path: one GET of ``route`` answered 200 from the
    cache (its key and its weights), in ``seconds``.

    The series are looked up once, here: the fast path pays for the increments only.
    """
    requests = REQUESTS.labels("GET", route, "200")
    latency = LATENCY.labels("GET", route)
    key_hit = CACHE_READS.labels("api_key", "hit")
    weights_hit = CACHE_READS.labels("weights", "hit")

    def record(seconds: float) -> None:
        requests.inc()
        latency.observe(seconds)
        key_hit.inc()
        weights_hit.inc()

    return record


def note_start() -> None:
    request.environ.setdefault(STARTED, perf_counter())


def count_request(response: Response) -> Response:
    """Count the request Flask answered, and its latency."""
    method = request.method if request.method in METHODS else "other"
    route = route_of(request.url_rule)
    REQUESTS.labels(method, route, str(response.status_code)).inc()
    started = request.environ.get(STARTED)
    if started is not None:
        LATENCY.labels(method, route).observe(perf_counter() - started)
    return response


def init_app(app: Flask) -> None:
    """Count every request Flask answers (the weights fast path counts its own)."""
    app.before_request(note_start)
    app.after_request(count_request)
