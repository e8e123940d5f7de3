"""Webhooks in the ledger: the outbox written with the version, fan-out to subscriptions, leases."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from service.ledger.repository import add_rebalance, create_key, revoke_key, rotate_key
from service.ledger.schema import WebhookDelivery, WebhookEvent, utc_now
from service.ledger.webhooks import (
    claim,
    create_subscription,
    dispatch_events,
    lease_due,
    rotate_secret,
    signing_secrets,
)

from .factories import add_versions, publish_model

MODEL = "agg-plus-baseline"
OTHER = "hy-plus-baseline"


def subscribe(session, models=None, key_models=None, events=("model.rebalanced",)):
    key, _ = create_key(session, name="k", tenant="t", scopes=["webhooks:write"], models=key_models)
    subscription = create_subscription(
        session, key, url="https://example.com/h", events=events, models=models, description=""
    )
    return key, subscription


def events(session) -> list[WebhookEvent]:
    return list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


def deliveries(session) -> list[WebhookDelivery]:
    return list(session.scalars(select(WebhookDelivery)))


def test_a_version_and_its_event_are_committed_together_or_not_at_all(session):
    publish_model(session)
    session.commit()
    row = add_rebalance(
        session, MODEL, as_of=date(2024, 1, 31), effective_date=date(2024, 2, 1),
        weights={"AGG": 1.0}, source="push",
    )  # fmt: skip
    session.rollback()
    assert events(session) == []
    row = add_versions(session, MODEL, 1)[0]
    session.commit()
    (event,) = events(session)
    assert (event.type, event.model_id, event.version) == ("model.rebalanced", MODEL, row.version)
    assert event.data == {
        "model_id": MODEL,
        "version": row.version,
        "as_of": row.as_of.isoformat(),
        "effective_date": row.effective_date.isoformat(),
        "content_hash": row.content_hash,
    }


def test_events_fan_out_to_the_subscriptions_that_want_them_once(session):
    publish_model(session)
    publish_model(session, OTHER)
    _, every = subscribe(session)
    _, only_other = subscribe(session, models=[OTHER])
    _, unlicensed = subscribe(session, key_models=[OTHER])
    _, tests_only = subscribe(session, events=["webhook.test"])
    revoked_key, revoked = subscribe(session)
    revoke_key(session, revoked_key.id)
    add_versions(session, MODEL, 1)
    session.commit()
    assert dispatch_events(session) == 1
    assert dispatch_events(session) == 0  # already dispatched
    session.commit()
    assert [d.subscription_id for d in deliveries(session)] == [every.id]
    assert {only_other.id, unlicensed.id, tests_only.id, revoked.id}.isdisjoint(
        d.subscription_id for d in deliveries(session)
    )


def test_a_rotated_key_hands_its_subscriptions_on(session):
    publish_model(session)
    key, subscription = subscribe(session)
    new_key, _ = rotate_key(session, key.id)
    session.commit()
    session.refresh(subscription)
    assert subscription.key_id == new_key.id
    add_versions(session, MODEL, 1)
    assert dispatch_events(session) == 1


def test_a_lease_is_claimed_by_its_token_only(session):
    publish_model(session)
    subscribe(session)
    add_versions(session, MODEL, 1)
    dispatch_events(session)
    session.commit()
    now = utc_now()
    token, ids = lease_due(session, now, timedelta(seconds=60), 10)
    assert len(ids) == 1
    assert lease_due(session, now, timedelta(seconds=60), 10) is None  # leased
    later = now + timedelta(seconds=61)
    taken_over, again = lease_due(session, later, timedelta(seconds=60), 10)
    assert again == ids
    assert claim(session, token, later) == []  # the old job's token no longer holds
    assert [d.id for d in claim(session, taken_over, later)] == ids


def test_both_secrets_sign_for_a_day_after_a_rotation(session):
    _, subscription = subscribe(session)
    old = subscription.secret
    Webhook(old)  # a secret the reference class takes
    new = rotate_secret(session, subscription)
    now = utc_now()
    assert new.startswith("whsec_") and new != old
    assert signing_secrets(subscription, now) == [new, old]
    assert signing_secrets(subscription, now + timedelta(hours=24, seconds=1)) == [new]
