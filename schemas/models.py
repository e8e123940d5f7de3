"""Schemas of models, their weights and their rebalances."""

from marshmallow import Schema, fields, validate

from .common import PageQuerySchema, StrictSchema

FORMAT_NAMES = ("json", "csv", "irebal", "orion")


class UniverseSchema(Schema):
    tickers = fields.List(fields.String(), allow_none=True)
    sectors = fields.List(fields.String(), allow_none=True)
    ig_only = fields.Boolean()
    min_aum = fields.Float()


class ModelSchema(Schema):
    id = fields.String(required=True)
    name = fields.String()
    group = fields.String()
    description = fields.String()
    benchmark = fields.String(metadata={"description": "The ETF whose risk is targeted."})
    risk_multiplier = fields.Float(metadata={"description": "Risk target as a multiple of it."})
    annual_fee = fields.Float(metadata={"description": "Decimal, taken monthly."})
    universe = fields.Nested(UniverseSchema)
    algorithm = fields.String()
    max_position = fields.Float()
    max_sector = fields.Float()
    latest_version = fields.Integer(allow_none=True)


class ModelListSchema(Schema):
    data = fields.List(fields.Nested(ModelSchema))
    next_cursor = fields.String(allow_none=True)


class WeightsQuerySchema(StrictSchema):
    as_of = fields.Date(
        metadata={"description": "The date the weights are in force on (YYYY-MM-DD); today."}
    )
    format = fields.String(
        validate=validate.OneOf(FORMAT_NAMES),
        metadata={"description": "Overrides the Accept header: " + ", ".join(FORMAT_NAMES)},
    )


class HoldingSchema(Schema):
    ticker = fields.String()
    name = fields.String()
    sector = fields.String()
    weight = fields.Float()


class WeightsSchema(Schema):
    model_id = fields.String()
    name = fields.String()
    description = fields.String()
    version = fields.Integer()
    as_of = fields.Date()
    effective_date = fields.Date()
    hash = fields.String()
    weights = fields.List(fields.Nested(HoldingSchema))


class RebalanceSchema(Schema):
    model_id = fields.String()
    version = fields.Integer()
    as_of = fields.Date()
    effective_date = fields.Date()
    source = fields.String()
    note = fields.String(allow_none=True)
    hash = fields.String(attribute="content_hash")
    created_at = fields.DateTime()
    weights = fields.Dict(
        keys=fields.String(), values=fields.Float(), attribute="weights_by_ticker"
    )


class RebalanceListSchema(Schema):
    data = fields.List(fields.Nested(RebalanceSchema))
    next_cursor = fields.String(allow_none=True)


class RebalancePageQuerySchema(PageQuerySchema):
    pass
