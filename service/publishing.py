"""From the ledger to the serving cache: a version's document in every platform format.

The worker, an internal push and ``plusalpha cache rebuild`` all publish through here, so a
version is rendered the same way whoever publishes it.

A push is recorded in the ledger even when Redis cannot take it. Left out of the cache, the
version would stay hidden behind the one before it once Redis is back (the cache answers reads
without asking the ledger), so :func:`publish_later` keeps it and a thread of the process
publishes it again every :data:`RETRY_SECONDS` until Redis takes it. A process that dies first
loses that list: the worker's next run publishes what the cache lacks
(``service.worker.jobs.publish_missing``), as does ``plusalpha cache rebuild``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from .cache import publish_version
from .engine.models import MODELS, ModelSpec
from .formats import FORMATS
from .ledger import ModelDefinition, Rebalance, publish_definition, put_shelf

if TYPE_CHECKING:
    import pandas as pd

    from .engine.data import MarketData


@cache
def market_data(data_dir: str | None) -> MarketData:
    """The configured data (or the sample), loaded once per process."""
    from .engine.sample import data_or_sample  # the engine only where it is used

    return data_or_sample(data_dir)


@cache
def securities_catalog(data_dir: str | None) -> pd.DataFrame:
    """Name, sector and kind of every series of the configured data (or the sample)."""
    return market_data(data_dir).securities[["name", "sector", "kind"]]


@cache
def security_labels(data_dir: str | None) -> dict[str, tuple[str, str]]:
    """Name and sector of every series of the configured data (or the sample), by ticker."""
    return labels_of(securities_catalog(data_dir))


def labels_of(catalog: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """A catalog's names and sectors as a weights document writes them, by ticker.

    A dict, not the catalog: a document looks up each of its holdings, and a lookup in a
    column of Arrow strings takes about 40 µs (0.06 s of CPU for a variant's 106 versions).
    """
    columns = zip(catalog.index, catalog["name"], catalog["sector"], strict=True)
    return {ticker: (str(name), str(sector)) for ticker, name, sector in columns}


@cache
def latest_closes(data_dir: str | None) -> dict[str, float]:
    """Each holdable series' latest close in the configured data (or the sample)."""
    return market_data(data_dir).latest_closes().to_dict()


def definition_document(spec: ModelSpec) -> dict:
    """The model definition as published: everything that describes the model."""
    document = dataclasses.asdict(spec)
    universe = document.pop("universe")
    document["universe"] = {
        "tickers": list(universe["tickers"]) if universe["tickers"] else None,
        "sectors": sorted(universe["sectors"]) if universe["sectors"] else None,
        "ig_only": universe["ig_only"],
        "min_aum": universe["min_aum"],
    }
    if universe["exclude"]:  # a variant's exclusions; the nine have none
        document["universe"]["exclude"] = sorted(universe["exclude"])
    return document


def publish_definitions(session) -> None:
    """Record the engine's model definitions in the ledger (a no-op when unchanged)."""
    for spec in MODELS.values():
        publish_definition(
            session,
            spec.id,
            spec.name,
            spec.group,
            spec.description,
            spec.benchmark,
            spec.risk_multiplier,
            spec.annual_fee,
            definition_document(spec),
        )


def publish_sample_shelves(session, data: MarketData) -> None:
    """Record the sample's shelves (``schwab-etfs``) in the ledger, on the sample data only."""
    from .engine.sample import SAMPLE_SHELVES

    if data.metadata.get("sample"):
        for shelf_id, (name, tickers) in SAMPLE_SHELVES.items():
            # A cut of the sample (tests' data directories) may lack some of them.
            put_shelf(session, shelf_id, name, [t for t in tickers if t in data.securities.index])


def weights_document(
    definition: ModelDefinition, rebalance: Rebalance, labels: Mapping[str, tuple[str, str]]
) -> dict:
    """The JSON document of one version, the source of every format; ``labels``: name and
    sector by ticker (:func:`security_labels`), a ticker it lacks named by itself."""
    return {
        "model_id": rebalance.model_id,
        "name": definition.name,
        "description": definition.description,
        "version": rebalance.version,
        "as_of": rebalance.as_of.isoformat(),
        "effective_date": rebalance.effective_date.isoformat(),
        "hash": rebalance.content_hash,
        "weights": [holding(ticker, weight, labels) for ticker, weight in rebalance.weights],
    }


def holding(ticker: str, weight: float, labels: Mapping[str, tuple[str, str]]) -> dict:
    """One holding of a weights document."""
    name, sector = labels.get(ticker, (ticker, "unknown"))
    return {"ticker": ticker, "name": name, "sector": sector, "weight": weight}


def rendered_bodies(document: Mapping) -> dict[str, bytes]:
    """The document rendered in every format, as stored in the cache."""
    return {name: fmt.render(document).encode() for name, fmt in FORMATS.items()}


def publish(redis, definition: ModelDefinition, rebalance: Rebalance, labels) -> None:
    """Render one version and publish it to the cache (its pointer moves only forward)."""
    document = weights_document(definition, rebalance, labels)
    publish_version(
        redis,
        rebalance.model_id,
        rebalance.version,
        rebalance.effective_date,
        rendered_bodies(document),
        {"hash": rebalance.content_hash, "as_of": document["as_of"]},
    )


def in_force_order(row: Rebalance) -> tuple:
    """The order in which versions come into force: by effective date, then by version."""
    return row.effective_date, row.version


def republish(redis, definition: ModelDefinition, rebalances: Iterable[Rebalance], labels) -> int:
    """Publish a model's versions again, the last in force first; how many were published.

    In that order readers never get a wrong version while the cache fills: the cached versions are
    always the top of the (effective date, version) order, so the version in force on a day is
    either cached already or, with no cached version at or below that day, read from the ledger.
    """
    rows = sorted(rebalances, key=in_force_order, reverse=True)
    for row in rows:
        publish(redis, definition, row, labels)
    return len(rows)


# --- versions Redis could not take -------------------------------------------------------------

RETRY_SECONDS = 1.0
"""How often a process tries again to publish the versions Redis could not take."""

log = logging.getLogger(__name__)
_owed: dict[tuple[str, int], tuple] = {}
"""``(model_id, version)``: the arguments of :func:`publish` that failed."""
_owed_lock = threading.Lock()
_retrier_pid: int | None = None


def publish_later(redis, definition: ModelDefinition, rebalance: Rebalance, labels) -> None:
    """Publish the version once Redis takes it again, from a thread of this process."""
    global _retrier_pid
    with _owed_lock:
        _owed[rebalance.model_id, rebalance.version] = (redis, definition, rebalance, labels)
        if _retrier_pid != os.getpid():  # none runs in this process (a forked one included)
            _retrier_pid = os.getpid()
            threading.Thread(target=retry_owed, name="publish-retrier", daemon=True).start()


def retry_owed() -> None:
    """Publish the owed versions, each model's last in force first, until none is left."""
    global _retrier_pid
    while True:
        time.sleep(RETRY_SECONDS)
        with _owed_lock:
            if not _owed:
                _retrier_pid = None
                return
            owed = dict(_owed)
        by_force = sorted(owed.items(), key=lambda item: in_force_order(item[1][2]), reverse=True)
        for key, (redis, definition, rebalance, labels) in by_force:
            try:
                publish(redis, definition, rebalance, labels)
            except RedisError:
                break  # still down: all of them again later
            with _owed_lock:
                if _owed.get(key) is owed[key]:
                    del _owed[key]
            log.info("published %s version %s, which Redis could not take before", *key)
