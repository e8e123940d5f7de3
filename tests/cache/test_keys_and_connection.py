"""The key layout and the client factory."""

from __future__ import annotations

import pytest

from service.cache import keys, make_redis
from service.cache.embedded import answers, socket_path, stop_started_server


def test_every_key_is_under_the_prefix():
    built = [
        keys.current_key("m"),
        keys.versions_key("m"),
        keys.effective_key("m"),
        keys.meta_key("m", 3),
        keys.body_key("m", 3, "json"),
        keys.document_key("performance"),
    ]
    assert all(key.startswith(keys.PREFIX) for key in built)
    assert len(set(built)) == len(built)


def test_body_key_around_version_surrounds_the_version():
    head, tail = keys.body_key_around_version("m", "csv")
    assert (
        head + "12" + tail == keys.body_key("m", 12, "csv") == "pa:v1:model:m:version:12:body:csv"
    )


@pytest.mark.parametrize("part", ["", "a:b", ":"])
def test_ambiguous_key_parts_are_refused(part):
    with pytest.raises(ValueError):
        keys.current_key(part)
    with pytest.raises(ValueError):
        keys.body_key("m", 1, part)
    with pytest.raises(ValueError):
        keys.document_key(part)


def test_embedded_redis_creates_its_data_dir_and_persists(tmp_path):
    data_dir = tmp_path / "missing" / "cache"
    client = make_redis(None, data_dir)
    client.set("k", b"v")
    client.save()
    assert (data_dir / "redis.db").is_file()
    assert client.get("k") == b"v"
    client.shutdown(nosave=True)


def test_the_embedded_redis_keeps_its_data_when_it_is_stopped(tmp_path):
    client = make_redis(None, tmp_path)
    client.set("k", b"v")
    stop_started_server(tmp_path)  # SIGTERM, as scripts/run and the process that started it do
    assert not answers(socket_path(tmp_path))
    again = make_redis(None, tmp_path)
    assert again.get("k") == b"v"
    again.shutdown(nosave=True)
