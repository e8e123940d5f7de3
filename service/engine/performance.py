"""The performance table: every model and passive benchmark, as of a month.

Rows are the nine models (group ``model`` or ``active_benchmark``) and the seven passive
benchmark indices (group ``passive_benchmark``); columns are ``TABLE_COLUMNS``. The definitions
of the statistics are in ``service.engine.analytics``; ``turnover`` is the annualized one-way
turnover of a model's rebalances (see ``Backtest.annual_turnover``), empty for an index.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .analytics import (
    ITD_START,
    PERIOD_COLUMNS,
    STATISTIC_COLUMNS,
    monthly_returns,
    period_returns,
    statistics,
)
from .backtest import Backtest, rebalance_dates, run_backtests
from .data import MarketData
from .models import AGG_INDEX, PASSIVE_BENCHMARKS

SEED_COLUMNS = (
    "model_id",
    "name",
    "group",
    *PERIOD_COLUMNS,
    "alpha_agg",
    "beta_agg",
    "corr_agg",
    "bid_ask",
)
TABLE_COLUMNS = (
    *SEED_COLUMNS,
    *(c for c in STATISTIC_COLUMNS if c not in SEED_COLUMNS),
    "turnover",
)
RISK_FREE = "BIL"


def last_complete_month(data: MarketData) -> pd.Period:
    """The latest month whose last trading day is in the data."""
    return rebalance_dates(data.prices)[-1].to_period("M")


def truncate(data: MarketData, as_of: pd.Period) -> MarketData:
    """The data up to the end of ``as_of``: what was known then."""
    prices = data.prices.loc[: as_of.end_time]
    return MarketData(securities=data.securities, prices=prices, metadata=data.metadata)


def performance_table(
    data: MarketData, as_of: pd.Period | None = None, progress: bool = False
) -> pd.DataFrame:
    """The table of ``TABLE_COLUMNS``, one row per model and passive benchmark.

    Parameters
    ----------
    data : MarketData
        The full history; it is cut at the end of ``as_of`` before anything is computed.
    as_of : pd.Period, optional
        The month of the table; the last complete month of the data by default.
    progress : bool
        Show a progress bar on standard error.
    """
    latest = last_complete_month(data)
    as_of = latest if as_of is None else as_of
    if as_of > latest or as_of < ITD_START:
        raise ValueError(
            f"as-of month {as_of} is outside the data: it must be between {ITD_START} and {latest}"
        )
    data = truncate(data, as_of)
    backtests = run_backtests(data, progress=progress)
    return assemble_table(data, backtests, as_of)


def assemble_table(data: MarketData, backtests: dict[str, Backtest], as_of: pd.Period):
    """The table from finished backtests and the data they ran on (cut at ``as_of``)."""
    tickers = {AGG_INDEX, RISK_FREE, *(b.ticker for b in PASSIVE_BENCHMARKS.values())}
    index_returns = monthly_returns(data.prices[data.prices.columns.intersection(list(tickers))])
    agg = index_returns[AGG_INDEX][ITD_START:as_of]
    risk_free = index_returns.get(RISK_FREE)
    rows = [backtest_row(backtest, agg, risk_free, as_of) for backtest in backtests.values()]
    for benchmark in PASSIVE_BENCHMARKS.values():
        monthly = index_returns[benchmark.ticker][ITD_START:as_of]
        rows.append(
            {
                "model_id": benchmark.id,
                "name": benchmark.name,
                "group": "passive_benchmark",
                **period_returns(monthly, as_of),
                **statistics(monthly, agg, risk_free),
                "bid_ask": np.nan,
                "turnover": np.nan,
            }
        )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def backtest_row(
    backtest: Backtest, agg: pd.Series, risk_free: pd.Series | None, as_of: pd.Period
) -> dict:
    """One model's row: period returns, statistics, the bid/ask of its current portfolio and
    its annualized one-way turnover (``Backtest.annual_turnover``)."""
    return {
        "model_id": backtest.model.id,
        "name": backtest.model.name,
        "group": backtest.model.group,
        **period_returns(backtest.returns, as_of),
        **statistics(backtest.returns, agg, risk_free),
        "bid_ask": backtest.rebalances[-1].bid_ask,
        "turnover": backtest.annual_turnover,
    }


def as_of_backtest(backtest: Backtest, as_of: pd.Period) -> Backtest:
    """The backtest as it stood at the end of ``as_of``: what a run on the data cut there gives
    (the backtests are out of sample, so cutting the data cuts nothing else)."""
    end = as_of.end_time
    rebalances = [r for r in backtest.rebalances if r.date <= end]
    return Backtest(backtest.model, rebalances, backtest.returns[:as_of])


def monthly_tables(data: MarketData, backtests: dict[str, Backtest], last: pd.Period):
    """``(month, backtests, table)`` for every month from ``ITD_START`` to ``last``: the
    backtests as they stood then and the table the month would have shown
    (``performance_table(data, month)``), from one run of the backtests."""
    for month in pd.period_range(ITD_START, last, freq="M"):
        cut = {model_id: as_of_backtest(b, month) for model_id, b in backtests.items()}
        yield month, cut, assemble_table(truncate(data, month), cut, month)
