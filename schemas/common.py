"""Schemas shared by several resources."""

from marshmallow import RAISE, Schema, fields, validate

MAX_PAGE = 100


class StrictSchema(Schema):
    """Unknown fields are an error, named in the answer."""

    class Meta:
        unknown = RAISE


class PageQuerySchema(StrictSchema):
    cursor = fields.String(metadata={"description": "The next_cursor of the previous page."})
    limit = fields.Integer(
        load_default=20,
        validate=validate.Range(min=1, max=MAX_PAGE),
        metadata={"description": f"Items per page, 1 to {MAX_PAGE}."},
    )


class HealthSchema(Schema):
    status = fields.String(metadata={"description": "ok, or degraded when a component is down"})
    redis = fields.String()
    ledger = fields.String()
