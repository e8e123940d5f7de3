"""GET /metrics: every figure of the service in Prometheus's text format, for a key holding
``metrics:read``.

At the root, as Prometheus expects, not under ``/v1``: the figures are the operator's, not a
versioned resource of the platforms. A scrape adds up the figures the API processes counted
(:mod:`service.api.metrics`: under gunicorn, every worker's files) and reads the rest now:
whether Redis and the ledger answer (the checks of ``GET /v1/health``, with their fail-fast
timeouts), the worker's figures from Redis (:mod:`service.worker.figures`) and the length of
the RQ queue. While Redis is down the worker's figures and the queue are left out, and
``plusalpha_redis_up`` says why.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Response, current_app
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.utils import floatToGoString

from ..worker.handles import QUEUE
from .auth import require
from .blueprint import Blueprint
from .extensions import get_redis
from .metrics import MULTIPROCESS_DIR, REGISTRY, route_of, with_fast_path
from .v1.health import components_up

blp = Blueprint("metrics", __name__, url_prefix="/metrics", description="Figures for Prometheus")


@blp.route("", methods=["GET"])
@require("metrics:read")
@blp.response(
    200,
    {"type": "string"},
    content_type="text/plain",
    description="Prometheus's text format, version 0.0.4; docs/operations.md lists every family",
)
def metrics():
    """The service's figures, for Prometheus"""
    counted = MultiProcessCollector(None, MULTIPROCESS_DIR) if MULTIPROCESS_DIR else REGISTRY
    (weights,) = current_app.url_map.iter_rules("models.weights")
    registry = CollectorRegistry()
    registry.register(Ready(with_fast_path(list(counted.collect()), route_of(weights))))
    registry.register(Ready(scrape_time_families()))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)


class Ready:
    """A collector of families already read."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> list[Metric]:
        return self.families


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def scrape_time_families() -> list[Metric]:
    """What is read at the scrape: components up, the worker's figures, the queue's length."""
    from redis.exceptions import RedisError
    from rq import Queue

    from ..worker.figures import JOB_BUCKETS, read_figures

    up = components_up()
    families = [
        gauge("plusalpha_redis_up", "1 if Redis answered a PING at this scrape.", up["redis"]),
        gauge("plusalpha_ledger_up", "1 if the ledger answered at this scrape.", up["ledger"]),
    ]
    if not up["redis"]:
        return families
    try:
        figures = read_figures(get_redis())
        waiting = Queue(QUEUE, connection=get_redis()).count
    except RedisError:
        return families
    families.append(gauge("plusalpha_worker_queue_length", "Jobs waiting in the queue.", waiting))
    if figures.last_success is not None:
        families.append(
            gauge(
                "plusalpha_worker_last_success_timestamp_seconds",
                "Unix time at which the worker's last run (plusalpha worker) succeeded.",
                figures.last_success,
            )
        )
    families.append(
        CounterMetricFamily(
            "plusalpha_worker_versions_published",
            "Versions the worker's runs published to the cache.",
            value=figures.versions_published,
        )
    )
    durations = HistogramMetricFamily(
        "plusalpha_worker_job_duration_seconds",
        "Duration of the RQ jobs that ran to an end, by job (its function's name).",
        labels=["job"],
    )
    failures = CounterMetricFamily(
        "plusalpha_worker_job_failures", "RQ jobs that failed, by job.", labels=["job"]
    )
    bounds = [floatToGoString(b) for b in JOB_BUCKETS] + ["+Inf"]
    for job, found in sorted(figures.jobs.items()):
        durations.add_metric([job], list(zip(bounds, found.buckets, strict=True)), found.sum)
        failures.add_metric([job], found.failures)
    return [*families, durations, failures]
