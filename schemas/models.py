"""Schemas of models, their weights and their rebalances."""

import math

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from service.formats import without_residue

from .common import PageQuerySchema, StrictSchema, Ticker
from .variants import VariantSchema

FORMAT_NAMES = ("json", "csv", "irebal", "orion")
MAX_VERSION = 2**31 - 1
"""The largest version the ledger can hold (a 32-bit INTEGER column): a larger one asked for is
refused before it reaches the database, which would fail on it."""


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
    variant = fields.Nested(
        VariantSchema,
        allow_none=True,
        metadata={"description": "A licensee's variant: its base model, status and settings."},
    )


class ModelListSchema(Schema):
    data = fields.List(fields.Nested(ModelSchema))
    next_cursor = fields.String(allow_none=True)


class WeightsQuerySchema(StrictSchema):
    as_of = fields.Date(
        metadata={"description": "The date the weights are in force on (YYYY-MM-DD); today."}
    )
    format = fields.String(
        validate=validate.OneOf(FORMAT_NAMES),
        metadata={
            "description": "Overrides the Accept header (any case): " + ", ".join(FORMAT_NAMES)
        },
    )

    @pre_load
    def format_in_any_case(self, data, **kwargs):
        if isinstance(data.get("format"), str):
            return {**data, "format": data["format"].lower()}
        return data


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


class OrionSecuritySchema(Schema):
    ticker = fields.String()
    target_percent = fields.Float(data_key="targetPercent", metadata={"description": "0 to 100."})
    lower_tolerance = fields.Float(data_key="lowerModelTolerancePercent")
    upper_tolerance = fields.Float(data_key="upperModelTolerancePercent")


class OrionModelSchema(Schema):
    """The weights in Orion Eclipse's ticker-based model import format (``format=orion``).

    Only documents the answer (``service.formats.render.render_orion`` writes it)."""

    name = fields.String()
    description = fields.String()
    external_id = fields.String(data_key="externalId", metadata={"description": "The model id."})
    version = fields.Integer()
    securities = fields.List(fields.Nested(OrionSecuritySchema))


class HeldWeights(fields.Dict):
    """A version's ``{ticker: weight}`` less the weights that are floating point's residue
    (under 1e-12, no position), as every format shows it (``service.formats.render``)."""

    def _serialize(self, value, attr, obj, **kwargs):
        held = None if value is None else without_residue(value)
        return super()._serialize(held, attr, obj, **kwargs)


class RebalanceSchema(Schema):
    model_id = fields.String()
    version = fields.Integer()
    as_of = fields.Date()
    effective_date = fields.Date()
    source = fields.String()
    note = fields.String(allow_none=True)
    hash = fields.String(attribute="content_hash")
    created_at = fields.DateTime()
    weights = HeldWeights(
        keys=fields.String(),
        values=fields.Float(),
        attribute="weights_by_ticker",
        metadata={"description": "{ticker: weight}, as in every format (no residue weights)."},
    )


class RebalanceDetailSchema(RebalanceSchema):
    provenance = fields.Dict(
        allow_none=True,
        metadata={
            "description": "The recipe of a version the worker built: the definition and its "
            "hash, the hash of the data up to as_of, the engine's version and the parameters of "
            "the risk model and the signal (`plusalpha reproduce` rebuilds it). Null for a push."
        },
    )


class RebalanceListSchema(Schema):
    data = fields.List(fields.Nested(RebalanceSchema))
    next_cursor = fields.String(allow_none=True)


class RebalancePageQuerySchema(PageQuerySchema):
    pass


# --- pushing a version ------------------------------------------------------------------------

#: The ledger's ``idempotency_records.idempotency_key`` column is VARCHAR(200): a longer key
#: would fail on PostgreSQL, so the API refuses it up front.
IDEMPOTENCY_KEY_MAX = 200
#: Visible ASCII, with inner spaces allowed (none leading or trailing); the length is checked
#: apart, so that an empty value gets one message.
PRINTABLE = r"^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$"
MAX_NOTE = 1000
#: Weights per push: more than the universe holds (400+ ETFs), so a real push never meets it;
#: it bounds what a request can make the service validate.
MAX_WEIGHTS = 1000
#: How far from 1 pushed weights may sum; the API rescales them to sum to 1 before recording,
#: since the published formats need a sum within 1e-9.
WEIGHT_SUM_TOLERANCE = 1e-6


class FullMatch(validate.Regexp):
    """A Regexp that must match the whole value (``$`` alone lets a final newline through)."""

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class IdempotencyHeaderSchema(Schema):
    """The ``Idempotency-Key`` header (other headers are ignored)."""

    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        required=True,
        validate=[
            validate.Length(min=1, max=IDEMPOTENCY_KEY_MAX),
            FullMatch(PRINTABLE, error="Must be printable ASCII characters."),
        ],
        metadata={
            "description": f"1 to {IDEMPOTENCY_KEY_MAX} printable characters, unique per push; "
            "a retry with the same key and body replays the first answer."
        },
    )


class JSONNumber(fields.Float):
    """A finite JSON number: strings such as ``"0.5"`` are refused, as are NaN and Infinity."""

    def _validated(self, value):
        if isinstance(value, str):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class PushWeightSchema(StrictSchema):
    ticker = Ticker(
        required=True,
        metadata={"description": "Any case, spaces around it ignored; once per push."},
    )
    weight = JSONNumber(
        required=True,
        validate=validate.Range(min=0, max=1),
        metadata={"description": "A decimal in [0, 1]."},
    )


class PushSchema(StrictSchema):
    """A version pushed by a key: its weights, in force from ``effective_date``."""

    effective_date = fields.Date(
        required=True,
        metadata={"description": "The first day in force (YYYY-MM-DD); not before the latest's."},
    )
    weights = fields.List(
        fields.Nested(PushWeightSchema),
        required=True,
        validate=validate.Length(
            min=1, max=MAX_WEIGHTS, error=f"From 1 to {MAX_WEIGHTS:,} weights are required."
        ),
        metadata={
            "description": f"1 to {MAX_WEIGHTS:,} distinct ETF tickers, weights summing to 1."
        },
    )
    note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=MAX_NOTE))

    @validates_schema
    def distinct_tickers_summing_to_one(self, data: dict, **_kwargs) -> None:
        seen: set[str] = set()
        duplicates = {}
        for index, item in enumerate(data["weights"]):
            if item["ticker"] in seen:
                duplicates[index] = {"ticker": [f"Duplicate ticker {item['ticker']}."]}
            seen.add(item["ticker"])
        if duplicates:
            raise ValidationError({"weights": duplicates})
        total = math.fsum(item["weight"] for item in data["weights"])
        if abs(total - 1) > WEIGHT_SUM_TOLERANCE:
            raise ValidationError(
                f"The weights sum to {total!r}, not 1 (within {WEIGHT_SUM_TOLERANCE}).",
                field_name="weights",
            )
