"""Webhook subscriptions (scope ``webhooks:write``): create, list, read, change, delete, rotate
the secret, send a test event; a subscription's deliveries and a retry of one.

A subscription belongs to its tenant: any key of the tenant with the scope manages it, another
tenant gets 404 as for one that does not exist. It sees what its owning key may read (the key
that created it or last changed it), and stops when that key is revoked. The signing secret is
in the answers of a create and of a rotation only. A URL must be https and resolve to public
addresses only (``service.worker.webhooks.check_url``), or it is refused with a 422 naming
``url`` and the rule.
"""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from schemas.webhooks import (
    DeliveryListSchema,
    DeliveryPageQuerySchema,
    DeliverySchema,
    WebhookCreatedSchema,
    WebhookCreateSchema,
    WebhookListSchema,
    WebhookPageQuerySchema,
    WebhookSchema,
    WebhookSecretSchema,
    WebhookUpdateSchema,
)

from ...config import flag
from ...engine.models import PASSIVE_BENCHMARKS
from ..auth import current_key, licensed, require
from ..blueprint import Blueprint
from ..errors import fail, invalid
from ..extensions import get_session

SCOPE = "webhooks:write"

blp = Blueprint(
    "webhooks", __name__, url_prefix="/v1/webhooks", description="Webhook subscriptions"
)


def caller():
    """The ledger's row of the request's key (its tenant and licence)."""
    from ...ledger import get_key

    return get_key(get_session(), current_key().id)


def tenant_subscription(webhook_id: str):
    """The subscription of the caller's tenant; 404 for any other."""
    from ...ledger.webhooks import get_subscription

    subscription = get_subscription(get_session(), caller().tenant, webhook_id)
    if subscription is None:
        fail(404, f"no webhook {webhook_id!r}", field="webhook_id", location="path")
    return subscription


def checked_url(url: str) -> str:
    from ...worker.webhooks import RefusedUrl, check_url

    try:
        check_url(url, flag(current_app.config["WEBHOOK_ALLOW_PRIVATE"]))
    except RefusedUrl as error:
        fail(422, f"url: {error}", field="url", location="json")
    return url


def checked_models(models: list[str] | None) -> list[str] | None:
    """The models, each one the key may read (one of the nine it is licensed for, or a variant
    of its tenant, as on the model routes); 422 naming every other (unknown or unlicensed alike,
    so that a key cannot learn which models exist beyond its licence)."""
    if models is None:
        return None
    errors = [
        {"field": f"models[{i}]", "in": "json", "message": unreadable(m)}
        for i, m in enumerate(models)
        if not readable(m)
    ]
    if errors:
        raise invalid(errors)
    return list(dict.fromkeys(models))


def readable(model_id: str) -> bool:
    from ...ledger import get_definition

    return get_definition(get_session(), model_id) is not None and licensed(model_id)


def unreadable(model_id: str) -> str:
    """Why ``model_id`` cannot be in ``models``: a passive benchmark has no versions, and so no
    events (its ids are public); any other is one the key may not read."""
    if model_id in PASSIVE_BENCHMARKS:
        return f"{model_id!r} is a passive benchmark: it has no versions, so no events."
    return f"No model {model_id!r} this key may read."


def checked_events(events: list[str], models: list[str] | None) -> list[str]:
    """The event types, once each; 422 naming each that a subscription filtered on ``models``
    can never receive (a variant's id is made by the service: name its base model instead)."""
    from ...ledger.webhooks import deliverable_events

    deliverable = deliverable_events(get_session(), models)
    errors = [
        {"field": f"events[{i}]", "in": "json", "message": undeliverable(event)}
        for i, event in enumerate(events)
        if event not in deliverable
    ]
    if errors:
        raise invalid(errors)
    return list(dict.fromkeys(events))


def undeliverable(event: str) -> str:
    """Why no model of the list can have ``event``: which models can (``STILL_ANNOUNCED``)."""
    from ...ledger.webhooks import STILL_ANNOUNCED

    statuses = " or ".join(s for s, kinds in STILL_ANNOUNCED.items() if event in kinds)
    return (
        f"No model in models can have a {event} event any more: name one of the nine models "
        f"(for it and its variants), or a variant {statuses} and not retired."
    )


def cursor_of(rows: list, limit: int) -> tuple[list, str | None]:
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)


def delivery_view(delivery, event) -> dict:
    from ...worker.webhooks import event_document

    document = event_document(event, current_app.config["BASE_URL"])
    return {
        "id": delivery.id,
        "subscription_id": delivery.subscription_id,
        "type": event.type,
        "event": document,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "created_at": delivery.created_at,
    }


@blp.route("")
class Webhooks(MethodView):
    @require(SCOPE)
    @blp.arguments(WebhookPageQuerySchema, location="query")
    @blp.response(200, WebhookListSchema)
    def get(self, query: dict):
        """The tenant's webhook subscriptions, newest first"""
        from ...ledger.webhooks import get_subscription, list_subscriptions

        session = get_session()
        tenant = caller().tenant
        cursor = query.get("cursor")
        if cursor is not None and get_subscription(session, tenant, cursor) is None:
            fail(422, f"cursor {cursor!r} is not one this API gave", field="cursor")
        limit = query["limit"]
        rows = list_subscriptions(session, tenant, before_id=cursor, limit=limit + 1)
        rows, next_cursor = cursor_of(rows, limit)
        return {"data": rows, "next_cursor": next_cursor}

    @require(SCOPE)
    @blp.arguments(WebhookCreateSchema)
    @blp.response(201, WebhookCreatedSchema)
    @blp.alt_response(409, "CONFLICT", description="The tenant has as many as it may have")
    def post(self, body: dict):
        """Subscribe a URL to events; the signing secret is in this answer only

        The URL must be https and its host must not resolve to a loopback, private, link-local,
        multicast or reserved address (422 naming ``url`` and the rule). An event type that no
        model of ``models`` can still have is a 422 naming it (``events[i]``).
        """
        from ...ledger.webhooks import count_subscriptions, create_subscription

        session = get_session()
        key = caller()
        models = checked_models(body["models"])
        events = checked_events(body["events"], models)
        url = checked_url(body["url"])
        limit = current_app.config["WEBHOOK_LIMIT"]
        if count_subscriptions(session, key.tenant) >= limit:
            fail(409, f"the tenant has {limit} webhooks, the most it may have")
        subscription = create_subscription(
            session,
            key,
            url=url,
            events=events,
            models=models,
            description=body["description"],
        )
        session.commit()
        shown = {name: getattr(subscription, name) for name in WebhookSchema().fields}
        return {**shown, "secret": subscription.secret}


@blp.route("/<webhook_id>")
class Webhook(MethodView):
    @require(SCOPE)
    @blp.response(200, WebhookSchema)
    def get(self, webhook_id: str):
        """A webhook subscription"""
        return tenant_subscription(webhook_id)

    @require(SCOPE)
    @blp.arguments(WebhookUpdateSchema)
    @blp.response(200, WebhookSchema)
    def patch(self, body: dict, webhook_id: str):
        """Change a subscription's URL, events, models, description or enabled

        The key making the change owns the subscription from then on: it sees what that key may
        read. Disabling it cancels its pending deliveries; enabling it clears why it was
        disabled. A change of ``events`` or ``models`` is held to the rule of a create: the
        events (the stored ones, when only ``models`` changes) must be ones a model of the list
        can still have (422 naming ``events[i]``).
        """
        from ...ledger.schema import utc_now
        from ...ledger.webhooks import cancel_deliveries

        session = get_session()
        subscription = tenant_subscription(webhook_id)
        key = caller()
        if "url" in body:
            subscription.url = checked_url(body["url"])
        if "models" in body:
            subscription.models = checked_models(body["models"])
        if "events" in body or "models" in body:
            events = body.get("events", subscription.events)
            subscription.events = checked_events(events, subscription.models)
        if "description" in body:
            subscription.description = body["description"]
        if body.get("enabled") is False and subscription.enabled:
            subscription.enabled, subscription.disabled_reason = False, "disabled by a key"
            cancel_deliveries(session, subscription.id)
        elif body.get("enabled") is True:
            subscription.enabled, subscription.disabled_reason = True, None
            subscription.failing_since = None
        subscription.key_id = key.id
        subscription.updated_at = utc_now()
        session.commit()
        return subscription

    @require(SCOPE)
    @blp.response(204)
    def delete(self, webhook_id: str):
        """Delete a subscription and its deliveries"""
        from ...ledger.webhooks import delete_subscription

        session = get_session()
        delete_subscription(session, tenant_subscription(webhook_id))
        session.commit()


@blp.route("/<webhook_id>/rotate-secret")
class WebhookSecret(MethodView):
    @require(SCOPE)
    @blp.response(201, WebhookSecretSchema)
    def post(self, webhook_id: str):
        """Make a new signing secret, in this answer only; the old one signs too for 24 h"""
        from ...ledger.webhooks import rotate_secret

        session = get_session()
        subscription = tenant_subscription(webhook_id)
        secret = rotate_secret(session, subscription)
        session.commit()
        return {
            "id": subscription.id,
            "secret": secret,
            "previous_secret_expires_at": subscription.previous_secret_expires_at,
        }


@blp.route("/<webhook_id>/test")
class WebhookTest(MethodView):
    @require(SCOPE)
    @blp.response(202, DeliverySchema)
    @blp.alt_response(409, "CONFLICT", description="The subscription is disabled")
    def post(self, webhook_id: str):
        """Send a webhook.test event to the subscription; its delivery"""
        from ...ledger.webhooks import add_test_delivery, event_of

        session = get_session()
        subscription = tenant_subscription(webhook_id)
        if not subscription.enabled:
            fail(409, f"webhook {webhook_id!r} is disabled", field="webhook_id", location="path")
        delivery = add_test_delivery(session, subscription)
        session.commit()
        return delivery_view(delivery, event_of(session, delivery))


@blp.route("/<webhook_id>/deliveries")
class Deliveries(MethodView):
    @require(SCOPE)
    @blp.arguments(DeliveryPageQuerySchema, location="query")
    @blp.response(200, DeliveryListSchema)
    def get(self, query: dict, webhook_id: str):
        """The subscription's deliveries, newest first: their events, attempts and states"""
        from ...ledger.webhooks import get_delivery, list_deliveries

        session = get_session()
        subscription = tenant_subscription(webhook_id)
        cursor = query.get("cursor")
        if cursor is not None and get_delivery(session, subscription.id, cursor) is None:
            fail(422, f"cursor {cursor!r} is not one this API gave", field="cursor")
        limit = query["limit"]
        rows = list_deliveries(session, subscription.id, before_id=cursor, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "data": [delivery_view(d, e) for d, e in rows],
            "next_cursor": rows[-1][0].id if more else None,
        }


@blp.route("/<webhook_id>/deliveries/<delivery_id>/retry")
class DeliveryRetry(MethodView):
    @require(SCOPE)
    @blp.response(202, DeliverySchema)
    @blp.alt_response(409, "CONFLICT", description="The subscription is disabled")
    def post(self, webhook_id: str, delivery_id: str):
        """Send a delivery again, now, with the same webhook-id"""
        from ...ledger.webhooks import event_of, get_delivery, retry_delivery

        session = get_session()
        subscription = tenant_subscription(webhook_id)
        delivery = get_delivery(session, subscription.id, delivery_id)
        if delivery is None:
            fail(404, f"no delivery {delivery_id!r}", field="delivery_id", location="path")
        if not subscription.enabled:
            fail(409, f"webhook {webhook_id!r} is disabled", field="webhook_id", location="path")
        retry_delivery(session, delivery)
        session.commit()
        return delivery_view(delivery, event_of(session, delivery))
