"""Schemas of the performance table and of one model's performance.

The figures are those of ``plusalpha performance``, as decimals (see
``service.engine.analytics`` for their definitions); null where the history is too short.
"""

from marshmallow import Schema, fields, validate

from .common import StrictSchema
from .factsheets import as_of_month

PERFORMANCE_FORMATS = ("json", "csv", "html")
GROUPS = ("model", "active_benchmark", "passive_benchmark")


class PerformanceQuerySchema(StrictSchema):
    format = fields.String(
        validate=validate.OneOf(PERFORMANCE_FORMATS),
        metadata={
            "description": "json (the default); csv: the csv of "
            "`plusalpha performance --format csv`, same columns in the same order; html: the "
            "performance page, its rows linking to the fact sheets."
        },
    )
    as_of = as_of_month(
        "The month of the table, YYYY-MM, from 2016-01 to the latest (the default): the table "
        "that month would have shown."
    )


def figure(description: str) -> fields.Float:
    return fields.Float(allow_none=True, metadata={"description": description})


class StatisticsSchema(Schema):
    """A row's figures (cumulative returns are not annualized)."""

    month = figure("Return of the as-of month.")
    ytd = figure("Return from January to the as-of month.")
    one_year = figure("Return over the last 12 months.")
    three_year = figure("Return over the last 36 months.")
    five_year = figure("Return over the last 60 months.")
    itd = figure("Return from January 2016 to the as-of month.")
    alpha_agg = figure("Annualized alpha to the Agg Index.")
    beta_agg = figure("Beta to the Agg Index.")
    corr_agg = figure("Correlation with the Agg Index.")
    bid_ask = figure("Weighted bid/ask spread of the current portfolio; null for an index.")
    positive_months = figure("Share of months with a positive return.")
    volatility = figure("Annualized volatility of monthly returns.")
    sharpe = figure("Sharpe ratio over the T-bill ETF.")
    max_drawdown = figure("Largest fall from a month-end peak, negative.")
    skewness = figure("Skewness of monthly returns.")
    beta_volatility = figure("Standard deviation of the rolling 12-month beta to the Agg.")
    turnover = figure(
        "Annualized one-way turnover: 12 times the mean over rebalances (the first, from cash, "
        "left out) of half the sum of |new weight - drifted weight|; null for an index."
    )


class PerformanceRowSchema(StatisticsSchema):
    model_id = fields.String(metadata={"description": "A model's or a passive benchmark's id."})
    name = fields.String()
    group = fields.String(validate=validate.OneOf(GROUPS))


class PerformanceTableSchema(Schema):
    as_of = fields.String(metadata={"description": "The month of the figures, YYYY-MM."})
    rows = fields.List(
        fields.Nested(PerformanceRowSchema),
        metadata={"description": "The licensed models' rows, then the passive benchmarks'."},
    )


class MonthlyReturnSchema(Schema):
    month = fields.String(metadata={"description": "YYYY-MM"})
    return_ = fields.Float(
        data_key="return", attribute="return", metadata={"description": "Net of fees and costs."}
    )


class ModelPerformanceSchema(Schema):
    model_id = fields.String()
    as_of = fields.String(metadata={"description": "The month of the figures, YYYY-MM."})
    statistics = fields.Nested(StatisticsSchema)
    returns = fields.List(
        fields.Nested(MonthlyReturnSchema),
        metadata={"description": "The backtest's monthly net returns, oldest first."},
    )
