"""The serving cache's API: versioned model bodies, current pointers and whole documents.

The ledger is the system of record; this cache only serves it. Readers see one published version
or the next, never a mix:

* :func:`publish_version` writes a version's bodies, records the version, its effective date
  and metadata, and moves the pointer, only forward, in one server-side script (atomic, one
  round trip): an older version is recorded but never becomes current, and republishing a
  version with the same arguments changes nothing.
* :func:`read_in_force` reads the model's top version (by effective date), kept whole with its
  body in one key, and for a day before that version's effective date finds the version in force
  and reads its body in one server-side script; either way it never pairs a version with another
  version's body or with a missing one.

Versioned keys never expire and are never deleted, except all at once by :func:`flush_all` (before
``cache rebuild`` refills the cache). Memory therefore grows with publications: a model gets about
12 versions a year, so a year costs each model about 12 x (its formats' body sizes + a small meta
hash + two sorted-set entries), e.g. 50 models x 12 versions x 4 formats x 20 KB is about 48 MB.
``cache rebuild`` starts from empty, so a rebuild is also how old versions are shed.

Every function but :func:`ping` lets ``redis.exceptions.ConnectionError`` and ``TimeoutError``
propagate: the caller decides to fall back to the ledger. Clients must use
``decode_responses=False`` (see :mod:`service.cache.connection`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import date
from typing import NamedTuple

import redis
from redis.commands.core import Script

from service.cache import keys

VERSION_SLOTS = 1_000_000
"""Versions must be below this: the effective-date score is ``ordinal * VERSION_SLOTS + version``
(exact in a double: date.max's ordinal times 1e6 is below 2**53)."""

FLUSH_BATCH = 500
"""Keys per SCAN step and per UNLINK in :func:`flush_all`."""

READ_IN_FORCE_SCRIPT = """
local found = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf', 'LIMIT', 0, 1)
if #found == 0 then return false end
local body = redis.call('GET', ARGV[2] .. found[1] .. ARGV[3])
if not body then return false end
return {found[1], body}
"""
"""KEYS[1]: the effective-date set; ARGV: the day's ceiling score, then the body key's text
around the version. Nil when no version is in force or its body is missing. The body key is
built from the set's member, which ties the layout to one node."""

PUBLISH_VERSION_SCRIPT = """
local n = tonumber(ARGV[4])
for i = 1, n do redis.call('SET', KEYS[4 + i], ARGV[4 + i]) end
local current = redis.call('GET', KEYS[4])
local top = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('DEL', KEYS[3])
if #ARGV > 4 + n then redis.call('HSET', KEYS[3], unpack(ARGV, 5 + n)) end
if not current or tonumber(ARGV[1]) > tonumber(current) then
  redis.call('SET', KEYS[4], ARGV[1])
end
if #top == 0 or tonumber(ARGV[2]) >= tonumber(top[2]) then
  for i = 1, n do redis.call('SET', KEYS[4 + n + i], ARGV[3] .. ARGV[4 + i]) end
end
"""
"""KEYS: the model's versions set, its effective-date set, the version's meta hash, the model's
pointer, then the version's body keys and the model's top keys, one of each per format in the
same order. ARGV: the version, its effective score, the top copies' head, the number of formats,
the bodies in that order, then the meta's fields and values. Scores and versions are integers
below 2**53, exact as Lua's numbers."""

READ_API_KEY_SCRIPT = """
local record = redis.call('GET', KEYS[1])
local requests = false
if record then
  requests = redis.call('INCR', KEYS[2])
  if requests == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
end
local extra = false
if KEYS[3] then extra = redis.call('GET', KEYS[3]) end
return {record, requests, extra}
"""
"""KEYS: the key's record, its request counter in the window, optionally one more key to read;
ARGV[1]: the window's length in seconds. A request is counted only for a cached (so existing)
key: unknown secrets leave no counters behind."""

# Run by EVALSHA (loaded on a server's first NOSCRIPT); made once, with no client, from bytes:
# registering a script on every call would hash it on every request.
READ_IN_FORCE = Script(None, READ_IN_FORCE_SCRIPT.encode())
READ_API_KEY = Script(None, READ_API_KEY_SCRIPT.encode())
PUBLISH_VERSION = Script(None, PUBLISH_VERSION_SCRIPT.encode())

API_KEY_TTL_SECONDS = 300
"""How long a cached API key record lives: revocation deletes it at once; the expiry only bounds
how long a record could outlive a deletion that failed while Redis was unreachable."""


def publish_version(
    r: redis.Redis,
    model_id: str,
    version: int,
    effective_date: date,
    bodies: Mapping[str, bytes],
    meta: Mapping[str, str | int],
) -> None:
    """Store ``version`` of the model, one body per format, and make it current if it is newest.

    In one script, so one round trip (a transaction that reads the pointer first takes five):
    the bodies, the version in both sets, its meta replaced, the pointer moved if the version
    is newer and the ``top`` copies replaced if it is the top version by effective date.
    Publishing a version older than the current one records it (for :func:`versions` and
    :func:`version_in_force`) without moving the pointer; republishing a version with the same
    arguments leaves the cache as it was.
    """
    require_valid_version(version)
    if not bodies:
        raise ValueError("a version needs at least one body")
    names = [
        keys.versions_key(model_id),
        keys.effective_key(model_id),
        keys.meta_key(model_id, version),
        keys.current_key(model_id),
        *(keys.body_key(model_id, version, fmt) for fmt in bodies),
        *(keys.top_key(model_id, fmt) for fmt in bodies),
    ]
    head = f"{effective_date.toordinal()}:{version}:"
    score = effective_score(effective_date, version)
    fields = [item for pair in meta.items() for item in pair]
    args = [version, score, head, len(bodies), *bodies.values(), *fields]
    PUBLISH_VERSION(keys=names, args=args, client=r)


def require_valid_version(version: int) -> None:
    """Raise ValueError unless 1 <= ``version`` < VERSION_SLOTS (the layout's range)."""
    if not 1 <= version < VERSION_SLOTS:
        raise ValueError(f"version {version} outside 1..{VERSION_SLOTS - 1}")


def effective_score(effective_date: date, version: int) -> int:
    """The score of ``version`` in the effective-date set: later dates first, then versions."""
    return effective_date.toordinal() * VERSION_SLOTS + version


def version_or_none(raw: bytes | None) -> int | None:
    """The version stored as ``raw``, or None when there is none."""
    return None if raw is None else int(raw)


def current_version(r: redis.Redis, model_id: str) -> int | None:
    """The model's current (newest published) version, or None when none is cached."""
    return version_or_none(r.get(keys.current_key(model_id)))


def version_in_force(r: redis.Redis, model_id: str, on: date) -> int | None:
    """The version in force on ``on``: the highest of those with the latest effective date <= on.

    None when no cached version is effective by then.
    """
    ceiling = effective_score(on, VERSION_SLOTS - 1)
    found = r.zrevrangebyscore(keys.effective_key(model_id), ceiling, "-inf", start=0, num=1)
    return int(found[0]) if found else None


def read_body(r: redis.Redis, model_id: str, version: int, fmt: str) -> bytes | None:
    """The body of ``version`` in format ``fmt``, or None when it is not cached."""
    return r.get(keys.body_key(model_id, version, fmt))


def read_in_force(r: redis.Redis, model_id: str, on: date, fmt: str) -> tuple[int, bytes] | None:
    """The version in force on ``on`` and its body in ``fmt``, read atomically.

    The version is the one :func:`version_in_force` names; None when there is none or its body
    in ``fmt`` is not cached.
    """
    return in_force_from_top(r, model_id, on, fmt, r.get(keys.top_key(model_id, fmt)))


def read_api_key_and_in_force(
    r: redis.Redis, digest: str, window: Window, model_id: str, on: date, fmt: str
) -> tuple[KeyRead, tuple[int, bytes] | None]:
    """:func:`read_api_key` and :func:`read_in_force` at once.

    Usually one round trip: the key's record, its request count and the model's top version,
    which is the version in force on every day from its effective date on. For an earlier day a
    second round trip runs :data:`READ_IN_FORCE_SCRIPT`.
    """
    read, top = read_api_key_and(r, digest, window, keys.top_key(model_id, fmt))
    return read, in_force_from_top(r, model_id, on, fmt, top)


def in_force_from_top(
    r: redis.Redis, model_id: str, on: date, fmt: str, top: bytes | None
) -> tuple[int, bytes] | None:
    """The version in force on ``on`` and its body, given the model's ``top`` copy in ``fmt``."""
    if top is None:  # nothing of the model is cached
        return None
    ordinal, version, body = top.split(b":", 2)
    if int(ordinal) <= on.toordinal():
        return int(version), body
    head, tail = keys.body_key_around_version(model_id, fmt)
    ceiling = effective_score(on, VERSION_SLOTS - 1)
    found = READ_IN_FORCE(keys=[keys.effective_key(model_id)], args=[ceiling, head, tail], client=r)
    return None if found is None else (int(found[0]), found[1])


def read_meta(r: redis.Redis, model_id: str, version: int) -> dict[str, str] | None:
    """The metadata published with ``version`` (values as text), or None when not cached."""
    found = r.hgetall(keys.meta_key(model_id, version))
    if not found:
        return None
    return {name.decode(): value.decode() for name, value in found.items()}


def versions(r: redis.Redis, model_id: str, *, before: int | None = None, limit: int) -> list[int]:
    """Up to ``limit`` cached versions of the model, newest first, all below ``before`` if given."""
    if limit < 1:
        raise ValueError(f"limit must be positive, not {limit}")
    ceiling = "+inf" if before is None else f"({before}"
    found = r.zrevrangebyscore(keys.versions_key(model_id), ceiling, "-inf", start=0, num=limit)
    return [int(version) for version in found]


def put_document(r: redis.Redis, name: str, body: bytes) -> None:
    """Store (or replace) the whole document ``name``."""
    r.set(keys.document_key(name), body)


def has_documents(r: redis.Redis, names: list[str]) -> bool:
    """Whether every document of ``names`` is cached (without reading them)."""
    return r.exists(*(keys.document_key(name) for name in names)) == len(names)


def get_document(r: redis.Redis, name: str) -> bytes | None:
    """The whole document ``name``, or None when it is not cached."""
    return r.get(keys.document_key(name))


class Window(NamedTuple):
    """A rate-limit window: its number on the clock (``epoch seconds // seconds``), its length."""

    number: int
    seconds: int


class KeyRead(NamedTuple):
    """What the cache holds of an API key, and the request just counted against it."""

    record: dict | None
    """The key's cached record; None on a miss (then nothing was counted)."""
    requests: int | None
    """The key's requests in the window, this one included; None when not counted."""


def read_api_key(r: redis.Redis, digest: str, window: Window) -> KeyRead:
    """The cached record of the API key whose secret hashes to ``digest``, and, when it is
    cached, one more request counted against the key in ``window``: one round trip."""
    return read_api_key_and(r, digest, window, None)[0]


def read_api_key_and(
    r: redis.Redis, digest: str, window: Window, extra: str | None
) -> tuple[KeyRead, bytes | None]:
    """:func:`read_api_key`, and the value of the key ``extra`` (if given) in the same script."""
    counter = keys.requests_key(digest, window.number)
    names = [keys.api_key_key(digest), counter] + ([extra] if extra else [])
    record, requests, found = READ_API_KEY(keys=names, args=[window.seconds], client=r)
    record = None if record is None else json.loads(record)
    return KeyRead(record, requests), found


def count_request(r: redis.Redis, digest: str, window: Window) -> int:
    """Count one request of the API key ``digest`` in ``window``; its requests there so far.

    For a key whose record was not cached (:func:`read_api_key` counted nothing).
    """
    counter = keys.requests_key(digest, window.number)
    pipe = r.pipeline(transaction=False)
    requests, _ = pipe.incr(counter).expire(counter, window.seconds).execute()
    return requests


def put_api_key(r: redis.Redis, digest: str, record: Mapping) -> None:
    """Cache an API key's record (JSON-serialisable) for :data:`API_KEY_TTL_SECONDS`."""
    r.set(keys.api_key_key(digest), json.dumps(record), ex=API_KEY_TTL_SECONDS)


def forget_api_key(r: redis.Redis, digest: str) -> None:
    """Drop an API key's cached record (on revocation), so the next request reads the ledger."""
    r.delete(keys.api_key_key(digest))


def flush_all(r: redis.Redis) -> int:
    """Delete every key of the cache (and no other), in batches; the number deleted."""
    return sum(r.unlink(*batch) for batch in cache_key_batches(r))


def cache_key_batches(r: redis.Redis) -> Iterator[list[bytes]]:
    """The cache's keys, found by SCAN, in lists of at most FLUSH_BATCH."""
    batch: list[bytes] = []
    for key in r.scan_iter(match=keys.ALL_KEYS_PATTERN, count=FLUSH_BATCH):
        batch.append(key)
        if len(batch) == FLUSH_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def ping(r: redis.Redis) -> bool:
    """Whether the Redis answers a PING; never raises (for health checks)."""
    try:
        return bool(r.ping())
    except redis.exceptions.RedisError:
        return False
