"""Engines, sessions and migrations of the ledger.

SQLite (one file, shared by the web workers and the background worker) runs in WAL mode with a
busy timeout. A connection reads without taking any lock, and starts a ``BEGIN IMMEDIATE``
transaction (waiting up to the busy timeout for the write lock) just before its first write, so
concurrent writers queue instead of failing, and a savepoint stays inside the transaction that the
caller commits or rolls back. PostgreSQL uses the psycopg 3 driver at its default isolation level,
READ COMMITTED.

A database that goes away must cost a request an error (which the API answers 503), not a hang,
and the pool must recover when it is back: every engine checks a pooled connection before
reusing it (``pool_pre_ping``), so connections that died with the server are replaced, and a
PostgreSQL connection attempt gives up after :data:`POSTGRES_CONNECT_TIMEOUT_SECONDS` (libpq
would otherwise wait on a host that stopped answering for as long as the system's TCP timeout).

Statements' parameters are never logged nor put in an error's message (``hide_parameters``):
they carry the webhook signing secrets, which the ledger must keep to sign with.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
HEAD_REVISION = max(
    p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py")
)
"""The newest migration's revision. Migrations are numbered: ``NNNN_what.py`` holds revision
``NNNN``, down from the one before (``tests/ledger/test_database.py`` checks it against
Alembic's own view)."""
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_WAL_RETRY_SECONDS = 0.01
# Any constant shared by every process: the key of the advisory lock that serializes migrations.
POSTGRES_MIGRATION_LOCK = 0x706C7573616C7068
# Statements that need no write lock; anything else starts an immediate SQLite transaction.
SQLITE_LOCK_FREE_STATEMENTS = ("SELECT", "PRAGMA", "BEGIN")
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5
"""libpq's ``connect_timeout``, unless the URL sets one."""


def make_engine(url: str) -> Engine:
    """An engine for a ``sqlite:///path`` or ``postgresql://`` (or ``postgres://``) URL.

    Parameters
    ----------
    url : str
        SQLite: the file's parent directory is created. PostgreSQL: the URL is mapped to the
        psycopg 3 driver (``postgresql+psycopg://``).

    Returns
    -------
    sqlalchemy.Engine
        With ``pool_pre_ping``; for SQLite, every connection has WAL, a busy timeout and foreign
        keys, and takes the write lock before its first write; for PostgreSQL, a connection
        attempt times out after :data:`POSTGRES_CONNECT_TIMEOUT_SECONDS` (or the URL's
        ``connect_timeout``).

    Raises
    ------
    ValueError
        For any other kind of database.
    """
    parsed = driver_url(url)
    if parsed.get_backend_name() == "sqlite":
        create_parent_directory(parsed)
        engine = create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
        event.listen(engine, "connect", configure_sqlite_connection)
        event.listen(engine, "before_cursor_execute", begin_immediate_before_write)
        return engine
    connect_args = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
    if "connect_timeout" in parsed.query:
        connect_args = {}  # the URL's own wins
    return create_engine(
        parsed, pool_pre_ping=True, hide_parameters=True, connect_args=connect_args
    )


class MissingLedger(LookupError):
    """No ledger where a URL points: no SQLite file there, or a database without its tables."""


def require_ledger(url: str) -> None:
    """Check that ``url`` names a ledger that exists, creating nothing.

    For the commands that only read the ledger (or change what is in it): opening a new
    SQLite file, or migrating an empty database, would answer them from an empty ledger.

    Parameters
    ----------
    url : str
        As for :func:`make_engine`.

    Raises
    ------
    MissingLedger
        Naming where it looked: a SQLite file that does not exist (neither it nor its directory
        is created), a database that cannot be opened (PostgreSQL: none of that name, or no
        server answering), or a database, SQLite or PostgreSQL, that holds no ledger (no
        ``alembic_version`` table: never migrated). A ledger at an older revision exists: the
        command that opens it migrates it, as every start does.
    """
    parsed = driver_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or ":memory:").expanduser().absolute()
        if not path.is_file():
            raise MissingLedger(f"no ledger at {path} (no such file)")
        where = str(path)
    else:
        where = make_url(url).render_as_string(hide_password=True)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            migrated = inspect(connection).has_table("alembic_version")
    except OperationalError as error:  # no such database, or no server answering
        reason = " ".join(str(error.orig).split())
        raise MissingLedger(f"no ledger at {where} (cannot open it: {reason})") from error
    finally:
        engine.dispose()
    if not migrated:
        raise MissingLedger(f"no ledger at {where} (the database has no ledger tables)")


def driver_url(url: str) -> URL:
    """The URL with the driver the ledger uses: pysqlite, or psycopg 3 for PostgreSQL."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed
    raise ValueError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
        "use sqlite:///path or postgresql://..."
    )


def create_parent_directory(url: URL) -> None:
    """Create the directory of a SQLite file database (nothing for an in-memory one)."""
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def configure_sqlite_connection(dbapi_connection: Any, connection_record: Any) -> None:
    """Set up a new SQLite connection: WAL, busy timeout, foreign keys, manual transactions.

    ``isolation_level = None`` stops the sqlite3 module from issuing its own ``BEGIN``;
    :func:`begin_immediate_before_write` issues it instead.
    """
    dbapi_connection.isolation_level = None
    dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    enable_wal(dbapi_connection)
    dbapi_connection.execute("PRAGMA foreign_keys = ON")


def enable_wal(dbapi_connection: sqlite3.Connection) -> None:
    """Put the database file in WAL mode (a lasting property of the file).

    Only the first switch of a new file does anything, and it needs the file to itself: when
    several processes open a new file at once, SQLite refuses it to all but one without waiting
    for the busy timeout, so the others retry until it is done (or the timeout has passed).
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(SQLITE_WAL_RETRY_SECONDS)


def begin_immediate_before_write(
    conn: Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> None:
    """Start ``BEGIN IMMEDIATE`` before the first statement of a connection that may write.

    Reads before it run in autocommit (WAL: they never wait); once the transaction has begun,
    every statement, reads included, runs in it until the caller commits or rolls back.
    """
    dbapi_connection = cursor.connection
    if dbapi_connection.in_transaction:
        return
    if statement.lstrip().upper().startswith(SQLITE_LOCK_FREE_STATEMENTS):
        return
    dbapi_connection.execute("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(connection: Connection) -> Config:
    """The Alembic configuration of the ledger's migrations, working on ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade(engine_or_url: Engine | str) -> None:
    """Migrate the database to the latest revision; a no-op when it is already there.

    Safe at every start, from several processes at once: the migrations run in one transaction
    that first takes a database-wide lock (an advisory lock on PostgreSQL, the write lock on
    SQLite), so a second process waits and then finds nothing to do.

    Parameters
    ----------
    engine_or_url : sqlalchemy.Engine or str
        An engine from :func:`make_engine`, or a URL for it (the engine is disposed of after).
    """
    if isinstance(engine_or_url, str):
        engine = make_engine(engine_or_url)
        try:
            upgrade_engine(engine)
        finally:
            engine.dispose()
    else:
        upgrade_engine(engine_or_url)


def upgrade_engine(engine: Engine) -> None:
    """Run the migrations to head on ``engine`` inside one locked transaction.

    A ledger already at head, as at nearly every start, is seen without Alembic: importing it
    and reading its scripts cost each CLI command most of its start-up.
    """
    if at_head(engine):
        return
    with engine.begin() as connection:
        lock_for_migrations(connection)
        from alembic import command

        command.upgrade(alembic_config(connection), "head")


def at_head(engine: Engine) -> bool:
    """Whether the ledger's schema is at :data:`HEAD_REVISION`."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        revisions = connection.execute(text("SELECT version_num FROM alembic_version"))
        return revisions.scalars().all() == [HEAD_REVISION]


def lock_for_migrations(connection: Connection) -> None:
    """Take the lock that serializes migrations until the transaction ends."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_MIGRATION_LOCK}
        )
