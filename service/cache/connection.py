"""Redis clients for the serving cache: a server at a URL, or an embedded one.

With a URL the client is tuned to fail fast, because a dead cache must cost one short wait and a
fall-back to the ledger, never a hung request:

* :data:`CONNECT_TIMEOUT_SECONDS` bounds opening a connection (a blackholed host);
* :data:`SOCKET_TIMEOUT_SECONDS` bounds each command's reply (a stalled server). Redis answers
  in well under a millisecond, and a request makes a few Redis calls, each of which can fall back
  to the ledger: a frozen server must cost each call a fraction of a second, or a sync worker
  serves a request in seconds and clients queue behind it as if the service hung;
* :data:`RETRIES` immediate retry rides over one stale pooled connection (a restarted server
  resets it). Only a connection error is retried: a timeout means the server is stalled, and
  waiting again would double the cost of every call while it is;
* :data:`HEALTH_CHECK_INTERVAL_SECONDS`: a connection idle longer than this is PINGed before
  reuse, so a half-closed one is replaced rather than failing a request.

A dead server therefore fails a command within ``(1 + RETRIES) * CONNECT_TIMEOUT_SECONDS``, a
stalled one within ``CONNECT_TIMEOUT_SECONDS + SOCKET_TIMEOUT_SECONDS``. (The RQ worker raises
the socket timeout of its own connections above its blocking wait for jobs.)

Without a URL, the client is a plain one on the Unix socket of the embedded server of the var
dir (:mod:`service.cache.embedded`), persisted to ``<var_dir>/redis.db``: for development, tests
and single-machine deployments. It shares the retry policy (so it, too, fails fast once stopped)
but not the timeouts (it is local).

Bodies are bytes, so both clients use ``decode_responses=False``; the store relies on it.
"""

from __future__ import annotations

import os

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .embedded import ensure_server

CONNECT_TIMEOUT_SECONDS = 0.5
SOCKET_TIMEOUT_SECONDS = 0.25
RETRIES = 1
HEALTH_CHECK_INTERVAL_SECONDS = 30


def make_redis(url: str | None, var_dir: str | os.PathLike) -> redis.Redis:
    """A client on the Redis at ``url``, or on the embedded Redis of ``var_dir`` when None."""
    if url is None:
        return embedded_redis(var_dir)
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        retry=fail_fast_retry(),
        health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS,
        decode_responses=False,
    )


def embedded_redis(var_dir: str | os.PathLike) -> redis.Redis:
    """A plain client on the embedded server of ``var_dir``, started if none runs (see
    :mod:`service.cache.embedded`)."""
    return redis.Redis(
        unix_socket_path=ensure_server(var_dir),
        retry=fail_fast_retry(),
        decode_responses=False,
    )


def fail_fast_retry() -> Retry:
    """The retry policy of both clients: RETRIES immediate retries of a connection error, no
    backoff, no retry of a timeout.

    (redis-py's own default, retries with backoff, would stretch a failure over seconds.)
    """
    return Retry(NoBackoff(), RETRIES, supported_errors=(redis.exceptions.ConnectionError,))
