"""Schemas of platform shelves: the tickers a platform offers."""

from marshmallow import Schema, fields


class ShelfSchema(Schema):
    id = fields.String()
    name = fields.String()
    tickers = fields.List(fields.String(), metadata={"description": "ETFs and funds, in order."})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ShelfListSchema(Schema):
    data = fields.List(fields.Nested(ShelfSchema))
    next_cursor = fields.String(allow_none=True)
