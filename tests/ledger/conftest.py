"""Ledger fixtures on real databases: a SQLite file and PostgreSQL.

Other test packages reuse them by importing the fixtures into their own ``conftest.py``::

    from tests.ledger.conftest import (  # noqa: F401
        ledger_engine,
        ledger_url,
        postgres_unreachable,
        session,
    )

``ledger_url`` (parametrized ``sqlite`` / ``postgresql``) is an empty database's URL;
``ledger_engine`` is an engine on it, migrated to head; ``session`` is a session on that engine.
Every test gets an empty database: a new SQLite file, or a PostgreSQL database emptied of every
table (including ``alembic_version``). PostgreSQL is at ``PLUSALPHA_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``); its cases are skipped, saying why, only when the
server cannot be reached.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, MetaData, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service.ledger.database import make_engine, session_factory, upgrade

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")


def postgres_url() -> str:
    """The test PostgreSQL server's URL."""
    return os.environ.get("PLUSALPHA_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def empty_postgres_database(url: str) -> None:
    """Drop every table of the database at ``url`` (the server must be reachable)."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            tables = MetaData()
            tables.reflect(connection)
            tables.drop_all(connection)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_unreachable() -> str | None:
    """Why the test PostgreSQL server cannot be reached, or None when it can."""
    url = make_url(postgres_url()).update_query_dict({"connect_timeout": "5"})
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect():
            return None
    except OperationalError as error:
        reason = f"PostgreSQL at {postgres_url()} unreachable: {error.orig}"
        print(reason)
        return reason
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def ledger_url(request, tmp_path, postgres_unreachable) -> str:
    """The URL of an empty database, SQLite file or PostgreSQL, not yet migrated."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger' / 'ledger.db'}"
    if postgres_unreachable:
        pytest.skip(postgres_unreachable)
    empty_postgres_database(postgres_url())
    return postgres_url()


@pytest.fixture
def ledger_engine(ledger_url) -> Iterator[Engine]:
    """An engine on an empty database migrated to head."""
    engine = make_engine(ledger_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(ledger_engine) -> Iterator[Session]:
    """A session on ``ledger_engine``, closed (rolled back) after the test."""
    with session_factory(ledger_engine)() as session:
        yield session
