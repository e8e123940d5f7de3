"""Account trade lists: one account or a batch in, the trades that bring it to the model out."""

from marshmallow import Schema, fields, validate

from service.engine.models import BAND_TYPES, MODES

from .common import StrictSchema
from .models import JSONNumber

MAX_HOLDINGS = 500
"""Holdings per account."""
MAX_BATCH = 1000
"""Accounts per batch answered at once; a larger batch runs as a job."""
MAX_JOB = 100_000
"""Accounts per batch job."""
MAX_QUANTITY = 1e9
"""Shares of one holding."""
MAX_CASH = 1e10
"""Cash of an account, in the account's currency."""
MAX_PRICE = 1e6
MAX_ACCOUNT_VALUE = 1e10
"""An account worth more (cash plus holdings at their prices) is refused as a likely unit error."""

TICKER = validate.Length(min=1, max=20)


class AccountHoldingSchema(StrictSchema):
    ticker = fields.String(required=True, validate=TICKER)
    quantity = JSONNumber(
        required=True,
        validate=validate.Range(min=0, max=MAX_QUANTITY),
        metadata={"description": f"Shares held, 0 to {MAX_QUANTITY:g}."},
    )


class TradeOptionsSchema(StrictSchema):
    mode = fields.String(
        load_default="full",
        validate=validate.OneOf(MODES),
        metadata={
            "description": "full: every line to target; band: only the lines outside their "
            "tolerance band, back to target; buy_only: invest cash, never sell; sell_only: "
            "raise cash, never buy."
        },
    )
    band = JSONNumber(
        validate=validate.Range(min=0, max=1),
        metadata={"description": "The tolerance band (default: the model's)."},
    )
    band_type = fields.String(
        validate=validate.OneOf(BAND_TYPES),
        metadata={
            "description": "absolute: in weight (0.02 is two points of the account); relative: "
            "a fraction of the target weight (default: the model's)."
        },
    )
    min_trade = JSONNumber(
        load_default=0.0,
        validate=validate.Range(min=0, max=MAX_CASH),
        metadata={"description": "The smallest trade made, as an amount."},
    )
    cash_target = JSONNumber(
        load_default=0.0,
        validate=validate.Range(min=0, max=1),
        metadata={"description": "The cash the account should keep, a decimal of its value."},
    )
    fractional = fields.Boolean(
        load_default=False, metadata={"description": "Fractional shares; whole shares if false."}
    )
    restricted = fields.List(
        fields.String(validate=TICKER),
        load_default=list,
        validate=validate.Length(max=MAX_HOLDINGS),
        metadata={"description": "Tickers never bought."},
    )
    locked = fields.List(
        fields.String(validate=TICKER),
        load_default=list,
        validate=validate.Length(max=MAX_HOLDINGS),
        metadata={"description": "Tickers never traded."},
    )


class AccountSchema(StrictSchema):
    holdings = fields.List(
        fields.Nested(AccountHoldingSchema),
        load_default=list,
        validate=validate.Length(max=MAX_HOLDINGS),
        metadata={"description": f"At most {MAX_HOLDINGS} holdings, one per ticker."},
    )
    cash = JSONNumber(
        load_default=0.0,
        validate=validate.Range(min=0, max=MAX_CASH),
        metadata={"description": "Cash in the account."},
    )


PRICES = fields.Dict(
    keys=fields.String(validate=TICKER),
    values=JSONNumber(validate=validate.Range(min=0, min_inclusive=False, max=MAX_PRICE)),
    load_default=dict,
    metadata={"description": "Price per ticker; the latest close in our data by default."},
)


OPTIONS = fields.Nested(TradeOptionsSchema, load_default=lambda: TradeOptionsSchema().load({}))


class AccountTradesRequestSchema(AccountSchema):
    """One account to bring to the model's weights in force today."""

    prices = PRICES
    options = OPTIONS


class BatchTradesRequestSchema(StrictSchema):
    """Many accounts, with the same prices and options, to bring to the model."""

    accounts = fields.List(
        fields.Nested(AccountSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_JOB),
        metadata={
            "description": f"1 to {MAX_JOB:,} accounts; over {MAX_BATCH:,}, the batch runs as a "
            "job (202 with its status URL)."
        },
    )
    prices = PRICES
    options = OPTIONS


class AccountTradeSchema(Schema):
    ticker = fields.String()
    action = fields.String(metadata={"description": "buy or sell"})
    quantity = fields.Float(metadata={"description": "Shares, positive."})
    amount = fields.Float(metadata={"description": "Quantity times price, positive."})


class PositionSchema(Schema):
    ticker = fields.String()
    quantity = fields.Float()
    price = fields.Float()
    value = fields.Float()
    weight = fields.Float()
    target = fields.Float()


class DriftSchema(Schema):
    total = fields.Float(metadata={"description": "Sum of |weight - target|, cash included."})
    max = fields.Float(metadata={"description": "The largest |weight - target|."})


class TradeWarningSchema(Schema):
    ticker = fields.String(allow_none=True)
    code = fields.String(
        metadata={"description": "locked, restricted, min_trade, cash, whole_shares, ..."}
    )
    message = fields.String()


class AccountTradesSchema(Schema):
    trades = fields.List(fields.Nested(AccountTradeSchema))
    positions = fields.List(fields.Nested(PositionSchema), metadata={"description": "After."})
    cash = fields.Float(metadata={"description": "Cash after the trades."})
    cash_weight = fields.Float()
    cash_target = fields.Float()
    value = fields.Float()
    drift_before = fields.Nested(DriftSchema)
    drift_after = fields.Nested(DriftSchema)
    warnings = fields.List(fields.Nested(TradeWarningSchema))


class TradeListSchema(AccountTradesSchema):
    model_id = fields.String()
    version = fields.Integer(metadata={"description": "The model version traded to."})


class BatchTradeListSchema(Schema):
    model_id = fields.String()
    version = fields.Integer()
    accounts = fields.List(fields.Nested(AccountTradesSchema))


class JobSchema(Schema):
    """A batch of trade lists run in the background."""

    job_id = fields.String()
    status = fields.String(
        metadata={"description": "queued, started, finished or failed (see RQ's job statuses)"}
    )
    status_url = fields.String()
    result = fields.Nested(
        BatchTradeListSchema, allow_none=True, metadata={"description": "When finished."}
    )
    error = fields.String(allow_none=True, metadata={"description": "When failed."})
