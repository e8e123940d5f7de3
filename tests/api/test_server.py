"""The API through a real gunicorn server, on the machine's Redis and a SQLite ledger."""

from __future__ import annotations

import os

import pytest
import redis
import requests

from service.app import create_app
from service.extensions import get_session
from service.ledger import create_key

from ..live import serve
from .conftest import seed

REDIS_URL = os.environ.get("PLUSALPHA_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).flushdb()
    except redis.RedisError as error:
        pytest.skip(f"no Redis server at {REDIS_URL}: {error}")
    var_dir = tmp_path_factory.mktemp("server")
    settings = {
        "VAR_DIR": str(var_dir),
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": None,
        "DATA_DIR": None,
    }
    app = create_app(settings)
    seed(app)
    with app.app_context():
        session = get_session()
        keys = {
            scope: create_key(session, name=scope, tenant="t", scopes=[scope])[1]
            for scope in ("models:read", "performance:read")
        }
        session.commit()
    with serve({"PLUSALPHA_VAR_DIR": str(var_dir), "REDIS_URL": REDIS_URL}) as base:
        yield base, keys


def get(server, path, key="models:read", **kwargs):
    base, keys = server
    headers = {"Authorization": f"Bearer {keys[key]}"} if key else {}
    return requests.get(base + path, headers=headers, timeout=5, **kwargs)


def test_health(server):
    assert get(server, "/v1/health", key=None).json()["status"] == "ok"


@pytest.mark.parametrize("fmt", ["json", "csv", "irebal", "orion"])
def test_weights_in_every_format(server, fmt):
    response = get(server, f"/v1/models/agg-plus-baseline/weights?format={fmt}")
    assert response.status_code == 200
    assert response.content


@pytest.mark.parametrize(
    ("path", "key", "status"),
    [
        ("/v1/models", None, 401),
        ("/v1/models", "performance:read", 403),
        ("/v1/models/no-such-model/weights", "models:read", 404),
        ("/v1/models/agg-plus-baseline/weights?as_of=2024-02-30", "models:read", 422),
        ("/v1/models/agg-plus-baseline/weights?format=pdf", "models:read", 422),
        ("/v1/models/agg-plus-baseline/rebalances?limit=500", "models:read", 422),
    ],
)
def test_failures_are_problem_json(server, path, key, status):
    response = get(server, path, key=key)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == status


def test_versions_and_one_version(server):
    versions = get(server, "/v1/models/agg-plus-baseline/rebalances").json()["data"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    one = get(server, "/v1/models/agg-plus-baseline/rebalances/2").json()
    assert one["weights"] == versions[1]["weights"]
