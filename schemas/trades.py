"""Schemas of the trades between two versions of a model."""

from marshmallow import Schema, fields, validate

from .common import StrictSchema
from .models import MAX_VERSION

ACTIONS = ("buy", "sell")


class TradesQuerySchema(StrictSchema):
    """The two versions compared; ``from`` and ``to`` are the query parameters' names."""

    from_version = fields.Integer(
        data_key="from",
        validate=validate.Range(min=1, max=MAX_VERSION),
        metadata={"description": "The version traded from; by default the one before `to`."},
    )
    to_version = fields.Integer(
        data_key="to",
        validate=validate.Range(min=1, max=MAX_VERSION),
        metadata={"description": "The version traded to; by default the latest."},
    )


class TradeSchema(Schema):
    ticker = fields.String()
    from_weight = fields.Float(metadata={"description": "0 when not held in `from_version`."})
    to_weight = fields.Float(metadata={"description": "0 when not held in `to_version`."})
    change = fields.Float(metadata={"description": "to_weight - from_weight."})
    action = fields.String(validate=validate.OneOf(ACTIONS))


class TradesSchema(Schema):
    model_id = fields.String()
    from_version = fields.Integer(
        allow_none=True, metadata={"description": "null for the first version: all from cash."}
    )
    to_version = fields.Integer()
    trades = fields.List(
        fields.Nested(TradeSchema),
        metadata={"description": "The tickers whose weight changed, by ticker."},
    )
