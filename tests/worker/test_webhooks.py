"""Webhook deliveries sent to a receiver on loopback, in this process, on a SQLite ledger: what
a receiver gets, what each answer leads to, and what the deliveries record.

The dispatcher's steps run here one after the other (:func:`drive`) instead of in a worker's
thread and RQ jobs; tests/faults/test_webhooks.py runs them as production does.
"""

from __future__ import annotations

import json
from datetime import timedelta
from ipaddress import ip_address

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from service.ledger import add_variant, create_key, revoke_key, set_variant_status
from service.ledger.schema import WebhookDelivery, WebhookSubscription, utc_now
from service.ledger.webhooks import (
    create_subscription,
    dispatch_events,
    lease_due,
    rotate_secret,
)
from service.worker import webhooks
from service.worker.handles import handles
from service.worker.webhooks import (
    BATCH,
    QUEUE_LEASE,
    RESPONSE_KEPT_BYTES,
    Settings,
    deliver_leased,
)
from tests.ledger.factories import add_versions, publish_model
from tests.receiver import HANG, receiving

MODEL = "agg-plus-baseline"
FAST = Settings(
    timeout=1.0,
    allow_private=True,
    schedule=[0.0, 0.0],
    base_url="https://api.example.com",
    poll_seconds=0.1,
)
"""Two retries at once and a one-second timeout: a whole schedule runs in a moment."""


@pytest.fixture
def h(tmp_path):
    return handles(
        {"VAR_DIR": str(tmp_path), "DATABASE_URL": None, "REDIS_URL": None, "DATA_DIR": None}
    )


@pytest.fixture
def receiver():
    with receiving() as receiver:
        yield receiver


def subscribe(h, url: str, events=("model.rebalanced",), key_models=None, models=None):
    with h.sessions() as session:
        publish_model(session)
        key, _ = create_key(
            session, name="p", tenant="t", scopes=["webhooks:write"], models=key_models
        )
        subscription = create_subscription(
            session, key, url=url, events=events, models=models, description=""
        )
        session.commit()
        return subscription, key


def push(h, count: int = 1) -> list:
    with h.sessions() as session:
        rows = add_versions(session, MODEL, count)
        session.commit()
        return rows


def drive(h, settings: Settings = FAST, rounds: int = 10) -> None:
    """Run the dispatcher's steps until nothing is due (or ``rounds`` passes)."""
    for _ in range(rounds):
        with h.sessions() as session:
            dispatch_events(session)
            leased = lease_due(session, utc_now(), QUEUE_LEASE, BATCH)
            session.commit()
        if leased is None:
            return
        deliver_leased(h, settings, *leased[:1], len(leased[1]))


def deliveries(h) -> list[WebhookDelivery]:
    with h.sessions() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)))


def subscription_of(h, subscription_id: str) -> WebhookSubscription:
    with h.sessions() as session:
        return session.get_one(WebhookSubscription, subscription_id)


def test_a_new_version_arrives_signed_thin_and_verifiable(h, receiver):
    subscription, _ = subscribe(h, receiver.url())
    (row,) = push(h)
    drive(h)
    (received,) = receiver.wait_for(1)
    (payload,) = receiver.verified(subscription.secret)
    assert payload["type"] == "model.rebalanced"
    assert payload["data"] == {
        "model_id": MODEL,
        "version": row.version,
        "as_of": row.as_of.isoformat(),
        "effective_date": row.effective_date.isoformat(),
        "content_hash": row.content_hash,
        "weights_url": "https://api.example.com/v1/models/agg-plus-baseline/weights"
        f"?as_of={row.effective_date.isoformat()}",
    }
    assert payload["timestamp"].endswith("Z")
    assert received.headers["content-type"] == "application/json"
    assert received.headers["webhook-signature"].startswith("v1,")
    (delivery,) = deliveries(h)
    assert (delivery.id, delivery.state) == (received.webhook_id, "delivered")
    assert [a["status_code"] for a in delivery.attempts] == [200]


def test_500_twice_then_200_is_three_attempts_with_one_webhook_id(h, receiver):
    subscribe(h, receiver.url())
    receiver.answers["/hook"] = [500, 500]
    push(h)
    drive(h)
    received = receiver.wait_for(3)
    assert len({r.webhook_id for r in received}) == 1
    assert len({r.body for r in received}) == 1  # the same payload, signed afresh
    (delivery,) = deliveries(h)
    assert delivery.state == "delivered"
    assert [a["status_code"] for a in delivery.attempts] == [500, 500, 200]
    assert delivery.attempts[0]["response"] == "answered 500"


def test_after_the_last_retry_the_delivery_fails(h, receiver):
    subscription, _ = subscribe(h, receiver.url())
    receiver.default = 503
    push(h)
    drive(h)
    (delivery,) = deliveries(h)
    assert delivery.state == "failed" and delivery.next_attempt_at is None
    assert len(delivery.attempts) == 1 + len(FAST.schedule)
    assert subscription_of(h, subscription.id).enabled  # failing for minutes only


def test_410_disables_the_subscription(h, receiver):
    subscription, _ = subscribe(h, receiver.url())
    receiver.answers["/hook"] = [410]
    push(h)
    drive(h)
    (delivery,) = deliveries(h)
    assert delivery.state == "failed"
    stored = subscription_of(h, subscription.id)
    assert (stored.enabled, stored.disabled_reason) == (False, "the receiver answered 410 Gone")
    push(h)
    drive(h)
    assert len(deliveries(h)) == 1  # a disabled subscription gets nothing more


def test_a_410_cancels_the_other_deliveries_of_its_batch_and_keeps_their_attempts(h, receiver):
    subscription, _ = subscribe(h, receiver.url())
    receiver.answers["/hook"] = [410, 500]
    push(h)
    push(h)
    drive(h)  # both versions' deliveries go in one job, recorded together
    assert len(receiver.wait_for(2)) == 2
    stored = deliveries(h)
    assert sorted(d.state for d in stored) == ["cancelled", "failed"]
    assert sorted(a["status_code"] for d in stored for a in d.attempts) == [410, 500]
    assert all(d.next_attempt_at is None and d.lease_token is None for d in stored)
    assert not subscription_of(h, subscription.id).enabled


def test_a_subscription_failing_for_5_days_is_disabled(h, receiver):
    subscription, _ = subscribe(h, receiver.url())
    with h.sessions() as session:
        stored = session.get_one(WebhookSubscription, subscription.id)
        stored.failing_since = utc_now() - timedelta(days=5, seconds=1)
        session.commit()
    receiver.default = 500
    push(h)
    drive(h)
    stored = subscription_of(h, subscription.id)
    assert (stored.enabled, stored.disabled_reason) == (False, "every delivery failed for 5 days")
    assert [d.state for d in deliveries(h)] == ["failed"]


def test_retry_after_is_honoured(h, receiver):
    subscribe(h, receiver.url())
    receiver.answers["/hook"] = [(503, {"Retry-After": "3600"})]
    push(h)
    before = utc_now()
    drive(h)
    (delivery,) = deliveries(h)
    assert delivery.state == "pending"
    assert delivery.next_attempt_at >= before + timedelta(seconds=3600)


def test_a_receiver_that_hangs_past_the_timeout_is_retried(h, receiver):
    subscribe(h, receiver.url())
    receiver.answers["/hook"], receiver.hang_seconds = [HANG], 3
    push(h)
    drive(h)
    (delivery,) = deliveries(h)
    assert delivery.state == "delivered"
    assert delivery.attempts[0]["status_code"] is None
    assert delivery.attempts[0]["error"] == "no answer within 1 s"


def test_redirects_are_not_followed(h, receiver):
    subscribe(h, receiver.url())
    receiver.answers["/hook"] = [(302, {"Location": receiver.url("/elsewhere")})]
    push(h)
    drive(h)
    assert [r.path for r in receiver.requests] == ["/hook", "/hook"]
    assert [a["status_code"] for a in deliveries(h)[0].attempts] == [302, 200]


def test_a_receivers_answer_is_kept_to_1_kb(h, receiver):
    subscribe(h, receiver.url())
    receiver.answers["/hook"] = [(500, {}, "é" * 5000)]
    push(h)
    drive(h)
    first = deliveries(h)[0].attempts[0]["response"]
    assert first.startswith("éé") and len(first.encode()) <= RESPONSE_KEPT_BYTES


def test_both_secrets_sign_after_a_rotation(h, receiver):
    subscription, _ = subscribe(h, receiver.url())
    with h.sessions() as session:
        stored = session.get_one(WebhookSubscription, subscription.id)
        new = rotate_secret(session, stored)
        session.commit()
    push(h)
    drive(h)
    (received,) = receiver.wait_for(1)
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    for secret in (subscription.secret, new):
        assert Webhook(secret).verify(received.body, received.headers)["type"]


def test_revoking_the_key_stops_its_deliveries(h, receiver):
    subscription, key = subscribe(h, receiver.url())
    push(h)
    with h.sessions() as session:
        dispatch_events(session)
        revoke_key(session, key.id)
        session.commit()
    drive(h)
    assert receiver.requests == []
    assert [d.state for d in deliveries(h)] == ["cancelled"]


def test_an_unlicensed_model_is_not_announced(h, receiver):
    subscribe(h, receiver.url(), key_models=["hy-plus-baseline"])
    push(h)
    drive(h)
    assert receiver.requests == [] and deliveries(h) == []


def test_a_url_that_resolves_inside_is_refused_at_delivery_too(h, receiver):
    subscribe(h, receiver.url())
    push(h)
    strict = Settings(**{**FAST.__dict__, "allow_private": False, "schedule": []})
    drive(h, strict)
    assert receiver.requests == []
    (delivery,) = deliveries(h)
    assert delivery.state == "failed"
    assert delivery.attempts[0]["error"] == "url refused: must be https"


def rebinding(monkeypatch, port: int) -> str:
    """A URL whose host the check resolves to a global address and the connection to loopback,
    as a DNS answer that changes between the two would."""
    monkeypatch.setattr(webhooks, "resolved", lambda host, port: [ip_address("93.184.215.14")])
    return f"https://localhost:{port}/hook"


def test_a_host_rebound_inside_after_the_check_is_refused_as_it_connects(h, receiver, monkeypatch):
    subscribe(h, rebinding(monkeypatch, receiver.port))
    push(h)
    drive(h, Settings(**{**FAST.__dict__, "allow_private": False, "schedule": []}))
    assert receiver.requests == []
    (delivery,) = deliveries(h)
    assert delivery.state == "failed"
    assert delivery.attempts[0]["error"] == (
        "url refused: must not reach a loopback address: localhost connects to 127.0.0.1"
    )


def test_a_connection_to_an_allowed_address_goes_on_to_tls(h, receiver, monkeypatch):
    subscribe(h, rebinding(monkeypatch, receiver.port))
    monkeypatch.setattr(webhooks, "INTERNAL", ())  # loopback counts as outside here
    push(h)
    drive(h, Settings(**{**FAST.__dict__, "allow_private": False, "schedule": []}))
    (delivery,) = deliveries(h)  # the receiver speaks plain HTTP: the handshake fails
    assert delivery.attempts[0]["error"] == "connection failed: SSLError"


def test_a_variants_events_reach_its_tenant_only_and_ready_is_sent_once(h, receiver):
    subscribe(h, receiver.url(), events=("model.rebalanced", "variant.ready"))
    variant_id = f"{MODEL}.t-ig"
    with h.sessions() as session:
        other, _ = create_key(session, name="o", tenant="other", scopes=["webhooks:write"])
        create_subscription(
            session,
            other,
            url=receiver.url(),
            events=["model.rebalanced", "variant.ready"],
            models=None,
            description="another tenant's, for every model its key may read",
        )
        add_tenant_variant(session, variant_id, "t")
        add_versions(session, variant_id, 1)
        set_variant_status(session, variant_id, "ready")
        session.commit()
    with h.sessions() as session:  # the next month's build: still ready, no second event
        set_variant_status(session, variant_id, "ready")
        session.commit()
    drive(h)
    sent = [(e["type"], e["data"]["model_id"]) for e in map(json.loads, bodies(receiver))]
    assert sorted(sent) == [("model.rebalanced", variant_id), ("variant.ready", variant_id)]
    assert {d.subscription_id for d in deliveries(h)} == {
        s.id for s in subscription_rows(h) if s.tenant == "t"
    }


def bodies(receiver) -> list[bytes]:
    return [r.body for r in receiver.requests]


def subscription_rows(h) -> list[WebhookSubscription]:
    with h.sessions() as session:
        return list(session.scalars(select(WebhookSubscription)))


def add_tenant_variant(session, variant_id: str, tenant: str) -> None:
    """Record a variant of ``MODEL`` (``building``), as a tenant's create does."""
    definition = {"name": "T IG", "group": "variant", "description": "", "benchmark": "AGG"}
    definition |= {"risk_multiplier": 1.0, "annual_fee": 0.005}
    add_variant(
        session,
        variant_id=variant_id,
        tenant=tenant,
        base_model=MODEL,
        name="T IG",
        settings={},
        definition=definition,
        created_by=None,
    )


def test_a_variants_events_reach_its_tenants_subscriptions_to_it_or_its_base_model(h, receiver):
    every = ("model.rebalanced", "variant.ready", "variant.failed")
    _, key = subscribe(h, receiver.url("/base"), events=every, models=[MODEL])
    variant_id = f"{MODEL}.t-ig"
    with h.sessions() as session:
        other, _ = create_key(session, name="o", tenant="other", scopes=["webhooks:write"])
        licensed_hy, _ = create_key(
            session, name="hy", tenant="t", scopes=["webhooks:write"], models=["hy-plus-baseline"]
        )
        add_tenant_variant(session, variant_id, "t")
        for owner, path, models in [
            (key, "/variant", [variant_id]),  # named by its id while it is building
            (key, "/other-model", ["hy-plus-baseline"]),
            (other, "/other-tenant", [MODEL]),
            (licensed_hy, "/other-licence", None),
        ]:
            create_subscription(
                session, owner, url=receiver.url(path), events=every, models=models, description=""
            )
        session.commit()
    with h.sessions() as session:  # its build: a version, then ready
        add_versions(session, variant_id, 1)
        set_variant_status(session, variant_id, "ready")
        session.commit()
    with h.sessions() as session:  # a later month's build fails
        set_variant_status(session, variant_id, "failed", error="no prices")
        session.commit()
    drive(h)
    announced = [("model.rebalanced", 1), ("variant.failed", None), ("variant.ready", None)]

    def sent(path: str) -> list[tuple]:
        events = [json.loads(r.body) for r in receiver.of(path)]
        assert {e["data"]["model_id"] for e in events} <= {variant_id}
        return sorted((e["type"], e["data"].get("version")) for e in events)

    assert sent("/base") == sent("/variant") == announced
    assert sent("/other-model") == sent("/other-tenant") == sent("/other-licence") == []
