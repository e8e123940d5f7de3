"""Worker jobs. Each builds its handles from the settings, so RQ can run it in any process.

Running a job twice adds nothing: a month already in the ledger (by its as-of date, for
``source='worker'``) is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from ..cache import flush_all, make_redis
from ..config import ledger_url, settings_from_env
from ..engine.backtest import run_backtests
from ..engine.data import MarketData, load_data
from ..engine.models import MODELS
from ..engine.sample import sample_data
from ..ledger import (
    add_rebalance,
    get_definition,
    list_rebalances,
    make_engine,
    session_factory,
    upgrade,
    worker_as_of_dates,
)
from ..publishing import publish, publish_definitions, securities_catalog

QUEUE = "plusalpha"


@dataclass
class Handles:
    """What a job needs: ledger sessions, the cache and the data directory."""

    sessions: object
    redis: object
    data_dir: str | None


def handles(settings: dict | None = None) -> Handles:
    """Open the ledger (migrated to head) and the cache the settings name."""
    settings = settings or settings_from_env()
    engine = make_engine(ledger_url(settings))
    upgrade(engine)
    redis = make_redis(settings["REDIS_URL"], settings["VAR_DIR"])
    return Handles(session_factory(engine), redis, settings["DATA_DIR"])


def market_data(data_dir: str | None) -> MarketData:
    return sample_data() if data_dir is None else load_data(data_dir)


def effective_date(as_of: pd.Timestamp) -> datetime:
    """A rebalance built after the close of ``as_of`` is in force from the next business day."""
    return (as_of + pd.offsets.BDay(1)).date()


def run_due(h: Handles, model_ids=None, progress: bool = False) -> dict[str, list[int]]:
    """Backtest the models, add the months the ledger lacks, publish them; new versions."""
    ids = list(model_ids or MODELS)
    data = market_data(h.data_dir)
    backtests = run_backtests(data, ids, progress=progress)
    catalog = securities_catalog(h.data_dir)
    added: dict[str, list[int]] = {}
    with h.sessions() as session:
        publish_definitions(session)
        session.commit()
        for model_id in sorted(ids):
            known = worker_as_of_dates(session, model_id)
            rows = [
                add_rebalance(
                    session,
                    model_id,
                    as_of=r.date.date(),
                    effective_date=effective_date(r.date),
                    weights={t: float(w) for t, w in r.weights.items()},
                    source="worker",
                )
                for r in backtests[model_id].rebalances
                if r.date.date() not in known
            ]
            session.commit()
            definition = get_definition(session, model_id)
            for row in rows:
                publish(h.redis, definition, row, catalog)
            added[model_id] = [row.version for row in rows]
    return added


def rebuild_cache(h: Handles) -> int:
    """Empty the cache and publish every version in the ledger again; the count published."""
    flush_all(h.redis)
    catalog = securities_catalog(h.data_dir)
    count = 0
    with h.sessions() as session:
        for model_id in MODELS:
            definition = get_definition(session, model_id)
            if definition is None:
                continue
            before = None
            while page := list_rebalances(session, model_id, before_version=before, limit=500):
                for row in reversed(page):
                    publish(h.redis, definition, row, catalog)
                count += len(page)
                before = page[-1].version
    return count


def next_run(now: datetime) -> datetime:
    """One hour after the next month end (UTC), when that month's closes are in."""
    month_end = pd.Timestamp(now).tz_convert(UTC).normalize() + pd.offsets.MonthEnd(1)
    return (month_end + timedelta(days=1, hours=1)).to_pydatetime()


def scheduled_run() -> dict[str, list[int]]:
    """The RQ job: run what is due, then schedule the next run after the next month end."""
    from rq import Queue

    h = handles()
    added = run_due(h)
    Queue(QUEUE, connection=h.redis).enqueue_at(next_run(datetime.now(UTC)), scheduled_run)
    return added
