"""Conditional GETs: an ETag on every successful GET, and 304 for a matching If-None-Match."""

from __future__ import annotations

import pytest

from .conftest import bearer

MODEL = "agg-plus-baseline"
PATHS = [
    f"/v1/models/{MODEL}/weights",
    f"/v1/models/{MODEL}/weights?format=csv",
    f"/v1/models/{MODEL}/weights?format=irebal&as_of=2024-09-15",
    f"/v1/models/{MODEL}/rebalances",
    f"/v1/models/{MODEL}/rebalances/2",
    f"/v1/models/{MODEL}/trades",
    f"/v1/models/{MODEL}",
]


@pytest.fixture
def reader(make_key):
    return bearer(make_key(scopes=["models:read", "rebalances:write"]))


@pytest.mark.parametrize("path", PATHS)
def test_a_matching_if_none_match_is_304_without_a_body(client, reader, path):
    first = client.get(path, headers=reader)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert client.get(path, headers=reader).headers["ETag"] == etag
    for condition in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = client.get(path, headers={**reader, "If-None-Match": condition})
        assert again.status_code == 304, condition
        assert again.data == b""
        assert again.headers["ETag"] == etag
    other = client.get(path, headers={**reader, "If-None-Match": '"other"'})
    assert (other.status_code, other.data) == (200, first.data)


def test_each_format_has_its_own_etag_and_varies_by_accept(client, reader):
    url = f"/v1/models/{MODEL}/weights"
    etags = {
        client.get(f"{url}?format={f}", headers=reader).headers["ETag"]
        for f in ("json", "csv", "irebal", "orion")
    }
    assert len(etags) == 4
    assert "Accept" in client.get(url, headers=reader).headers["Vary"]


def test_a_new_version_changes_the_etag(client, reader):
    url = f"/v1/models/{MODEL}/weights"
    etag = client.get(url, headers=reader).headers["ETag"]
    body = {"effective_date": "2024-10-02", "weights": [{"ticker": "AGG", "weight": 1.0}]}
    pushed = client.post(
        f"/v1/models/{MODEL}/rebalances", json=body, headers={**reader, "Idempotency-Key": "k1"}
    )
    assert pushed.status_code == 201
    after = client.get(url, headers={**reader, "If-None-Match": etag})
    assert after.status_code == 200
    assert after.json["version"] == pushed.json["version"]
    assert after.headers["ETag"] != etag


def test_errors_carry_no_etag(client, reader):
    missing = client.get("/v1/models/no-such-model/weights", headers=reader)
    assert missing.status_code == 404
    assert "ETag" not in missing.headers
