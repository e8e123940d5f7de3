"""Account trade lists: one account or a batch in, the trades that bring it to the model out."""

from marshmallow import Schema, ValidationError, fields, validate

from service.engine.models import BAND_TYPES, MODES

from .common import StrictSchema, Ticker
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
MAX_ACCOUNT_ID = 100
"""Characters of a batch item's ``account_id``."""


class AccountHoldingSchema(StrictSchema):
    ticker = Ticker(
        required=True,
        metadata={"description": "Any case, spaces around it ignored; once per account."},
    )
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
        Ticker(),
        load_default=list,
        validate=validate.Length(max=MAX_HOLDINGS),
        metadata={
            "description": "Tickers never bought, in any case. One neither held nor in the "
            "model is not an error: a not_needed warning names it."
        },
    )
    locked = fields.List(
        Ticker(),
        load_default=list,
        validate=validate.Length(max=MAX_HOLDINGS),
        metadata={
            "description": "Tickers never traded, in any case. One neither held nor in the "
            "model is not an error: a not_needed warning names it."
        },
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


class Prices(fields.Dict):
    """Price per ticker, its tickers read as `Ticker` reads them: two keys naming one ticker
    (``agg`` and ``AGG``) are an error of the second."""

    def _deserialize(self, value, attr, data, **kwargs) -> dict:
        prices = super()._deserialize(value, attr, data, **kwargs)
        if len(prices) < len(value):
            seen: set[str] = set()
            for name in value:
                ticker = self.key_field.deserialize(name)
                if ticker in seen:
                    raise ValidationError({name: [f"{ticker} is priced twice."]})
                seen.add(ticker)
        return prices


PRICES = Prices(
    keys=Ticker(),
    values=JSONNumber(validate=validate.Range(min=0, min_inclusive=False, max=MAX_PRICE)),
    load_default=dict,
    metadata={"description": "Price per ticker; the latest close in our data by default."},
)


OPTIONS = fields.Nested(TradeOptionsSchema, load_default=lambda: TradeOptionsSchema().load({}))


class AccountTradesRequestSchema(AccountSchema):
    """One account to bring to the model's weights in force today."""

    prices = PRICES
    options = OPTIONS


class BatchAccountSchema(AccountSchema):
    account_id = fields.String(
        validate=validate.Length(min=1, max=MAX_ACCOUNT_ID),
        metadata={
            "description": f"The platform's own name for the account, 1 to {MAX_ACCOUNT_ID} "
            "characters, echoed in its answer (optional: answers are in the batch's order)."
        },
    )


class BatchTradesRequestSchema(StrictSchema):
    """Many accounts, with the same prices and options, to bring to the model."""

    accounts = fields.List(
        fields.Nested(BatchAccountSchema),
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
        metadata={
            "description": "locked, restricted, min_trade, cash, whole_shares, empty_account, "
            "or not_needed (a restricted or locked ticker neither held nor in the model)"
        }
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


class BatchAccountTradesSchema(AccountTradesSchema):
    account_id = fields.String(metadata={"description": "The account_id sent, if any."})


class BatchTradeListSchema(Schema):
    model_id = fields.String()
    version = fields.Integer()
    accounts = fields.List(
        fields.Nested(BatchAccountTradesSchema),
        metadata={"description": "One answer per account, in the batch's order."},
    )


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
