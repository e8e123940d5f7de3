"""Webhooks in the ledger: subscriptions, the events outbox and deliveries.

An event is written in the transaction of what it announces (:func:`announce_rebalance`, called
by :func:`service.ledger.repository.add_rebalance`), so it is never lost: the dispatcher turns it
into one delivery per matching subscription later (:func:`dispatch_events`), and sending is
leased (:func:`lease_due`, :func:`claim`), so a job that dies mid-delivery leaves a lease that
expires and the delivery is sent again. Writers flush but never commit, like the repository.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from .paging import newest_first
from .schema import (
    ApiKey,
    Rebalance,
    Variant,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
    utc_now,
)

MODEL_REBALANCED = "model.rebalanced"
VARIANT_READY = "variant.ready"
VARIANT_FAILED = "variant.failed"
WEBHOOK_TEST = "webhook.test"
EVENT_TYPES = (MODEL_REBALANCED, VARIANT_READY, VARIANT_FAILED, WEBHOOK_TEST)
"""The event types a subscription may ask for."""
SECRET_PREFIX = "whsec_"
SECRET_RANDOM_BYTES = 32
"""Standard Webhooks secrets: ``whsec_`` and the base64 of 24 to 64 random bytes."""
SECRET_OVERLAP = timedelta(hours=24)
"""How long the previous secret still signs after a rotation."""


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def new_secret() -> str:
    """A signing secret, ``whsec_`` and base64, as ``standardwebhooks.Webhook`` takes it."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_RANDOM_BYTES)).decode()


# --- the outbox --------------------------------------------------------------------------------


def announce_rebalance(session: Session, row: Rebalance) -> WebhookEvent:
    """Add the ``model.rebalanced`` event of a new version to the outbox (flushed, in the
    caller's transaction: the version and its event are committed together or not at all)."""
    data = {
        "model_id": row.model_id,
        "version": row.version,
        "as_of": row.as_of.isoformat(),
        "effective_date": row.effective_date.isoformat(),
        "content_hash": row.content_hash,
    }
    event = WebhookEvent(
        type=MODEL_REBALANCED, model_id=row.model_id, version=row.version, data=data
    )
    session.add(event)
    session.flush()
    return event


def announce_variant(session: Session, variant: Variant) -> WebhookEvent:
    """Add a variant's ``variant.ready`` or ``variant.failed`` event to the outbox, in the
    caller's transaction (that of the status it announces)."""
    data = {"model_id": variant.id, "base_model": variant.base_model, "status": variant.status}
    if variant.status == "failed":
        data["error"] = variant.error
    kind = VARIANT_READY if variant.status == "ready" else VARIANT_FAILED
    event = WebhookEvent(type=kind, model_id=variant.id, data=data)
    session.add(event)
    session.flush()
    return event


def undispatched_events(session: Session, limit: int = 100) -> list[WebhookEvent]:
    """The oldest events of the outbox that have no deliveries yet."""
    query = select(WebhookEvent).where(WebhookEvent.dispatched_at.is_(None))
    return list(session.scalars(query.order_by(WebhookEvent.id).limit(limit)))


def live_subscriptions(session: Session) -> list[tuple[WebhookSubscription, ApiKey]]:
    """Every enabled subscription whose key is not revoked, with its key."""
    query = (
        select(WebhookSubscription, ApiKey)
        .join(ApiKey, ApiKey.id == WebhookSubscription.key_id)
        .where(WebhookSubscription.enabled.is_(True), ApiKey.revoked_at.is_(None))
    )
    return [(s, k) for s, k in session.execute(query)]


def wants(
    subscription: WebhookSubscription, key: ApiKey, event: WebhookEvent, owners: dict
) -> bool:
    """Whether the event goes to the subscription: recorded since it was made, its type asked
    for, and its model one the subscription names and its key may read.

    A variant's event matches a ``models`` list that names the variant or its base model (a
    variant's id is made by the service, so a platform names the base model to hear of the
    variants to come). The key may read a variant when it is of the variant's tenant and may
    read its base model (``owners``: each variant's ``(tenant, base_model)``), as on every API
    route."""
    if event.type not in subscription.events or event.created_at < subscription.created_at:
        return False
    if event.model_id is None:
        return True
    tenant, licensed = owners.get(event.model_id, (None, event.model_id))
    named = subscription.models
    if named is not None and event.model_id not in named and licensed not in named:
        return False
    if tenant is not None and key.tenant != tenant:
        return False
    return key.models is None or licensed in key.models


def dispatch_events(session: Session, limit: int = 100) -> int:
    """Make the deliveries of the outbox's undispatched events (oldest first); how many.

    Each event is claimed by a conditional UPDATE before its deliveries are inserted, so two
    dispatchers at once never deliver an event twice (the second finds it dispatched).
    """
    events = undispatched_events(session, limit)
    if not events:
        return 0
    subscriptions = live_subscriptions(session)
    model_ids = {e.model_id for e in events if e.model_id}
    owners = {
        v.id: (v.tenant, v.base_model)
        for v in session.scalars(select(Variant).where(Variant.id.in_(model_ids)))
    }
    now = utc_now()
    rows = []
    for event in events:
        claimed = session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == event.id, WebhookEvent.dispatched_at.is_(None))
            .values(dispatched_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            continue
        rows += [
            delivery_row(s.id, event.id, now)
            for s, key in subscriptions
            if event.subscription_id in (None, s.id) and wants(s, key, event, owners)
        ]
    if rows:
        session.execute(insert(WebhookDelivery.__table__), rows)
    return len(rows)


def delivery_row(subscription_id: str, event_id: int, now: datetime) -> dict:
    return {
        "id": new_id("msg_"),
        "subscription_id": subscription_id,
        "event_id": event_id,
        "state": "pending",
        "attempts": [],
        "next_attempt_at": now,
        "lease_token": None,
        "lease_until": None,
        "created_at": now,
    }


# --- subscriptions -----------------------------------------------------------------------------


STILL_ANNOUNCED = {
    "building": (MODEL_REBALANCED, VARIANT_READY, VARIANT_FAILED),
    "ready": (MODEL_REBALANCED, VARIANT_FAILED),
    "failed": (),
}
"""The events a live variant can still have, by its status: its first build records its
versions (one ``model.rebalanced``) and ends ``ready`` or ``failed``; a ready one gets a version
each month, pushed or built, and a month's build can fail; a failed one is never built again. A
retired variant has none."""


def deliverable_events(session: Session, models: Iterable[str] | None) -> set[str]:
    """The event types a subscription filtered on ``models`` (model ids that exist) can still
    receive: every type for null or for a list that names one of the nine (its own versions,
    and its variants to come); for a list of variants only, ``webhook.test`` and what those
    variants can still have (:data:`STILL_ANNOUNCED`)."""
    if models is None:
        return set(EVENT_TYPES)
    found = {WEBHOOK_TEST}
    for model_id in models:
        variant = session.get(Variant, model_id)
        if variant is None:
            return set(EVENT_TYPES)
        if variant.retired_at is None:
            found.update(STILL_ANNOUNCED[variant.status])
    return found


def create_subscription(
    session: Session,
    key: ApiKey,
    *,
    url: str,
    events: Iterable[str],
    models: Iterable[str] | None,
    description: str,
) -> WebhookSubscription:
    """A new subscription of the key's tenant, owned by the key, with a new secret; flushed."""
    now = utc_now()
    subscription = WebhookSubscription(
        id=new_id("wh_"),
        tenant=key.tenant,
        key_id=key.id,
        url=url,
        events=list(events),
        models=None if models is None else list(models),
        description=description,
        enabled=True,
        secret=new_secret(),
        created_at=now,
        updated_at=now,
    )
    session.add(subscription)
    session.flush()
    return subscription


def count_subscriptions(session: Session, tenant: str) -> int:
    query = select(func.count()).where(WebhookSubscription.tenant == tenant)
    return session.scalar(query) or 0


def get_subscription(session: Session, tenant: str, subscription_id: str):
    """The tenant's subscription, or None (another tenant's is None too)."""
    subscription = session.get(WebhookSubscription, subscription_id)
    return subscription if subscription is not None and subscription.tenant == tenant else None


def list_subscriptions(
    session: Session, tenant: str, *, before_id: str | None = None, limit: int = 20
) -> list[WebhookSubscription]:
    """A page of the tenant's subscriptions, newest first (by creation time, then id)."""
    cursor = None if before_id is None else get_subscription(session, tenant, before_id)
    if before_id is not None and cursor is None:
        return []
    query = select(WebhookSubscription).where(WebhookSubscription.tenant == tenant)
    return list(session.scalars(newest_first(query, WebhookSubscription, cursor, limit)))


def delete_subscription(session: Session, subscription: WebhookSubscription) -> None:
    """Delete a subscription and its deliveries (a job sending one finds it gone)."""
    session.execute(
        delete(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
    )
    session.delete(subscription)
    session.flush()


def rotate_secret(session: Session, subscription: WebhookSubscription) -> str:
    """Give the subscription a new secret; the old one signs too for :data:`SECRET_OVERLAP`."""
    now = utc_now()
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = now + SECRET_OVERLAP
    subscription.secret = new_secret()
    subscription.updated_at = now
    session.flush()
    return subscription.secret


def signing_secrets(subscription: WebhookSubscription, now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one during
    the overlap after a rotation."""
    found = [subscription.secret]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires is not None and now < expires:
        found.append(subscription.previous_secret)
    return found


def transfer_subscriptions(session: Session, old_key_id: str, new_key_id: str) -> None:
    """Hand a key's subscriptions to its successor (a rotation keeps them delivering)."""
    session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.key_id == old_key_id)
        .values(key_id=new_key_id)
        .execution_options(synchronize_session="fetch")
    )


# --- deliveries --------------------------------------------------------------------------------


def add_test_delivery(session: Session, subscription: WebhookSubscription) -> WebhookDelivery:
    """A ``webhook.test`` event for the subscription alone and its delivery, due now."""
    now = utc_now()
    event = WebhookEvent(
        type=WEBHOOK_TEST,
        subscription_id=subscription.id,
        data={"webhook_id": subscription.id},
        created_at=now,
        dispatched_at=now,
    )
    session.add(event)
    session.flush()
    delivery = WebhookDelivery(**delivery_row(subscription.id, event.id, now))
    session.add(delivery)
    session.flush()
    return delivery


def get_delivery(session: Session, subscription_id: str, delivery_id: str):
    """The subscription's delivery, or None."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != subscription_id:
        return None
    return delivery


def list_deliveries(
    session: Session, subscription_id: str, *, before_id: str | None = None, limit: int = 20
) -> list[tuple[WebhookDelivery, WebhookEvent]]:
    """A page of the subscription's deliveries with their events, newest first."""
    query = (
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.subscription_id == subscription_id)
    )
    cursor = None if before_id is None else get_delivery(session, subscription_id, before_id)
    if before_id is not None and cursor is None:
        return []
    page = newest_first(query, WebhookDelivery, cursor, limit)
    return [(d, e) for d, e in session.execute(page)]


def event_of(session: Session, delivery: WebhookDelivery) -> WebhookEvent:
    return session.get_one(WebhookEvent, delivery.event_id)


def retry_delivery(session: Session, delivery: WebhookDelivery) -> WebhookDelivery:
    """Make a delivery pending and due now, whatever its state (a lease held is dropped: the
    job holding it no longer records its attempt)."""
    delivery.state = "pending"
    delivery.next_attempt_at = utc_now()
    delivery.lease_token = None
    delivery.lease_until = None
    session.flush()
    return delivery


def lease_due(
    session: Session, now: datetime, lease: timedelta, limit: int
) -> tuple[str, list[str]] | None:
    """Lease up to ``limit`` pending deliveries that are due and not leased (or whose lease
    expired) to a new token; ``(token, ids)``, or None when none is due.

    The lease covers the wait in the queue: the job that gets the token claims them
    (:func:`claim`) for its own sending time.
    """
    free = or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now)
    due = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.state == "pending",
            WebhookDelivery.next_attempt_at <= now,
            free,
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    ids = list(session.scalars(due))
    if not ids:
        return None
    token = secrets.token_hex(16)
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(ids), WebhookDelivery.state == "pending", free)
        .values(lease_token=token, lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    leased = list(
        session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.lease_token == token))
    )
    return (token, leased) if leased else None


def claim(session: Session, token: str, until: datetime) -> list[WebhookDelivery]:
    """The pending deliveries leased to ``token``, their lease extended to ``until``; none when
    the lease was taken over (it expired and the dispatcher leased them again)."""
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.lease_token == token, WebhookDelivery.state == "pending")
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )
    query = select(WebhookDelivery).where(
        WebhookDelivery.lease_token == token, WebhookDelivery.state == "pending"
    )
    return list(session.scalars(query.order_by(WebhookDelivery.created_at)))


def release_lease(session: Session, token: str) -> None:
    """Drop a lease, so that its deliveries are leased again at the next look."""
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.lease_token == token)
        .values(lease_token=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def leased_deliveries(session: Session, token: str, ids: Sequence[str]) -> dict[str, tuple]:
    """``{id: (delivery, subscription)}`` of the deliveries among ``ids`` still pending under
    ``token``, locked (a hand retry or a new lease waits for the attempts to be recorded)."""
    query = (
        select(WebhookDelivery, WebhookSubscription)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(
            WebhookDelivery.id.in_(list(ids)),
            WebhookDelivery.lease_token == token,
            WebhookDelivery.state == "pending",
        )
        .order_by(WebhookDelivery.id)
        .with_for_update(of=WebhookDelivery)
    )
    return {d.id: (d, s) for d, s in session.execute(query)}


def subscriptions_by_id(session: Session, ids: Sequence[str]) -> dict[str, tuple]:
    """``{id: (subscription, key)}`` of the given subscriptions."""
    query = (
        select(WebhookSubscription, ApiKey)
        .join(ApiKey, ApiKey.id == WebhookSubscription.key_id)
        .where(WebhookSubscription.id.in_(list(ids)))
    )
    return {s.id: (s, k) for s, k in session.execute(query)}


def events_by_id(session: Session, ids: Sequence[int]) -> dict[int, WebhookEvent]:
    query = select(WebhookEvent).where(WebhookEvent.id.in_(list(ids)))
    return {e.id: e for e in session.scalars(query)}


def cancel_deliveries(session: Session, subscription_id: str) -> None:
    """Cancel the subscription's pending deliveries (it was disabled)."""
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == subscription_id,
            WebhookDelivery.state == "pending",
        )
        .values(state="cancelled", next_attempt_at=None, lease_token=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
