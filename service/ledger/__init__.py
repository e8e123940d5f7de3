"""The ledger: the system of record of model definitions, rebalances, API keys, audit events
and webhooks (subscriptions, the events outbox, deliveries: :mod:`service.ledger.webhooks`).

SQLAlchemy 2 on a SQLite file (the default) or PostgreSQL (production); nothing here imports
Flask, Redis or any other part of the service. Typical use::

    engine = make_engine("sqlite:///var/ledger.db")
    upgrade(engine)                      # migrations to head; harmless at every start
    Session = session_factory(engine)
    with Session() as session:
        add_rebalance(session, "agg-plus-baseline", as_of=..., effective_date=...,
                      weights={"AGG": 0.6, "HYG": 0.4}, source="worker")
        session.commit()                 # repository functions flush; the caller commits
"""

from .database import make_engine, session_factory, upgrade
from .repository import (
    UnknownModelError,
    add_audit_events,
    add_rebalance,
    add_rebalances,
    audit_events,
    canonical_weights,
    create_key,
    find_idempotency,
    get_definition,
    get_key,
    get_rebalance,
    key_for_secret,
    latest_rebalance,
    list_keys,
    list_rebalances,
    model_definitions,
    publish_definition,
    revoke_key,
    rotate_key,
    save_idempotency,
    secret_hash,
    touch_keys,
    weights_hash,
    worker_as_of_dates,
)
from .schema import (
    ApiKey,
    AuditEvent,
    Base,
    IdempotencyRecord,
    ModelDefinition,
    Rebalance,
    Shelf,
    Variant,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from .variants import (
    add_variant,
    base_model_id,
    buildable_variants,
    get_shelf,
    get_variant,
    is_variant_id,
    list_shelves,
    list_variants,
    live_variant_count,
    new_variant_id,
    put_shelf,
    retire_variant,
    set_variant_status,
)

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "IdempotencyRecord",
    "ModelDefinition",
    "Rebalance",
    "Shelf",
    "Variant",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
    "add_variant",
    "base_model_id",
    "buildable_variants",
    "get_shelf",
    "get_variant",
    "is_variant_id",
    "list_shelves",
    "list_variants",
    "live_variant_count",
    "new_variant_id",
    "put_shelf",
    "retire_variant",
    "set_variant_status",
    "UnknownModelError",
    "add_audit_events",
    "add_rebalance",
    "add_rebalances",
    "audit_events",
    "canonical_weights",
    "create_key",
    "find_idempotency",
    "get_definition",
    "get_key",
    "get_rebalance",
    "key_for_secret",
    "latest_rebalance",
    "list_keys",
    "list_rebalances",
    "make_engine",
    "model_definitions",
    "publish_definition",
    "revoke_key",
    "rotate_key",
    "save_idempotency",
    "secret_hash",
    "session_factory",
    "touch_keys",
    "upgrade",
    "weights_hash",
    "worker_as_of_dates",
]
