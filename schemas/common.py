"""Schemas shared by several resources."""

from marshmallow import RAISE, Schema, fields, validate

MAX_PAGE = 100
CURSOR_PATTERN = r"^[A-Za-z0-9_.-]{1,200}$"
"""A cursor is an id or a version this API gave: letters, digits, '_', '.', '-'. Anything else
is refused as the query parses, before it reaches the ledger (PostgreSQL refuses a NUL, say)."""


class StrictSchema(Schema):
    """Unknown fields are an error, named in the answer."""

    class Meta:
        unknown = RAISE


class PageQuerySchema(StrictSchema):
    cursor = fields.String(
        validate=validate.Regexp(CURSOR_PATTERN, error="Not a cursor this API gave."),
        metadata={"description": "The next_cursor of the previous page."},
    )
    limit = fields.Integer(
        load_default=20,
        validate=validate.Range(min=1, max=MAX_PAGE),
        metadata={"description": f"Items per page, 1 to {MAX_PAGE}."},
    )


class HealthSchema(Schema):
    status = fields.String(metadata={"description": "ok, or degraded when a component is down"})
    redis = fields.String()
    ledger = fields.String()


class FieldErrorSchema(Schema):
    field = fields.String(metadata={"description": "The input at fault, e.g. weights[0].weight"})
    location = fields.String(data_key="in", metadata={"description": "query, json, path, ..."})
    message = fields.String()


class ProblemSchema(Schema):
    """RFC 9457 problem details, served as application/problem+json."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.List(fields.Nested(FieldErrorSchema))
