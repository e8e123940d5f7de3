"""Readers of a real gunicorn server while new versions are published, and a flushed cache.

The server runs on a SQLite ledger and a database of the machine's Redis of its own
(``PLUSALPHA_TEST_HAMMER_REDIS_URL``, default database 9); the module is skipped, saying why,
only when that Redis cannot be reached. Versions are published the way the worker publishes
them: written to the ledger, then :func:`service.publishing.publish`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests

from service.api.extensions import get_redis, get_session
from service.app import create_app
from service.cache import flush_all, versions
from service.config import VARIABLES, settings_from_env
from service.ledger import add_rebalance, create_key, get_definition, list_rebalances
from service.publishing import publish, security_labels

from ..live import serve
from .conftest import close_app, flush_redis, machine_redis_url, redis_unreachable, seed
from .test_server import hash_of

REDIS_URL = machine_redis_url("PLUSALPHA_TEST_HAMMER_REDIS_URL", 9)
MODEL = "agg-plus-baseline"
NEW_VERSIONS = 40
READERS = 4
TIMEOUT = 30


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    reason = redis_unreachable(REDIS_URL)
    if reason:
        pytest.skip(reason)
    flush_redis(REDIS_URL)
    environ = {"PLUSALPHA_VAR_DIR": str(tmp_path_factory.mktemp("hammer")), "REDIS_URL": REDIS_URL}
    app = create_app(settings_from_env(environ))
    seed(app)
    with app.app_context():
        session = get_session()
        # A limit of its own far above what the hammer sends: counted, never refused.
        _, secret = create_key(
            session, name="reader", tenant="t", scopes=["models:read"], rate_limit=10**9
        )
        session.commit()
    with serve(environ) as base:
        yield app, base, {"Authorization": f"Bearer {secret}"}, environ
    close_app(app)
    flush_redis(REDIS_URL)


def publish_versions(app, count: int) -> list[int]:
    """Add ``count`` versions of MODEL, each in force from a later day, publishing each."""
    labels = security_labels(None)
    published = []
    with app.app_context():
        session = get_session()
        definition = get_definition(session, MODEL)
        for step in range(count):
            effective = date(2024, 11, 1) + timedelta(days=step)
            a = round(0.2 + 0.6 * step / count, 6)
            weights = {"AGG": a, "LQD": round(1 - a - 0.1, 6), "SHY": 0.1}
            row = add_rebalance(
                session,
                MODEL,
                as_of=effective - timedelta(days=1),
                effective_date=effective,
                weights=weights,
                source="worker",
            )
            session.commit()
            publish(get_redis(), definition, row, labels)
            published.append(row.version)
    return published


def test_readers_never_see_a_mix_of_versions_while_the_worker_publishes(live):
    app, base, headers, _ = live
    done = threading.Event()

    def reader(fmt: str) -> list[tuple[int, str] | bytes]:
        seen = []
        with requests.Session() as http:
            while not done.is_set() or len(seen) < 5:
                url = f"{base}/v1/models/{MODEL}/weights?format={fmt}"
                response = http.get(url, headers=headers, timeout=TIMEOUT)
                assert response.status_code == 200, response.text
                if fmt == "csv":
                    seen.append(response.content)
                    continue
                document = response.json()
                assert document["hash"] == hash_of(document["weights"]), document
                version = document["version"]
                assert not seen or version >= seen[-1][0], f"went back to {version} from {seen}"
                seen.append((version, document["hash"]))
        return seen

    with ThreadPoolExecutor(max_workers=READERS + 1) as pool:
        formats = ["json"] * (READERS - 1) + ["csv"]
        readers = [pool.submit(reader, fmt) for fmt in formats]
        try:
            published = publish_versions(app, NEW_VERSIONS)
        finally:
            done.set()
        seen = [future.result(timeout=TIMEOUT) for future in readers]

    with app.app_context():
        ledger = {row.version: row for row in list_rebalances(get_session(), MODEL, limit=None)}
    pairs = {pair for json_reader in seen[:-1] for pair in json_reader}
    assert all(ledger[version].content_hash == digest for version, digest in pairs)
    assert len({version for version, _ in pairs}) > 2, "the readers saw too few versions"
    assert max(version for version, _ in pairs) == published[-1]
    csv_bodies = {
        requests.get(
            f"{base}/v1/models/{MODEL}/weights",
            params={"format": "csv", "as_of": ledger[version].effective_date.isoformat()},
            headers=headers,
            timeout=TIMEOUT,
        ).content
        for version in ledger
    }
    assert set(seen[-1]) <= csv_bodies


def test_a_flushed_cache_loses_nothing_and_cache_rebuild_restores_it(live):
    app, base, headers, environ = live
    url = f"{base}/v1/models/{MODEL}/weights"
    before = {
        fmt: requests.get(url, params={"format": fmt}, headers=headers, timeout=TIMEOUT)
        for fmt in ("json", "irebal")
    }
    past = requests.get(url, params={"as_of": "2024-09-15"}, headers=headers, timeout=TIMEOUT)
    with app.app_context():
        redis = get_redis()
        in_ledger = [row.version for row in list_rebalances(get_session(), MODEL, limit=None)]
        assert versions(redis, MODEL, limit=1000) == in_ledger
        assert flush_all(redis) > 0
        assert versions(redis, MODEL, limit=1000) == []

    for fmt, response in before.items():
        again = requests.get(url, params={"format": fmt}, headers=headers, timeout=TIMEOUT)
        assert (again.status_code, again.content) == (200, response.content)
    again = requests.get(url, params={"as_of": "2024-09-15"}, headers=headers, timeout=TIMEOUT)
    assert again.json()["version"] == past.json()["version"] == 2

    with app.app_context():
        flush_all(get_redis())
    plusalpha = Path(sys.executable).with_name("plusalpha")
    rebuilt = subprocess.run(
        [str(plusalpha), "cache", "rebuild"],
        env={name: value for name, value in os.environ.items() if name not in VARIABLES} | environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.startswith("published ")
    with app.app_context():
        assert versions(get_redis(), MODEL, limit=1000) == in_ledger
    for fmt, response in before.items():
        again = requests.get(url, params={"format": fmt}, headers=headers, timeout=TIMEOUT)
        assert again.content == response.content
