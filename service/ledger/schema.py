"""The ledger's tables, as SQLAlchemy 2 declarative classes.

Every datetime column is a :class:`UTCDateTime`: callers pass timezone-aware datetimes and always
get aware UTC datetimes back, on SQLite (which keeps no time zone) as on PostgreSQL.
JSON columns use the generic ``JSON`` type (``json`` on PostgreSQL, text on SQLite): both keep
the document's text, so floats written by ``repr`` come back bit for bit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SOURCES = ("worker", "push")
DELIVERY_STATES = ("pending", "delivered", "failed", "cancelled")
"""A webhook delivery is ``pending`` until an attempt succeeds (``delivered``), the last attempt
fails (``failed``), or its subscription is disabled, deleted or loses its key (``cancelled``)."""

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A ``timestamp with time zone`` that stores UTC and always returns aware UTC datetimes.

    Naive datetimes are refused on the way in: the ledger cannot know their zone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """The value in UTC; naive (zone dropped) for SQLite, which cannot store a zone."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the ledger needs timezone-aware datetimes")
        in_utc = value.astimezone(UTC)
        return in_utc.replace(tzinfo=None) if dialect.name == "sqlite" else in_utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """The stored value as an aware UTC datetime (a naive one is UTC by construction)."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Secret(str):
    """A secret as the ledger gives it back: a str whose repr hides it, so that a log of result
    rows (SQLAlchemy's, at DEBUG) never shows it."""

    def __repr__(self) -> str:
        return "'<secret>'"


class SecretString(TypeDecorator[str]):
    """A string column of secrets (webhooks' signing secrets, kept to sign with): read back as
    :class:`Secret`. Statements' parameters are never logged (see ``service.ledger.database``)."""

    impl = String(100)
    cache_ok = True

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else Secret(value)


class Base(DeclarativeBase):
    """The declarative base of every ledger table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ModelDefinition(Base):
    """A model portfolio as published: its descriptive fields and the whole definition."""

    __tablename__ = "model_definitions"

    model_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    group: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    benchmark: Mapped[str] = mapped_column(String(100))
    risk_multiplier: Mapped[float] = mapped_column(Float)
    annual_fee: Mapped[float] = mapped_column(Float)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Rebalance(Base):
    """One version of a model's weights: version n+1 supersedes version n from its effective date.

    ``weights`` is the list of ``[ticker, weight]`` pairs sorted by ticker and ``content_hash``
    the sha256 of its canonical JSON (see :func:`service.ledger.repository.weights_hash`).
    """

    __tablename__ = "rebalances"
    __table_args__ = (
        UniqueConstraint("model_id", "version"),
        CheckConstraint("source IN ('worker', 'push')", name="source"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("model_definitions.model_id"))
    version: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[date] = mapped_column(Date)
    effective_date: Mapped[date] = mapped_column(Date)
    weights: Mapped[list[list[Any]]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(20))
    pushed_by: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    """The recipe of a version the worker built (``service.engine.provenance``); None for a
    push, or a version recorded before recipes were."""

    @property
    def weights_by_ticker(self) -> dict[str, float]:
        """The weights as a ``{ticker: weight}`` dict, in ticker order."""
        return {ticker: weight for ticker, weight in self.weights}


class ApiKey(Base):
    """An API key: only the sha256 of its secret is stored, plus a prefix to recognise it.

    ``models`` is None for a key that may read every model; ``rate_limit`` is None for a key
    held to the service's default rate limit (requests per window, see :mod:`service.api.limits`).
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tenant: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    models: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    prefix: Mapped[str] = mapped_column(String(12))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rate_limit: Mapped[int | None] = mapped_column(Integer)


class AuditEvent(Base):
    """Something a key did (or that was done to a model), e.g. ``push`` or ``read_weights``.

    ``count`` is how many times it happened: reads of weights are recorded one row per key,
    model, version and second (``at`` is that second); every other action is a row of its own.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    key_id: Mapped[str | None] = mapped_column(String(40), index=True)
    action: Mapped[str] = mapped_column(String(50))
    model_id: Mapped[str | None] = mapped_column(String(100), index=True)
    version: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class IdempotencyRecord(Base):
    """The response given to a key's request carrying an ``Idempotency-Key``, to replay it."""

    __tablename__ = "idempotency_records"

    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class WebhookSubscription(Base):
    """A tenant's webhook endpoint: where to POST which events, signed with its secret.

    ``key_id`` is the key that owns it: the subscription sees what that key may read, and stops
    when the key is revoked (a rotation hands it to the successor). ``models`` None: every model
    the key may read. ``secret`` is kept only to sign; ``previous_secret`` signs too until
    ``previous_secret_expires_at`` (a rotation's overlap). ``failing_since`` is the first failed
    attempt since the last success (None while the endpoint answers).
    """

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(200), index=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    models: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(SecretString)
    previous_secret: Mapped[str | None] = mapped_column(SecretString)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


VARIANT_STATUSES = ("building", "ready", "failed")


class Shelf(Base):
    """A platform's shelf: the tickers (ETFs and funds) its models may hold, in its order."""

    __tablename__ = "shelves"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tickers: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class WebhookEvent(Base):
    """The outbox: an event to announce, written in the transaction of what it announces.

    ``dispatched_at`` is set when the dispatcher has made its deliveries (one per matching
    subscription); ``subscription_id`` names the one subscription of a ``webhook.test``.
    """

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(50))
    model_id: Mapped[str | None] = mapped_column(String(100))
    version: Mapped[int | None] = mapped_column(Integer)
    subscription_id: Mapped[str | None] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class WebhookDelivery(Base):
    """One event to one subscription; its ``id`` is the ``webhook-id`` of every attempt.

    ``attempts`` lists ``{"at", "status_code", "error", "response"}`` (the receiver's answer
    kept to 1 KB). A job that is sending it holds ``lease_token`` until ``lease_until``: a
    job killed mid-delivery leaves a lease that expires, and the dispatcher sends it again.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        CheckConstraint("state IN ('pending', 'delivered', 'failed', 'cancelled')", name="state"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id"))
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    lease_token: Mapped[str | None] = mapped_column(String(40), index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Variant(Base):
    """A tenant's model derived from one of the nine (``base_model``) by ``settings``.

    Its definition is a :class:`ModelDefinition` of the same id, and its versions are
    :class:`Rebalance` rows like any model's. ``status`` is ``building`` until the worker has
    recorded and published every month, then ``ready`` (or ``failed``, with ``error``); a
    retired variant (``retired_at``) is built no more, its history kept. ``notes`` says what
    the build found, e.g. the months it held the minimum-variance portfolio. ``digest`` is
    the sha256 of what makes it the model it is (its base and its definition, name aside: see
    :func:`service.ledger.variants.variant_digest`); a tenant's live (not retired) variants
    have different digests, so the same variant cannot be created twice, even by two requests
    at once. A variant recorded before digests were kept may have none.
    """

    __tablename__ = "variants"
    __table_args__ = (
        CheckConstraint("status IN ('building', 'ready', 'failed')", name="status"),
        Index(
            "uq_variants_live_digest",
            "tenant",
            "digest",
            unique=True,
            sqlite_where=text("retired_at IS NULL"),
            postgresql_where=text("retired_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(ForeignKey("model_definitions.model_id"), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(200), index=True)
    base_model: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    digest: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="building")
    error: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
