"""Audit events (one bulk INSERT, filtered newest first) and idempotency records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from service.ledger.database import session_factory
from service.ledger.repository import (
    add_audit_events,
    audit_events,
    find_idempotency,
    save_idempotency,
)

T0 = datetime(2024, 10, 1, 12, 0, tzinfo=UTC)


def audit_event(i, key_id, model_id, detail=None):
    """An event ``i`` seconds after T0."""
    return {
        "at": T0 + timedelta(seconds=i),
        "key_id": key_id,
        "action": "read_weights",
        "model_id": model_id,
        "version": i,
        "detail": detail,
    }


def test_audit_events_are_inserted_in_one_statement(ledger_engine):
    inserts = []

    def count_inserts(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement)

    event.listen(ledger_engine, "before_cursor_execute", count_inserts)
    events = [
        audit_event(i, key_id=f"key_{i % 2}", model_id="agg", detail={"n": i}) for i in range(50)
    ]
    with session_factory(ledger_engine)() as session:
        add_audit_events(session, events)
        add_audit_events(session, [])
        session.commit()
        assert len(inserts) == 1
        assert len(audit_events(session, limit=1000)) == 50


def test_audit_events_filter_newest_first(session):
    add_audit_events(
        session,
        [
            audit_event(1, "key_a", "agg", {"ip": "10.0.0.1"}),
            audit_event(2, "key_b", "agg"),
            audit_event(3, "key_a", "hy"),
            audit_event(4, None, None),
        ],
    )
    session.commit()
    assert [e.version for e in audit_events(session)] == [4, 3, 2, 1]
    assert [e.version for e in audit_events(session, model_id="agg")] == [2, 1]
    assert [e.version for e in audit_events(session, key_id="key_a")] == [3, 1]
    assert [e.version for e in audit_events(session, key_id="key_a", model_id="agg")] == [1]
    assert [e.version for e in audit_events(session, limit=2)] == [4, 3]
    first = audit_events(session, model_id="agg")[-1]
    assert first.detail == {"ip": "10.0.0.1"}
    assert first.at == T0 + timedelta(seconds=1)
    assert audit_events(session, model_id="agg")[0].detail is None


def test_audit_event_time_defaults_to_now(session):
    before = datetime.now(UTC)
    add_audit_events(session, [{"action": "push", "key_id": "key_a"}])
    session.commit()
    (stored,) = audit_events(session)
    assert before <= stored.at <= datetime.now(UTC)
    assert stored.model_id is None


def test_idempotency_record_round_trip(ledger_engine):
    make_session = session_factory(ledger_engine)
    response = {"model_id": "agg", "version": 7, "weights": [["AGG", 1 / 3]]}
    with make_session() as session:
        save_idempotency(session, "key_a", "req-1", "h" * 64, 201, response)
        session.commit()
    with make_session() as session:
        record = find_idempotency(session, "key_a", "req-1")
        assert (record.request_hash, record.status_code, record.response) == (
            "h" * 64,
            201,
            response,
        )
        assert record.created_at.tzinfo is UTC
        assert find_idempotency(session, "key_b", "req-1") is None
        assert find_idempotency(session, "key_a", "req-2") is None


def test_second_record_for_the_same_request_is_refused(session):
    save_idempotency(session, "key_a", "req-1", "a" * 64, 201, {"version": 1})
    session.commit()
    with pytest.raises(IntegrityError):
        save_idempotency(session, "key_a", "req-1", "b" * 64, 201, {"version": 2})
    session.rollback()
    assert find_idempotency(session, "key_a", "req-1").response == {"version": 1}
