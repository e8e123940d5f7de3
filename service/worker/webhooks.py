"""Webhook delivery: the URL rules, the signed payload, the dispatcher and the delivery job.

The ledger is the record (:mod:`service.ledger.webhooks`); RQ only carries the work:

* every ``plusalpha worker`` runs a dispatcher process (:func:`run_dispatcher`) that, every
  ``PLUSALPHA_WEBHOOK_POLL_SECONDS``, turns the outbox's new events into deliveries and leases
  the deliveries that are due to RQ jobs (:func:`dispatch`), :data:`BATCH` to a job. A version
  recorded while Redis or every worker was down is announced once they are back; a lease whose
  job never ran (Redis lost it, the worker was killed) expires and is leased again;
* :func:`deliver` (the RQ job) claims its deliveries and POSTs them, :data:`THREADS` at once,
  each thread reusing its connections (one ``requests.Session``), and records each attempt in
  the ledger as it ends.

A delivery is ``{type, timestamp, data}`` as JSON, with the Standard Webhooks headers:
``webhook-id`` (the delivery's id, the same on every retry), ``webhook-timestamp`` and
``webhook-signature`` (``v1,<base64 HMAC-SHA256>`` by ``standardwebhooks``' ``Webhook.sign``,
under both secrets for a day after a rotation). Any 2xx is success; 410 disables the
subscription; anything else (another status, a redirect, a timeout, a refused connection or a
URL that now resolves to an internal address) is retried after the next delay of
``PLUSALPHA_WEBHOOK_RETRY_SCHEDULE`` (a longer ``Retry-After`` wins), and the delivery is
``failed`` after the last. A subscription whose every delivery failed for
:data:`FAILING_DISABLES_AFTER` is disabled.
"""

from __future__ import annotations

import atexit
import ipaddress
import json
import logging
import math
import os
import random
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from redis.exceptions import RedisError
from requests.adapters import HTTPAdapter
from sqlalchemy.exc import SQLAlchemyError
from standardwebhooks.webhooks import Webhook
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool

from ..config import flag, retry_schedule, settings_from_env
from ..ledger.schema import utc_now
from ..ledger.webhooks import (
    MODEL_REBALANCED,
    cancel_deliveries,
    claim,
    dispatch_events,
    events_by_id,
    lease_due,
    leased_deliveries,
    release_lease,
    signing_secrets,
    subscriptions_by_id,
)
from .handles import QUEUE, Handles, handles

BATCH = 100
"""Deliveries per RQ job: a job forks a work horse and opens the ledger, so few large jobs."""
THREADS = 8
"""Deliveries a job sends at once: a slow receiver holds up one thread, not the batch."""
RECORD_EVERY = 25
"""Attempts recorded per transaction: a job killed mid-batch sends again at most these and
those in flight, and the ledger commits a batch's attempts in four transactions, not 100."""
QUEUE_LEASE = timedelta(minutes=5)
"""How long a delivery leased to a job may wait in the queue before it is leased again."""
LEASE_MARGIN_SECONDS = 5
RESPONSE_KEPT_BYTES = 1024
"""How much of a receiver's answer an attempt keeps."""
FAILING_DISABLES_AFTER = timedelta(days=5)
JITTER = 0.1
"""A retry's delay is drawn within this fraction either side of the schedule's."""
MAX_RETRY_AFTER_SECONDS = 24 * 3600
USER_AGENT = "PlusAlpha-Webhooks/1"

log = logging.getLogger(__name__)


# --- the URL rules (SSRF) ----------------------------------------------------------------------


class RefusedUrl(ValueError):
    """A subscription URL that breaks a rule; the message names the rule."""


INTERNAL = (
    ("loopback", lambda ip: ip.is_loopback),
    ("link-local", lambda ip: ip.is_link_local),
    ("multicast", lambda ip: ip.is_multicast),
    ("reserved", lambda ip: ip.is_reserved or ip.is_unspecified),
    ("private", lambda ip: ip.is_private),
    ("reserved", lambda ip: not ip.is_global),
)
"""The kinds of address a webhook may not reach, in the order they are named."""


def check_url(url: str, allow_private: bool) -> None:
    """Refuse a URL a webhook may not be sent to (:class:`RefusedUrl` naming the rule).

    It must be ``https`` and its host must resolve only to global addresses (no loopback,
    private, link-local, multicast or reserved one), checked at creation and at every delivery
    against DNS rebinding. ``allow_private`` (``PLUSALPHA_WEBHOOK_ALLOW_PRIVATE``) lifts both
    rules, for development and tests.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise RefusedUrl(f"is not a URL ({error})") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RefusedUrl("must be an https URL with a host")
    if parts.username or parts.password:
        raise RefusedUrl("must not carry a user name or password")
    if allow_private:
        return
    if parts.scheme != "https":
        raise RefusedUrl("must be https")
    refuse_internal(parts.hostname, resolved(parts.hostname, port or 443), "resolves to")


def refuse_internal(host: str, addresses, verb: str) -> None:
    """:class:`RefusedUrl` naming the first rule an address of ``host`` breaks."""
    for address in addresses:
        for name, applies in INTERNAL:
            if applies(address):
                raise RefusedUrl(f"must not reach a {name} address: {host} {verb} {address}")


def resolved(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address ``host`` resolves to (an IPv4-mapped IPv6 address as its IPv4 one)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise RefusedUrl(f"must have a host that resolves: {host} does not") from None
    return [address_of(info[4][0]) for info in infos]


def address_of(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(text.split("%", 1)[0])
    return getattr(address, "ipv4_mapped", None) or address


class CheckedHTTPSConnection(HTTPSConnection):
    """An HTTPS connection that checks the address it connected to before the TLS handshake:
    the host is resolved again when it connects, so a DNS answer that changed since
    :func:`check_url` (a rebinding) is caught before a byte of the request is sent."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        try:
            refuse_internal(self.host, [address_of(sock.getpeername()[0])], "connects to")
        except RefusedUrl:
            sock.close()
            raise
        return sock


class CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


class CheckedAdapter(HTTPAdapter):
    """A ``requests`` adapter whose HTTPS connections are :class:`CheckedHTTPSConnection`."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        classes = self.poolmanager.pool_classes_by_scheme
        self.poolmanager.pool_classes_by_scheme = {**classes, "https": CheckedHTTPSPool}


def http_session(allow_private: bool) -> requests.Session:
    """A thread's HTTP session for deliveries: its connections are reused, and unless
    ``allow_private``, each is checked when it connects; proxies from the environment are not
    used (the check would see the proxy's address, and a proxy hides where a request goes)."""
    session = requests.Session()
    if not allow_private:
        session.trust_env = False
        session.mount("https://", CheckedAdapter())
    return session


# --- what is sent ------------------------------------------------------------------------------


def event_document(event, base_url: str | None) -> dict:
    """The body of an event's deliveries: ``{type, timestamp, data}``; a ``model.rebalanced``
    carries the URL of its weights (absolute with ``PLUSALPHA_BASE_URL``)."""
    data = dict(event.data)
    if event.type == MODEL_REBALANCED:
        path = f"/v1/models/{data['model_id']}/weights?as_of={data['effective_date']}"
        data["weights_url"] = (base_url or "").rstrip("/") + path
    stamp = event.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {"type": event.type, "timestamp": stamp, "data": data}


def body_of(document: dict) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def signed_headers(delivery_id: str, body: str, secrets: list[str], now: datetime) -> dict:
    """The Standard Webhooks headers of one attempt: a signature per secret."""
    signatures = " ".join(Webhook(s).sign(delivery_id, now, body) for s in secrets)
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(math.floor(now.timestamp())),
        "webhook-signature": signatures,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


# --- dispatching -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    timeout: float
    allow_private: bool
    schedule: list[float]
    base_url: str | None
    poll_seconds: float

    @classmethod
    def of(cls, settings: dict) -> Settings:
        return cls(
            timeout=float(settings["WEBHOOK_TIMEOUT"]),
            allow_private=flag(settings["WEBHOOK_ALLOW_PRIVATE"]),
            schedule=retry_schedule(settings["WEBHOOK_RETRY_SCHEDULE"]),
            base_url=settings["BASE_URL"],
            poll_seconds=float(settings["WEBHOOK_POLL_SECONDS"]),
        )

    def job_lease(self, count: int) -> timedelta:
        """How long a job may take to send ``count`` deliveries, :data:`THREADS` at once: a
        job killed mid-delivery holds them that long before they are sent again."""
        rounds = math.ceil(count / THREADS)
        return timedelta(seconds=rounds * (self.timeout + 1) + LEASE_MARGIN_SECONDS)


def dispatch(h: Handles, settings: Settings) -> int:
    """Make the deliveries of new events and queue those that are due; how many were queued.

    A batch that cannot be queued (Redis down) is released at once (:func:`release_lease`),
    to be leased again at the next look.
    """
    from rq import Queue

    with h.sessions() as session:
        dispatch_events(session)
        session.commit()
    queued = 0
    queue = Queue(QUEUE, connection=h.redis)
    while True:
        with h.sessions() as session:
            leased = lease_due(session, utc_now(), QUEUE_LEASE, BATCH)
            session.commit()
        if leased is None:
            return queued
        token, ids = leased
        try:
            queue.enqueue(
                deliver,
                token,
                len(ids),
                job_timeout=math.ceil(settings.job_lease(len(ids)).total_seconds()),
                result_ttl=600,
                failure_ttl=24 * 3600,
            )
        except RedisError:
            with h.sessions() as session:
                release_lease(session, token)
                session.commit()
            log.warning("redis unavailable: %d webhook deliveries wait in the ledger", len(ids))
            return queued
        queued += len(ids)


class Dispatcher:
    """What the dispatcher process of a ``plusalpha worker`` does every ``poll_seconds``."""

    def __init__(self, h: Handles, settings: Settings) -> None:
        self.h, self.settings = h, settings

    def look(self) -> None:
        """One :func:`dispatch`; an outage is logged, to be tried again at the next look."""
        try:
            dispatch(self.h, self.settings)
        except (SQLAlchemyError, RedisError) as error:
            log.warning("webhook dispatch failed, trying again: %s", type(error).__name__)
        except Exception:
            log.exception("webhook dispatch failed")


# --- delivering --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Work:
    """One delivery to send, as read when its job claimed it."""

    delivery_id: str
    url: str
    body: str
    secrets: list[str]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    response: str | None
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def deliver(token: str, count: int) -> dict:
    """The RQ job: send the ``count`` deliveries leased to ``token``; how many ended in each
    state."""
    settings = settings_from_env()
    h = handles(settings)
    return deliver_leased(h, Settings.of(settings), token, count)


def deliver_leased(h: Handles, settings: Settings, token: str, count: int = BATCH) -> dict:
    """Claim the deliveries of ``token`` and send them, :data:`THREADS` at once."""
    now = utc_now()
    with h.sessions() as session:
        deliveries = claim(session, token, now + settings.job_lease(count))
        subscriptions = subscriptions_by_id(session, {d.subscription_id for d in deliveries})
        events = events_by_id(session, {d.event_id for d in deliveries})
        work, cancelled = [], []
        for delivery in deliveries:
            subscription, key = subscriptions[delivery.subscription_id]
            if not subscription.enabled or key.revoked_at is not None:
                cancelled.append(delivery)
                continue
            body = body_of(event_document(events[delivery.event_id], settings.base_url))
            secrets = signing_secrets(subscription, now)
            work.append(Work(delivery.id, subscription.url, body, secrets))
        for delivery in cancelled:
            delivery.state, delivery.next_attempt_at, delivery.lease_token = "cancelled", None, None
        session.commit()
    local = threading.local()

    def sent(item: Work) -> tuple[str, Outcome]:
        if not hasattr(local, "http"):
            local.http = http_session(settings.allow_private)
        return item.delivery_id, send(local.http, item, settings)

    states: list[str] = []
    with ThreadPoolExecutor(THREADS) as pool:
        ended = []
        for future in as_completed([pool.submit(sent, item) for item in work]):
            ended.append(future.result())
            if len(ended) == RECORD_EVERY:
                states += record(h, token, ended, settings.schedule)
                ended = []
        states += record(h, token, ended, settings.schedule)
    return {state: states.count(state) for state in set(states)} | (
        {"cancelled": len(cancelled)} if cancelled else {}
    )


def send(http: requests.Session, item: Work, settings: Settings) -> Outcome:
    """POST one delivery, its URL checked again first; what came of it."""
    try:
        check_url(item.url, settings.allow_private)
    except RefusedUrl as error:
        return Outcome(None, f"url refused: {error}", None)
    headers = signed_headers(item.delivery_id, item.body, item.secrets, utc_now())
    try:
        response = http.post(
            item.url,
            data=item.body.encode(),
            headers=headers,
            timeout=settings.timeout,
            allow_redirects=False,
            stream=True,
        )
    except RefusedUrl as error:  # it connected to an internal address (CheckedHTTPSConnection)
        return Outcome(None, f"url refused: {error}", None)
    except requests.Timeout:
        return Outcome(None, f"no answer within {settings.timeout:g} s", None)
    except requests.RequestException as error:
        return Outcome(None, f"connection failed: {type(error).__name__}", None)
    with response:
        kept = response.raw.read(RESPONSE_KEPT_BYTES, decode_content=True)
    text = kept.decode("utf-8", errors="ignore")  # a character cut at 1 KB is dropped
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    return Outcome(response.status_code, None, text, retry_after)


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header's delay in seconds (delta-seconds or an HTTP date), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def record(h: Handles, token: str, ended: list[tuple[str, Outcome]], schedule) -> list[str]:
    """Record attempts, in one transaction, and decide what follows each; the deliveries'
    states after them.

    The deliveries and their subscriptions are read in one query and written back in one
    flush (an UPDATE executed for many rows): a ``session.get`` of each and a flush per
    delivery cost 2 ms, most of a worker's time at 9,000 deliveries. Nothing is recorded of a
    delivery whose lease is no longer ``token``'s (it was retried by hand, deleted, or leased
    again after this job overran its lease): ``superseded``. A subscription disabled by one
    of these answers has its other pending deliveries cancelled once all are recorded.
    """
    if not ended:
        return []
    with h.sessions() as session:
        leased = leased_deliveries(session, token, [d for d, _ in ended])
        states = [record_one(leased.get(d), outcome, schedule) for d, outcome in ended]
        session.flush()
        for subscription_id in {s.id for _, s in leased.values() if not s.enabled}:
            cancel_deliveries(session, subscription_id)
        session.commit()
    return states


def record_one(leased: tuple | None, outcome: Outcome, schedule) -> str:
    """Record one attempt of a delivery and what follows it; its state after."""
    if leased is None:
        return "superseded"
    delivery, subscription = leased
    now = utc_now()
    attempt = {
        "at": now.isoformat(),
        "status_code": outcome.status_code,
        "error": outcome.error,
        "response": outcome.response,
    }
    delivery.attempts = [*delivery.attempts, attempt]
    delivery.lease_token, delivery.lease_until = None, None
    failures = len(delivery.attempts)
    if outcome.delivered:
        delivery.state, delivery.next_attempt_at = "delivered", None
        subscription.failing_since = None
    elif not subscription.enabled:  # disabled since the claim: by an answer before, or its owner
        delivery.state, delivery.next_attempt_at = "cancelled", None
    elif outcome.status_code == 410:
        disable(subscription, "the receiver answered 410 Gone", delivery)
    else:
        if subscription.failing_since is None:
            subscription.failing_since = now
        if now - subscription.failing_since >= FAILING_DISABLES_AFTER:
            disable(subscription, "every delivery failed for 5 days", delivery)
        elif failures > len(schedule):
            delivery.state, delivery.next_attempt_at = "failed", None
        else:
            delay = max(jittered(schedule[failures - 1]), outcome.retry_after or 0.0)
            delivery.next_attempt_at = now + timedelta(seconds=delay)
    return delivery.state


def disable(subscription, reason: str, delivery) -> None:
    """Disable a subscription: this delivery fails (:func:`record` cancels its other ones)."""
    delivery.state, delivery.next_attempt_at = "failed", None
    subscription.enabled = False
    subscription.disabled_reason = reason
    subscription.updated_at = utc_now()


def jittered(seconds: float) -> float:
    return seconds * random.uniform(1 - JITTER, 1 + JITTER)


def run_dispatcher() -> subprocess.Popen:
    """Start the dispatcher of a worker: a process of its own on the environment's settings,
    stopped when the worker exits (or at its next look, when the worker was killed).

    Not a thread of the RQ worker: RQ forks a work horse per job, and a fork taken while the
    thread held the ledger's SQLite lock (or a lock of a Redis pool) leaves the horse with
    SQLite's record of a lock it does not hold, and it waits on it until it gives up.
    """
    command = [sys.executable, "-c", f"from {__name__} import main; main({os.getpid()})"]
    process = subprocess.Popen(command)
    atexit.register(stop_dispatcher, process)
    return process


def stop_dispatcher(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(worker_pid: int) -> None:
    """The dispatcher process: :meth:`Dispatcher.look` every ``poll_seconds`` until its
    worker is gone."""
    settings = settings_from_env()
    dispatcher = Dispatcher(handles(settings), Settings.of(settings))
    while os.getppid() == worker_pid:
        dispatcher.look()
        time.sleep(dispatcher.settings.poll_seconds)
