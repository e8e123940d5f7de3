"""Engines, migrations and the database behaviour the repository relies on."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import StatementError

from service.ledger.database import (
    HEAD_REVISION,
    alembic_config,
    at_head,
    driver_url,
    make_engine,
    session_factory,
    upgrade,
)
from service.ledger.repository import (
    add_audit_events,
    audit_events,
    create_key,
    latest_rebalance,
    model_definitions,
    revoke_key,
)
from service.ledger.schema import ApiKey, Base

from .factories import add_versions, publish_model

THREADS = 4
TABLES = {"model_definitions", "rebalances", "api_keys", "audit_events", "idempotency_records"}


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u:p@db.example/plusalpha", "postgresql+psycopg"),
        ("postgres://u:p@db.example/plusalpha", "postgresql+psycopg"),
        ("postgresql+psycopg://u:p@db.example/plusalpha", "postgresql+psycopg"),
        ("sqlite:///var/ledger.db", "sqlite"),
    ],
)
def test_urls_map_to_the_ledger_drivers(url, driver):
    assert driver_url(url).drivername == driver


def test_other_databases_are_refused_without_showing_the_password():
    with pytest.raises(ValueError, match="unsupported") as raised:
        make_engine("mysql://user:s3cret@db.example/plusalpha")
    assert "s3cret" not in str(raised.value)


def test_sqlite_engine_creates_the_directory_and_sets_up_connections(tmp_path):
    path = tmp_path / "deep" / "er" / "ledger.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert path.exists()
    finally:
        engine.dispose()


def test_migrations_agree_with_the_orm_metadata(ledger_engine):
    with ledger_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def current_and_head_revisions(engine):
    """The database's revision and the latest migration's."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        head = ScriptDirectory.from_config(alembic_config(connection)).get_current_head()
    return current, head


def test_the_head_revision_is_the_newest_migrations(ledger_engine):
    _, head = current_and_head_revisions(ledger_engine)
    assert head == HEAD_REVISION
    assert at_head(ledger_engine)
    with ledger_engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0001")
    assert not at_head(ledger_engine)
    upgrade(ledger_engine)  # migrates again from 0001
    assert current_and_head_revisions(ledger_engine) == (head, head)


def test_upgrading_again_is_harmless(ledger_url, ledger_engine):
    with session_factory(ledger_engine)() as session:
        publish_model(session)
        add_versions(session, "agg-plus-baseline", 2)
        session.commit()
    upgrade(ledger_engine)
    upgrade(ledger_url)
    current, head = current_and_head_revisions(ledger_engine)
    assert current == head
    with session_factory(ledger_engine)() as session:
        assert latest_rebalance(session, "agg-plus-baseline").version == 2
        assert len(model_definitions(session)) == 1


def test_processes_starting_together_migrate_once(ledger_url):
    barrier = threading.Barrier(THREADS)

    def start():
        barrier.wait()
        upgrade(ledger_url)

    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(start) for _ in range(THREADS)]:
            future.result()
    engine = make_engine(ledger_url)
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
        current, head = current_and_head_revisions(engine)
        assert current == head
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT count(*) FROM alembic_version")).scalar()
        assert versions == 1
    finally:
        engine.dispose()


def test_datetimes_come_back_aware_utc(ledger_engine):
    make_session = session_factory(ledger_engine)
    summer_in_paris = timezone(timedelta(hours=2))
    revoked_at = datetime(2024, 7, 1, 14, 30, 15, 123456, tzinfo=summer_in_paris)
    with make_session() as session:
        publish_model(session)
        add_versions(session, "agg-plus-baseline", 1)
        key, _ = create_key(session, name="k", tenant="t", scopes=["read"])
        revoke_key(session, key.id, at=revoked_at)
        add_audit_events(session, [{"action": "push"}])
        session.commit()
    with make_session() as session:
        stored_key = session.get_one(ApiKey, key.id)
        stored = [
            model_definitions(session)[0].published_at,
            latest_rebalance(session, "agg-plus-baseline").created_at,
            audit_events(session)[0].at,
            stored_key.created_at,
            stored_key.revoked_at,
        ]
    assert all(value.tzinfo is UTC for value in stored)
    assert stored_key.revoked_at == revoked_at
    assert stored_key.revoked_at.hour == 12


def test_naive_datetimes_are_refused(session):
    key, _ = create_key(session, name="k", tenant="t", scopes=["read"])
    session.commit()
    with pytest.raises(StatementError, match="naive"):
        revoke_key(session, key.id, at=datetime(2024, 7, 1, 12, 0))


def test_readers_do_not_wait_for_an_open_write(ledger_engine):
    make_session = session_factory(ledger_engine)
    with make_session() as session:
        publish_model(session)
        session.commit()
    with make_session() as writer, make_session() as reader:
        add_versions(writer, "agg-plus-baseline", 1)
        assert latest_rebalance(reader, "agg-plus-baseline") is None
        count = reader.scalar(select(func.count()).select_from(Base.metadata.tables["rebalances"]))
        assert count == 0
        writer.commit()
        assert latest_rebalance(reader, "agg-plus-baseline").as_of == date(2024, 1, 31)


def test_the_ledger_imports_nothing_of_flask_redis_or_the_rest_of_the_service():
    program = (
        "import sys, service.ledger; "
        "print(' '.join(m for m in sys.modules if m.split('.')[0] in ('flask', 'redis') "
        "or m.startswith('service.') and not m.startswith('service.ledger')))"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []
