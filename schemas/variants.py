"""Schemas of licensees' variants: a request to derive one from a model, and a variant as shown."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from service.engine.models import MODELS
from service.engine.variants import MAX_ANNUAL_FEE, RISK_MULTIPLIER_RANGE

from .common import StrictSchema, Ticker

MAX_TEXT = 200
MAX_TICKERS = 1000
SECTOR = fields.String(validate=validate.Length(min=1, max=MAX_TEXT))


class VariantCreateSchema(StrictSchema):
    base_model = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_TEXT),
        metadata={
            "description": "One of the nine models, which the key may read: " + ", ".join(MODELS)
        },
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT))
    tenant = fields.String(
        validate=validate.Length(min=1, max=MAX_TEXT),
        metadata={
            "description": "Whose variant: an admin key may name any tenant; by default "
            "(and for any other key) the key's own."
        },
    )
    exclude_tickers = fields.List(
        Ticker(),
        load_default=list,
        validate=validate.Length(max=MAX_TICKERS),
        metadata={"description": "Tickers left out; spaces around them and case are ignored."},
    )
    exclude_sectors = fields.List(
        SECTOR,
        load_default=list,
        validate=validate.Length(max=MAX_TICKERS),
        metadata={"description": "Sectors left out, spelled as the securities name them."},
    )
    substitutions = fields.Dict(
        keys=Ticker(),
        values=Ticker(),
        load_default=dict,
        validate=validate.Length(max=MAX_TICKERS),
        metadata={
            "description": "{from_ticker: to_ticker}: the substitute takes its place (spaces "
            "and case ignored on both sides)."
        },
    )
    shelf = fields.String(
        validate=validate.Length(min=1, max=MAX_TEXT),
        metadata={"description": "A shelf id (GET /v1/shelves): only its tickers may be held."},
    )
    risk_multiplier = fields.Float(
        validate=validate.Range(*RISK_MULTIPLIER_RANGE),
        metadata={"description": "Risk target as a multiple of the base model's benchmark."},
    )
    max_position = fields.Float(validate=validate.Range(0, 1, min_inclusive=False))
    max_sector = fields.Float(validate=validate.Range(0, 1, min_inclusive=False))
    annual_fee = fields.Float(
        validate=validate.Range(0, MAX_ANNUAL_FEE),
        metadata={"description": "Decimal, taken monthly."},
    )

    @validates_schema(pass_original=True)
    def one_substitution_a_ticker(self, data: dict, original, **kwargs) -> None:
        """``{"hyg": ..., "HYG": ...}`` names HYG twice: refused, not one of them dropped."""
        given = original.get("substitutions") if isinstance(original, dict) else None
        seen: dict[str, str] = {}
        for source in given or {}:
            ticker = source.strip().upper()
            if ticker in seen:
                problem = f"{ticker} is replaced twice (as {seen[ticker]!r} and {source!r})."
                raise ValidationError(problem, f"substitutions.{source}")
            seen[ticker] = source


class VariantSchema(Schema):
    id = fields.String()
    tenant = fields.String()
    base_model = fields.String()
    name = fields.String()
    status = fields.String(metadata={"description": "building, ready or failed"})
    error = fields.String(allow_none=True, metadata={"description": "Why it failed."})
    notes = fields.Dict(
        allow_none=True,
        metadata={"description": "What the build found: months built as minimum variance."},
    )
    settings = fields.Dict(metadata={"description": "The customization, as stored."})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    retired_at = fields.DateTime(allow_none=True)


class VariantListSchema(Schema):
    data = fields.List(fields.Nested(VariantSchema))
    next_cursor = fields.String(allow_none=True)
