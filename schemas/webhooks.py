"""Schemas of webhook subscriptions and their deliveries."""

from marshmallow import Schema, fields, validate

from .common import PageQuerySchema, StrictSchema

EVENT_TYPES = ("model.rebalanced", "variant.ready", "variant.failed", "webhook.test")
"""The event types a subscription may ask for: the ledger's (``service.ledger.webhooks``, a test
checks they agree), named here so that the schemas, and the OpenAPI document, load no SQLAlchemy."""

MAX_URL = 2000
MAX_DESCRIPTION = 500
MODEL_ID = validate.Length(min=1, max=100)


class WebhookSchema(Schema):
    """A subscription as shown: never its secret."""

    id = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    models = fields.List(
        fields.String(),
        allow_none=True,
        metadata={"description": "null: every model the owning key may read."},
    )
    description = fields.String()
    enabled = fields.Boolean()
    disabled_reason = fields.String(
        allow_none=True, metadata={"description": "Why it was disabled (410, 5 days failing)."}
    )
    key_id = fields.String(metadata={"description": "The key that owns it."})
    previous_secret_expires_at = fields.DateTime(
        allow_none=True,
        metadata={"description": "Until when the secret before the last rotation still signs."},
    )
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(
        metadata={"description": "The signing secret (whsec_...): shown this once, never again."}
    )


class WebhookListSchema(Schema):
    data = fields.List(fields.Nested(WebhookSchema))
    next_cursor = fields.String(allow_none=True)


class WebhookPageQuerySchema(PageQuerySchema):
    pass


def url_field(**kwargs) -> fields.String:
    return fields.String(
        validate=validate.Length(min=1, max=MAX_URL),
        metadata={"description": "An https URL whose host resolves to public addresses only."},
        **kwargs,
    )


def events_field(**kwargs) -> fields.List:
    return fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)),
        validate=validate.Length(min=1),
        metadata={
            "description": "The event types to receive: "
            + ", ".join(EVENT_TYPES)
            + ". One that no model of `models` can still have is a 422 naming it "
            "(`events[i]`): model.rebalanced needs one of the nine models or a variant building "
            "or ready; variant.ready one of the nine (its variants to come) or a variant "
            "building; variant.failed one of the nine or a variant building or ready (a retired "
            "variant has none); webhook.test goes to any subscription."
        },
        **kwargs,
    )


def models_field(**kwargs) -> fields.List:
    return fields.List(
        fields.String(validate=MODEL_ID),
        allow_none=True,
        validate=validate.Length(min=1, error="Give null for every model, or at least one."),
        metadata={
            "description": "The models whose events to receive, each one the key may read "
            "(one of the nine it is licensed for, or a variant of its tenant); null for every "
            "model. A model of the nine matches its variants' events too, variant.ready and "
            "variant.failed included: a variant's id is made when it is created, so name its "
            "base model to hear of the variants to come."
        },
        **kwargs,
    )


def description_field(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(max=MAX_DESCRIPTION), **kwargs)


class WebhookCreateSchema(StrictSchema):
    url = url_field(required=True)
    events = events_field(required=True)
    models = models_field(load_default=None)
    description = description_field(load_default="")


class WebhookUpdateSchema(StrictSchema):
    url = url_field()
    events = events_field()
    models = models_field()
    description = description_field()
    enabled = fields.Boolean(
        metadata={"description": "false stops deliveries (pending ones are cancelled)."}
    )


class WebhookSecretSchema(Schema):
    id = fields.String()
    secret = fields.String(metadata={"description": "The new secret: shown this once."})
    previous_secret_expires_at = fields.DateTime(
        metadata={"description": "Deliveries are signed with the old secret too until then."}
    )


class AttemptSchema(Schema):
    at = fields.String(metadata={"description": "When it was made (ISO 8601, UTC)."})
    status_code = fields.Integer(allow_none=True, metadata={"description": "null: no answer."})
    error = fields.String(allow_none=True, metadata={"description": "Why there was no answer."})
    response = fields.String(
        allow_none=True, metadata={"description": "The receiver's answer, its first 1 KB."}
    )


class EventSchema(Schema):
    type = fields.String()
    timestamp = fields.String()
    data = fields.Dict()


class DeliverySchema(Schema):
    id = fields.String(metadata={"description": "The webhook-id header of every attempt."})
    webhook_id = fields.String(attribute="subscription_id")
    type = fields.String()
    event = fields.Nested(EventSchema, metadata={"description": "The body sent."})
    state = fields.String(metadata={"description": "pending, delivered, failed or cancelled"})
    attempts = fields.List(fields.Nested(AttemptSchema))
    next_attempt_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class DeliveryListSchema(Schema):
    data = fields.List(fields.Nested(DeliverySchema))
    next_cursor = fields.String(allow_none=True)


class DeliveryPageQuerySchema(PageQuerySchema):
    pass
