"""The worker's figures, kept in Redis, where ``GET /metrics`` reads them.

What an operator watches of the worker: when a run (``run_due``) last succeeded, how many
versions the runs published, and how long each RQ job took and how many failed. The worker is
not one of gunicorn's workers: it runs in a process of its own, maybe on another machine, and RQ
runs each job in a child process that exits after it. The files of ``prometheus-client``'s
multiprocess mode would have to be in the API's folder, on the API's machine, and be wiped with
it; the one thing the worker and the API always share is Redis. So the worker adds its figures
to one hash, :data:`FIGURES_KEY`, in one transaction at the end of each run and each job, and
the API reads that hash, with the queue's length, when it is scraped (:mod:`service.api.scrape`).
The hash is outside the cache's prefix, so ``plusalpha cache rebuild`` keeps it.

Fields: ``last_success`` (Unix time), ``versions_published``, and per job (the name of its
function) ``job:{name}:count``, ``:sum`` (seconds), ``:failures`` and ``:le:{bound}``, the jobs
whose duration was at most ``bound`` of :data:`JOB_BUCKETS` and above the bound before it
(``+Inf`` past the last): cumulated when read, as a Prometheus histogram.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import suppress
from dataclasses import dataclass, field

import redis
from rq import Worker

FIGURES_KEY = "pa:worker:figures"
CHANNEL_STOP_SECONDS = 1.0
"""How long a worker that ends waits for the thread of its command channel."""
JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
"""Upper bounds of the job-duration histogram, in seconds: a small batch of trade lists takes
well under a second, a run of every backtest minutes."""

log = logging.getLogger(__name__)


def record_run(r: redis.Redis, published: int) -> None:
    """Note a run that succeeded now, having published ``published`` versions."""
    pipe = r.pipeline(transaction=True)
    pipe.hset(FIGURES_KEY, "last_success", repr(time.time()))
    pipe.hincrby(FIGURES_KEY, "versions_published", published)
    pipe.execute()


def record_job(r: redis.Redis, job: str, seconds: float | None, failed: bool) -> None:
    """Note one end of the RQ job ``job``: its duration (None when unknown: its process was
    killed) and whether it failed. Never raises: a figure lost must not fail a job."""
    pipe = r.pipeline(transaction=True)
    if seconds is not None:
        bound = next((b for b in JOB_BUCKETS if seconds <= b), math.inf)
        pipe.hincrby(FIGURES_KEY, f"job:{job}:le:{bucket_name(bound)}", 1)
        pipe.hincrby(FIGURES_KEY, f"job:{job}:count", 1)
        pipe.hincrbyfloat(FIGURES_KEY, f"job:{job}:sum", seconds)
    if failed:
        pipe.hincrby(FIGURES_KEY, f"job:{job}:failures", 1)
    try:
        pipe.execute()
    except redis.RedisError:
        log.warning("redis unavailable: the figures of a %s job are lost", job)


def bucket_name(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


@dataclass
class JobFigures:
    """One job's figures: cumulative counts per bound of JOB_BUCKETS then +Inf, and the rest."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(JOB_BUCKETS) + 1))
    count: int = 0
    sum: float = 0.0
    failures: int = 0


@dataclass
class WorkerFigures:
    last_success: float | None = None
    """Unix time of the last run that succeeded; None before the first."""
    versions_published: int = 0
    jobs: dict[str, JobFigures] = field(default_factory=dict)


def read_figures(r: redis.Redis) -> WorkerFigures:
    """The figures of every worker, as the hash holds them."""
    figures = WorkerFigures()
    bounds = [bucket_name(b) for b in (*JOB_BUCKETS, math.inf)]
    for name, value in sorted(r.hgetall(FIGURES_KEY).items()):
        name, value = name.decode(), value.decode()
        if name == "last_success":
            figures.last_success = float(value)
        elif name == "versions_published":
            figures.versions_published = int(value)
        elif name.startswith("job:"):
            job, _, what = name[len("job:") :].partition(":")
            found = figures.jobs.setdefault(job, JobFigures())
            if what.startswith("le:"):
                first = bounds.index(what[len("le:") :])
                for i in range(first, len(bounds)):
                    found.buckets[i] += int(value)
            elif what == "sum":
                found.sum = float(value)
            elif what in ("count", "failures"):
                setattr(found, what, int(value))
    return figures


def job_name(job) -> str:
    """A job's label: the name of its function (``trade_batch``), never its arguments."""
    return (job.func_name or "unknown").rsplit(".", 1)[-1]


def duration(job) -> float | None:
    if job.started_at is None or job.ended_at is None:
        return None
    return (job.ended_at - job.started_at).total_seconds()


class MeasuredWorker(Worker):
    """RQ's worker, adding each job's duration and outcome to the figures, and leaving its
    command channel within :data:`CHANNEL_STOP_SECONDS` as it ends.

    RQ calls ``handle_job_*`` at the end of every job: in the process that ran it, or in the
    worker when that process was killed (a failure whose duration is unknown).
    """

    def unsubscribe(self) -> None:
        """Leave the worker's command channel, waiting at most :data:`CHANNEL_STOP_SECONDS` for
        the thread that reads it (it closes the channel's connection as it ends); once.

        RQ's own waits for that thread without a bound (redis-py 8's ``stop()``), and the thread
        may be in a 60 s wait: once the unsubscribe's answer is read, redis-py waits for a new
        subscription before it looks at whether it should stop (after a Redis restart the thread
        is in its 60 s read). A worker asked to stop then took a minute to end, and one that
        Redis failed a minute before its successor started.
        """
        if self.pubsub_thread is None:
            return
        with suppress(redis.RedisError):
            self.pubsub.unsubscribe()  # wakes the thread, when Redis answers
        self.pubsub_thread.stop(timeout=CHANNEL_STOP_SECONDS)
        self.pubsub_thread = None

    def handle_job_success(self, job, *args, **kwargs):
        super().handle_job_success(job, *args, **kwargs)
        record_job(self.connection, job_name(job), duration(job), failed=False)

    def handle_job_failure(self, job, *args, **kwargs):
        super().handle_job_failure(job, *args, **kwargs)
        record_job(self.connection, job_name(job), duration(job), failed=True)
