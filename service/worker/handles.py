"""What a job needs (ledger sessions, the cache, the data directory), the queue it runs on and
the names of the documents it publishes.

Apart from :mod:`service.worker.jobs` so that the API and the CLI can queue jobs, read their
documents and open the worker's handles without importing the engine; the ledger is imported
when the handles or the variants are asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from ..config import ledger_url, settings_from_env

QUEUE = "plusalpha"
"""The RQ queue of every job: the monthly run and batches of trade lists."""
PERFORMANCE_DOCUMENT = "performance"
"""The cache document of the performance table (see :mod:`service.worker.jobs`)."""
HISTORY_DOCUMENT = "performance.history"
"""The cache document of the months the performance page offers (see :mod:`service.worker.jobs`)."""


BUILD_JOB = "service.worker.variants.build_variants"
"""The RQ job that builds variants, by name: queued without importing the engine."""
BUILD_TIMEOUT_SECONDS = 3600
"""A job building variants may run this long before RQ stops it."""
BUILD_BATCH = 25
"""The most variants a build job holds: a job's variants share the data and each month's risk
model and signals (about 1.6 s of a job, against 1.4 s a variant for its own backtest, records
and fact sheet)."""
TAIL_BATCH = 5
"""The fewest variants a build job holds, unless there are fewer to build."""


def build_batches(variant_ids: list[str]) -> list[list[str]]:
    """The variants in jobs, largest first: a quarter of those left a job, from
    :data:`BUILD_BATCH` down to :data:`TAIL_BATCH` (a guided schedule, as OpenMP's); fewer
    than that left over join the last job.

    Large jobs share each month's shared work among many variants; the small ones at the end
    keep the workers finishing together, whatever their number. In jobs of 25 alone, 200
    variants on 2 workers were 8 jobs, and the worker that drew the last one worked for a
    minute while the other had stopped (a speed-up of 1.57, not 2).
    """
    batches, start = [], 0
    while start < len(variant_ids):
        left = len(variant_ids) - start
        size = min(BUILD_BATCH, max(TAIL_BATCH, -(-left // 4)))
        if left - size < TAIL_BATCH:
            size = left
        batches.append(variant_ids[start : start + size])
        start += size
    return batches


def queue_variant_builds(redis, variant_ids: list[str]) -> int:
    """Queue the builds of the variants (:func:`build_batches`); how many jobs."""
    from rq import Queue

    queue = Queue(QUEUE, connection=redis)
    batches = build_batches(variant_ids)
    for batch in batches:
        queue.enqueue(
            BUILD_JOB,
            batch,
            job_timeout=BUILD_TIMEOUT_SECONDS,
            description=f"build {len(batch)} variant(s) from {batch[0]}",
        )
    return len(batches)


def buildable_variant_ids(h: Handles) -> list[str]:
    """The variants a monthly run builds (not retired, building or ready)."""
    from ..ledger import buildable_variants

    with h.sessions() as session:
        return [v.id for v in buildable_variants(session)]


def model_performance_document(model_id: str) -> str:
    """The name of the document of one model's statistics and monthly returns."""
    return f"{PERFORMANCE_DOCUMENT}.{model_id}"


@dataclass
class Handles:
    """What a job needs: ledger sessions, the cache (opened on first use: a command that needs
    only the ledger starts no embedded Redis) and the data directory."""

    sessions: object
    open_redis: Callable[[], object]
    data_dir: str | None

    @cached_property
    def redis(self):
        return self.open_redis()


def handles(settings: dict | None = None) -> Handles:
    """Open the ledger (migrated to head) and the cache the settings name."""
    from ..ledger import make_engine, session_factory, upgrade

    settings = settings or settings_from_env()
    engine = make_engine(ledger_url(settings))
    upgrade(engine)

    def open_redis():
        from ..cache import make_redis  # redis-py, imported by the commands that use the cache

        return make_redis(settings["REDIS_URL"], settings["VAR_DIR"])

    return Handles(session_factory(engine), open_redis, settings["DATA_DIR"])
