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

The weights fast path records a read in one histogram of its own, :data:`FAST_PATH` (two
writes: a fixed route, method and status need no labels, and each more series written costs the
hot read a few microseconds), which :func:`with_fast_path` folds into the request, latency and
cache-hit families at the scrape: an operator sees every read in them, and not this histogram.

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
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample
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
FAST_PATH = Histogram(
    "plusalpha_weights_fast_path_duration_seconds",
    "Weights reads the fast path answered (a GET answered 200 from the cache): folded into the "
    "request, latency and cache-hit families at the scrape.",
    buckets=LATENCY_BUCKETS,
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


def with_fast_path(families: list[Metric], route: str) -> list[Metric]:
    """The collected ``families`` with the fast path's reads added to those of the view of
    ``route``, and to the cache hits of their keys and weights; FAST_PATH itself left out."""
    by_name = {family.name: family for family in families}
    fast = by_name.pop(FAST_PATH.describe()[0].name, None)
    reads = next((s.value for s in fast.samples if s.name.endswith("_count")), 0) if fast else 0
    if not reads:
        return list(by_name.values())
    requests, latency, cache = (
        by_name.setdefault(empty.name, empty)
        for empty in (metric.describe()[0] for metric in (REQUESTS, LATENCY, CACHE_READS))
    )
    view = {"method": "GET", "route": route}
    add(requests, f"{requests.name}_total", {**view, "status": "200"}, reads)
    for sample in fast.samples:  # _bucket{le}, _count, _sum
        suffix = sample.name[len(fast.name) :]
        add(latency, latency.name + suffix, {**view, **sample.labels}, sample.value)
    for item in ("api_key", "weights"):
        add(cache, f"{cache.name}_total", {"item": item, "result": "hit"}, reads)
    return list(by_name.values())


def add(family: Metric, name: str, labels: dict[str, str], amount: float) -> None:
    """Add ``amount`` to the sample ``name{labels}`` of ``family`` (a new one if it has none)."""
    for i, sample in enumerate(family.samples):
        if sample.name == name and sample.labels == labels:
            family.samples[i] = sample._replace(value=sample.value + amount)
            return
    family.samples.append(Sample(name, labels, amount))


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
