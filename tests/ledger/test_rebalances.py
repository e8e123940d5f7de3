"""Rebalances: version numbering (also under concurrent writers), lookups and pagination."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from service.ledger.database import make_engine, session_factory
from service.ledger.repository import (
    UnknownModelError,
    add_rebalance,
    add_rebalances,
    get_rebalance,
    latest_rebalance,
    list_rebalances,
    worker_as_of_dates,
)
from service.ledger.schema import Rebalance, WebhookEvent

from .factories import FIRST_AS_OF, add_versions, publish_model

THREADS = 4
REBALANCES_PER_THREAD = 10
MODELS = ("agg-plus-baseline", "hy-plus-baseline")


def add_one(session, model_id, as_of=FIRST_AS_OF, effective_date=FIRST_AS_OF, source="worker"):
    """Add a rebalance with fixed weights."""
    return add_rebalance(
        session,
        model_id,
        as_of=as_of,
        effective_date=effective_date,
        weights={"AGG": 1.0},
        source=source,
    )


def test_versions_count_up_by_one_per_model(session):
    publish_model(session, "agg-plus-baseline")
    publish_model(session, "hy-plus-baseline")
    agg = add_versions(session, "agg-plus-baseline", 3)
    hy = add_versions(session, "hy-plus-baseline", 2)
    session.commit()
    assert [row.version for row in agg] == [1, 2, 3]
    assert [row.version for row in hy] == [1, 2]
    assert add_one(session, "agg-plus-baseline").version == 4


def test_rebalance_of_an_unpublished_model_is_refused(session):
    with pytest.raises(UnknownModelError, match="no-such-model"):
        add_one(session, "no-such-model")


def test_unknown_source_is_refused(session):
    publish_model(session)
    with pytest.raises(ValueError, match="source"):
        add_one(session, "agg-plus-baseline", source="manual")


def test_rolled_back_rebalance_leaves_nothing(ledger_engine):
    make_session = session_factory(ledger_engine)
    with make_session() as session:
        publish_model(session)
        session.commit()
        add_one(session, "agg-plus-baseline")
        session.rollback()
    with make_session() as session:
        assert latest_rebalance(session, "agg-plus-baseline") is None
        assert add_one(session, "agg-plus-baseline").version == 1


def add_concurrently(url, model_ids, count, barrier):
    """In its own engine (as another process would), add ``count`` versions to each model."""
    engine = make_engine(url)
    try:
        make_session = session_factory(engine)
        barrier.wait()
        versions = {model_id: [] for model_id in model_ids}
        for _ in range(count):
            for model_id in model_ids:
                with make_session() as session:
                    row = add_one(session, model_id)
                    session.commit()
                    versions[model_id].append(row.version)
        return versions
    finally:
        engine.dispose()


def test_concurrent_writers_never_share_or_skip_a_version(ledger_url, ledger_engine):
    with session_factory(ledger_engine)() as session:
        for model_id in MODELS:
            publish_model(session, model_id)
        session.commit()
    url = ledger_engine.url.render_as_string(hide_password=False)
    barrier = threading.Barrier(THREADS)
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [
            pool.submit(add_concurrently, url, MODELS, REBALANCES_PER_THREAD, barrier)
            for _ in range(THREADS)
        ]
        results = [future.result() for future in futures]
    expected = list(range(1, THREADS * REBALANCES_PER_THREAD + 1))
    with session_factory(ledger_engine)() as session:
        for model_id in MODELS:
            handed_out = sorted(v for result in results for v in result[model_id])
            stored = session.scalars(
                select(Rebalance.version)
                .where(Rebalance.model_id == model_id)
                .order_by(Rebalance.version)
            )
            assert handed_out == expected
            assert list(stored) == expected
            for result in results:
                assert result[model_id] == sorted(result[model_id])


def test_writer_that_loses_the_race_retries_with_the_next_version(ledger_engine):
    make_session = session_factory(ledger_engine)
    with make_session() as session:
        publish_model(session)
        session.commit()
    conflicts = []

    def record_conflict(context):
        if isinstance(context.sqlalchemy_exception, IntegrityError):
            conflicts.append(context.sqlalchemy_exception)

    event.listen(ledger_engine, "handle_error", record_conflict)

    def second_writer():
        with make_session() as second:
            row = add_one(second, "agg-plus-baseline")
            second.commit()
            return row.version

    with make_session() as first, ThreadPoolExecutor(1) as pool:
        # A writer that takes no lock (a backfill, say) holds version 1, not yet committed.
        first.add(Rebalance(version=1, content_hash="", **first_rebalance_fields()))
        first.flush()
        second_version = pool.submit(second_writer)
        threading.Event().wait(1.0)  # the second writer is now blocked behind the first
        first.commit()
        assert second_version.result() == 2
    # PostgreSQL lets the second writer compute version 1 too and rejects its insert once the
    # first commits; it retries. SQLite makes it wait for the write lock: it never conflicts.
    assert len(conflicts) == (1 if ledger_engine.dialect.name == "postgresql" else 0)


def first_rebalance_fields():
    """The columns of a rebalance of agg-plus-baseline other than its version and hash."""
    return {
        "model_id": "agg-plus-baseline",
        "as_of": FIRST_AS_OF,
        "effective_date": FIRST_AS_OF,
        "weights": [["AGG", 1.0]],
        "source": "worker",
    }


def backfill(months: int) -> list[dict]:
    """``months`` worker versions, one a month from ``FIRST_AS_OF``'s month."""
    return [
        {
            "as_of": date(2024 + m // 12, m % 12 + 1, 28),
            "effective_date": date(2024 + m // 12, m % 12 + 1, 28),
            "weights": {"AGG": 0.5, "HYG": 0.5 - m / 1000, "TLT": m / 1000},
            "source": "worker",
        }
        for m in range(months)
    ]


def test_a_backfill_is_the_next_versions_in_order_and_one_event_for_the_last(session):
    publish_model(session)
    first = add_one(session, "agg-plus-baseline")
    rows = add_rebalances(session, "agg-plus-baseline", backfill(5))
    session.commit()
    assert [row.version for row in rows] == [2, 3, 4, 5, 6]
    assert [row.as_of for row in rows] == [v["as_of"] for v in backfill(5)]
    events = session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)).all()
    assert [event.version for event in events] == [first.version, 6]
    single = [add_one(session, "agg-plus-baseline") for _ in range(2)]
    assert [row.version for row in single] == [7, 8]
    assert add_rebalances(session, "agg-plus-baseline", []) == []


def test_a_backfill_is_the_rows_one_at_a_time_would_be(session):
    publish_model(session, "agg-plus-baseline")
    publish_model(session, "hy-plus-baseline")
    batch = add_rebalances(session, "agg-plus-baseline", backfill(4), announce=False)
    one_by_one = [
        add_rebalance(session, "hy-plus-baseline", announce=False, **version)
        for version in backfill(4)
    ]
    session.commit()
    columns = ("version", "as_of", "effective_date", "weights", "source", "content_hash")
    assert [[getattr(r, c) for c in columns] for r in batch] == [
        [getattr(r, c) for c in columns] for r in one_by_one
    ]
    assert session.scalars(select(WebhookEvent)).all() == []


def test_a_backfill_that_loses_the_race_takes_the_versions_after_the_winner(ledger_engine):
    make_session = session_factory(ledger_engine)
    with make_session() as session:
        publish_model(session)
        session.commit()

    def backfiller():
        with make_session() as second:
            rows = add_rebalances(second, "agg-plus-baseline", backfill(3))
            second.commit()
            return [row.version for row in rows]

    with make_session() as first, ThreadPoolExecutor(1) as pool:
        first.add(Rebalance(version=1, content_hash="", **first_rebalance_fields()))
        first.flush()
        versions = pool.submit(backfiller)
        threading.Event().wait(1.0)  # the backfill is now blocked behind the first writer
        first.commit()
        assert versions.result() == [2, 3, 4]


def test_version_in_force_on_a_date(session):
    publish_model(session)
    v1 = add_one(session, "agg-plus-baseline", effective_date=date(2024, 2, 1))
    v2 = add_one(session, "agg-plus-baseline", effective_date=date(2024, 3, 1))
    v3 = add_one(session, "agg-plus-baseline", effective_date=date(2024, 2, 15))
    session.commit()
    model = "agg-plus-baseline"
    assert latest_rebalance(session, model, on=date(2024, 1, 31)) is None
    assert latest_rebalance(session, model, on=date(2024, 2, 1)) is v1
    assert latest_rebalance(session, model, on=date(2024, 2, 14)) is v1
    assert latest_rebalance(session, model, on=date(2024, 2, 20)) is v3
    assert latest_rebalance(session, model, on=date(2024, 3, 5)) is v3
    assert latest_rebalance(session, model) is v3
    assert latest_rebalance(session, "hy-plus-baseline") is None
    assert v2.version == 2


def test_get_rebalance(session):
    publish_model(session)
    rows = add_versions(session, "agg-plus-baseline", 3)
    session.commit()
    assert get_rebalance(session, "agg-plus-baseline", 2) is rows[1]
    assert get_rebalance(session, "agg-plus-baseline", 4) is None
    assert get_rebalance(session, "hy-plus-baseline", 1) is None


def test_pages_are_newest_first_without_gaps_or_repeats(session):
    publish_model(session)
    publish_model(session, "hy-plus-baseline")
    add_versions(session, "agg-plus-baseline", 25)
    add_versions(session, "hy-plus-baseline", 3)
    session.commit()
    pages, before = [], None
    while page := list_rebalances(session, "agg-plus-baseline", before_version=before, limit=7):
        pages.append([row.version for row in page])
        before = page[-1].version
    assert [len(page) for page in pages] == [7, 7, 7, 4]
    assert [v for page in pages for v in page] == list(range(25, 0, -1))
    assert [row.version for row in list_rebalances(session, "agg-plus-baseline")] == list(
        range(25, 5, -1)
    )


def test_worker_as_of_dates_leave_out_pushes(session):
    publish_model(session)
    add_one(session, "agg-plus-baseline", as_of=date(2024, 1, 31))
    add_one(session, "agg-plus-baseline", as_of=date(2024, 2, 29))
    add_one(session, "agg-plus-baseline", as_of=date(2024, 3, 15), source="push")
    session.commit()
    assert worker_as_of_dates(session, "agg-plus-baseline") == {
        date(2024, 1, 31),
        date(2024, 2, 29),
    }
    assert worker_as_of_dates(session, "hy-plus-baseline") == set()
