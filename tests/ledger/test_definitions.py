"""Model definitions: publishing is an upsert that changes nothing when nothing changed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from service.ledger.database import make_engine, session_factory
from service.ledger.repository import get_definition, model_definitions, publish_definition

from .factories import publish_model

THREADS = 4


def test_publish_inserts_then_returns_the_stored_definition(ledger_engine):
    make_session = session_factory(ledger_engine)
    with make_session() as session:
        publish_model(session, "hy-plus-baseline")
        publish_model(session, "agg-plus-baseline")
        session.commit()
    with make_session() as session:
        stored = get_definition(session, "agg-plus-baseline")
        assert stored.definition == {"universe": "all", "caps": {"position": 0.1, "sector": 0.35}}
        assert (stored.benchmark, stored.risk_multiplier, stored.annual_fee) == ("AGG", 1.0, 0.004)
        assert stored.published_at.tzinfo is UTC
        assert [d.model_id for d in model_definitions(session)] == [
            "agg-plus-baseline",
            "hy-plus-baseline",
        ]
        assert get_definition(session, "no-such-model") is None


def test_republishing_the_same_definition_changes_nothing(session):
    first = publish_model(session)
    published_at = first.published_at
    session.commit()
    assert publish_model(session).published_at == published_at


def test_definition_is_compared_as_json(session):
    first = publish_definition(session, "m", "M", "model", "", "AGG", 1.0, 0.004, {"t": ("A", 1)})
    published_at = first.published_at
    session.commit()
    again = publish_definition(session, "m", "M", "model", "", "AGG", 1.0, 0.004, {"t": ("A", 1)})
    assert again.definition == {"t": ["A", 1]}
    assert again.published_at == published_at


def test_republishing_a_changed_definition_updates_it(session):
    published_at = publish_model(session).published_at
    session.commit()
    changed = publish_definition(
        session,
        "agg-plus-baseline",
        name="Agg Plus",
        group="model",
        description="New text.",
        benchmark="AGG",
        risk_multiplier=1.0,
        annual_fee=0.0035,
        definition={"universe": "all", "caps": {"position": 0.1, "sector": 0.3}},
    )
    session.commit()
    session.expire_all()
    stored = get_definition(session, "agg-plus-baseline")
    assert stored is changed
    assert (stored.name, stored.annual_fee) == ("Agg Plus", 0.0035)
    assert stored.definition["caps"]["sector"] == 0.3
    assert stored.published_at > published_at
    assert len(model_definitions(session)) == 1


def publish_concurrently(url, barrier):
    """Publish the same definition from a new engine, as a starting web worker would."""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            barrier.wait()
            publish_model(session)
            session.commit()
    finally:
        engine.dispose()


def test_workers_starting_together_publish_one_definition(ledger_engine):
    url = ledger_engine.url.render_as_string(hide_password=False)
    barrier = threading.Barrier(THREADS)
    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(publish_concurrently, url, barrier) for _ in range(THREADS)]:
            future.result()
    with session_factory(ledger_engine)() as session:
        (stored,) = model_definitions(session)
        assert stored.published_at <= datetime.now(UTC)
