"""Schemas of API keys: the key as shown, a new key's request and its one-time secret."""

from marshmallow import Schema, fields, validate

from service.api.scopes import SCOPES
from service.engine.models import MODELS

from .common import PageQuerySchema, StrictSchema

MAX_TEXT = 200
MAX_RATE_LIMIT = 2**31 - 1
"""The ledger stores a key's rate limit in a 32-bit integer."""


class KeySchema(Schema):
    """An API key as shown: never its secret, only the secret's first characters."""

    id = fields.String()
    name = fields.String()
    tenant = fields.String()
    scopes = fields.List(fields.String())
    models = fields.List(
        fields.String(), allow_none=True, metadata={"description": "null: every model."}
    )
    prefix = fields.String(metadata={"description": "The secret's first characters."})
    created_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    rate_limit = fields.Integer(
        allow_none=True,
        metadata={"description": "Requests per rate-limit window; null: the service's default."},
    )


class KeyCreatedSchema(KeySchema):
    secret = fields.String(
        metadata={"description": "The key's secret: shown this once, never again."}
    )


class KeyListSchema(Schema):
    data = fields.List(fields.Nested(KeySchema))
    next_cursor = fields.String(allow_none=True)


class KeyPageQuerySchema(PageQuerySchema):
    pass


class KeyCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT))
    tenant = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT))
    scopes = fields.List(
        fields.String(validate=validate.OneOf(SCOPES)),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "What the key may do: " + ", ".join(SCOPES)},
    )
    models = fields.List(
        fields.String(validate=validate.OneOf(sorted(MODELS))),
        required=True,
        allow_none=True,
        validate=validate.Length(min=1, error="Give null for every model, or at least one."),
        metadata={"description": "The models the key may read; null for every model."},
    )
    rate_limit = fields.Integer(
        allow_none=True,
        load_default=None,
        strict=True,
        validate=validate.Range(min=1, max=MAX_RATE_LIMIT),
        metadata={
            "description": "Requests per rate-limit window (PLUSALPHA_RATE_LIMIT_WINDOW); "
            "null or absent: the service's default (PLUSALPHA_RATE_LIMIT)."
        },
    )
