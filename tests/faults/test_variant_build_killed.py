"""A variant's build is killed (SIGKILL) midway; the next build completes it (issue 13,
acceptance 4).

The build (:func:`service.worker.variants.build_variants`, the RQ job the monthly run and the
API queue) runs in a process of its own on the small data directory (37 monthly rebalances),
against the PostgreSQL ledger and a private Redis. It is killed twice: while it writes the
variant's months (the transaction is open: the test holds the outbox it writes next, so the
kill cannot race the commit), and after it committed them, with some published
to the cache and not all. A third build runs to its end.

What must hold: the variant is ``ready`` only after the last build; the ledger holds each of
its 37 months once; the cache serves every version, the latest the ledger's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text

from service.cache import versions
from service.config import VARIABLES, settings_from_env
from service.ledger import get_variant, list_rebalances
from service.ledger.database import driver_url
from service.publishing import market_data, publish_definitions
from service.worker.handles import handles
from service.worker.variants import create_variant

from .conftest import TIMEOUT

MONTHS = 37
REQUEST = {"base_model": "agg-plus-baseline", "name": "no HY", "exclude_tickers": ["HYG", "JNK"]}
BUILD = (
    "from service.worker.variants import build_variants; import sys; build_variants(sys.argv[1:])"
)


def build(environ: dict, variant_id: str) -> subprocess.Popen:
    """The build job of one variant in a process of its own, with the app's variables of
    ``environ`` only."""
    env = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    command = [sys.executable, "-c", BUILD, variant_id]
    return subprocess.Popen(command, env=env | environ, stdout=subprocess.DEVNULL)


def kill_when(process: subprocess.Popen, condition, what: str) -> None:
    deadline = time.monotonic() + 10 * TIMEOUT
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the build ended before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen")
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=TIMEOUT)


def test_a_killed_build_is_completed_by_the_next_and_no_month_is_recorded_twice(
    environ, small_data_dir
):
    environ = {**environ, "PLUSALPHA_DATA_DIR": small_data_dir}
    h = handles(settings_from_env(environ))
    with h.sessions() as session:
        publish_definitions(session)
        session.commit()
        variant_id = create_variant(
            session,
            market_data(small_data_dir),
            REQUEST,
            tenant="acme",
            created_by=None,
            limit=10,
        ).id
        session.commit()
    ledger = create_engine(driver_url(environ["DATABASE_URL"]))

    def writing() -> bool:  # the build's transaction has inserted rows, not committed
        with ledger.connect() as connection:
            query = "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            query += "WHERE c.relname = 'rebalances' AND l.mode = 'RowExclusiveLock'"
            return connection.execute(text(query)).scalar() > 0

    def cached() -> int:
        return len(versions(h.redis, variant_id, limit=MONTHS + 1))

    try:
        # The build inserts its months, then their event into the outbox, then commits: with
        # the outbox held, it waits between the two, so the kill lands before the commit.
        with ledger.connect() as outbox_held:
            outbox_held.execute(text("LOCK TABLE webhook_events IN SHARE MODE"))
            kill_when(build(environ, variant_id), writing, "the months being written")
        with h.sessions() as session:
            assert list_rebalances(session, variant_id, limit=None) == []  # nothing half-done
            assert get_variant(session, variant_id).status == "building"
        kill_when(build(environ, variant_id), lambda: cached() > 0, "a first version published")
        with h.sessions() as session:
            assert len(list_rebalances(session, variant_id, limit=None)) == MONTHS
            assert get_variant(session, variant_id).status == "building"
        assert cached() < MONTHS
        last = build(environ, variant_id)
        assert last.wait(timeout=10 * TIMEOUT) == 0
    finally:
        ledger.dispose()
    with h.sessions() as session:
        variant = get_variant(session, variant_id)
        rows = list_rebalances(session, variant_id, limit=None)
    assert variant.status == "ready", variant.error
    assert len(rows) == MONTHS == len({row.as_of for row in rows})
    assert sorted(versions(h.redis, variant_id, limit=MONTHS + 1)) == sorted(
        r.version for r in rows
    )
