"""The audit of reads of weights: buffered, counted per key, model, version and second, and
written to the ledger in bulk, also when a gunicorn worker stops."""

from __future__ import annotations

import contextlib

import pytest
import requests

from service.api.audit import audit_buffer
from service.api.extensions import get_session
from service.app import create_app
from service.config import settings_from_env
from service.ledger import audit_events, create_key, get_key, key_for_secret

from ..live import serve
from .conftest import bearer, close_app, flush_redis, machine_redis_url, redis_unreachable, seed

MODEL = "agg-plus-baseline"


def reads_of(app, key_id: str) -> dict[tuple[str, int], int]:
    """The audited reads of ``key_id``: {(model, version): count}."""
    counts: dict[tuple[str, int], int] = {}
    with app.app_context():
        for event in audit_events(get_session(), key_id=key_id, limit=1000):
            if event.action == "read_weights":
                read = (event.model_id, event.version)
                counts[read] = counts.get(read, 0) + event.count
    return counts


def key_id_of(app, secret: str) -> str:
    with app.app_context():
        return key_for_secret(get_session(), secret).id


def test_every_read_of_weights_is_audited_with_its_version(api_app, client, make_key):
    secret = make_key()
    key_id = key_id_of(api_app, secret)
    for _ in range(7):
        assert client.get(f"/v1/models/{MODEL}/weights", headers=bearer(secret)).status_code == 200
    past = client.get(f"/v1/models/{MODEL}/weights?as_of=2024-08-15", headers=bearer(secret))
    assert past.status_code == 200
    refused = client.get("/v1/models/no-such-model/weights", headers=bearer(secret))
    assert refused.status_code == 404
    with api_app.app_context():
        audit_buffer().flush()
        assert get_key(get_session(), key_id).last_used_at is not None
    assert reads_of(api_app, key_id) == {(MODEL, 3): 7, (MODEL, 1): 1}


def test_a_failed_write_keeps_the_reads_for_the_next_flush(api_app, client, make_key):
    secret = make_key()
    key_id = key_id_of(api_app, secret)
    with api_app.app_context():
        buffer = audit_buffer()
        working, tries = buffer._open_sessions, []

        def down_once():
            tries.append(1)
            if len(tries) == 1:
                raise ConnectionError("the ledger is down")
            return working()

        buffer._open_sessions = down_once
    for _ in range(2):
        assert client.get(f"/v1/models/{MODEL}/weights", headers=bearer(secret)).status_code == 200
    with api_app.app_context():
        for _ in range(2):  # the background flusher may have tried (and failed) first
            with contextlib.suppress(ConnectionError):
                audit_buffer().flush()
    assert len(tries) >= 2
    assert reads_of(api_app, key_id) == {(MODEL, 3): 2}


def test_a_stopping_gunicorn_worker_writes_what_it_buffered(tmp_path):
    url = machine_redis_url("PLUSALPHA_TEST_AUDIT_REDIS_URL", 8)
    reason = redis_unreachable(url)
    if reason:
        pytest.skip(reason)
    flush_redis(url)
    environ = {"PLUSALPHA_VAR_DIR": str(tmp_path), "REDIS_URL": url}
    app = create_app(settings_from_env(environ))
    try:
        seed(app)
        with app.app_context():
            session = get_session()
            key, secret = create_key(session, name="reader", tenant="t", scopes=["models:read"])
            session.commit()
        with serve(environ, workers=1) as base, requests.Session() as http:
            for _ in range(25):
                response = http.get(f"{base}/v1/models/{MODEL}/weights", headers=bearer(secret))
                assert response.status_code == 200
        assert reads_of(app, key.id) == {(MODEL, 3): 25}
    finally:
        close_app(app)
        flush_redis(url)
