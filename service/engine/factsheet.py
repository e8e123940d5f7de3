"""The figures of a model's fact sheet, from the same statistics as the performance table.

:func:`factsheet_figures` takes a model's row of the performance table (``assemble_table``: the
figures ``/v1/performance`` serves) and the Agg Index's row, and adds what only a fact sheet
shows, each computed here from the same monthly returns:

- trailing returns of the model, its benchmark ETF (``ModelSpec.benchmark``: AGG or HYG) and the
  Agg Index: the table's cumulative returns, and the 3-year, 5-year and inception-to-date ones
  annualized as well (``(1 + r) ** (12 / months) - 1``);
- calendar-year returns from 2016 (the last year to date), the growth of $10,000 and the rolling
  12-month beta to the Agg (:func:`service.engine.analytics.rolling_beta`);
- the GIPS 3-year annualized standard deviation of monthly returns (sample, times sqrt(12));
- the portfolio held after the as-of month: top holdings, sectors, the weighted duration and
  expense ratio (the weighted bid/ask is the table's ``bid_ask``).

Everything is plain JSON (floats, strings, lists), so the cache and the templates take it as is.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .analytics import ITD_START, PERIOD_COLUMNS, monthly_returns, period_returns, rolling_beta
from .data import MarketData
from .models import AGG_INDEX, ModelSpec

GROWTH_START = 10_000.0
TOP_HOLDINGS = 10
GIPS_MONTHS = 36
ANNUALIZED = {"three_year": 36, "five_year": 60}
"""Periods shown annualized as well as cumulative, by their length in months (and ``itd``)."""


def annualize(cumulative: float | None, months: int) -> float | None:
    """A cumulative return over ``months`` months as an annual rate (None stays None)."""
    if cumulative is None or math.isnan(cumulative):
        return None
    return float((1 + cumulative) ** (12 / months) - 1)


def trailing(row: dict, as_of: pd.Period) -> dict:
    """A row's trailing returns: the table's, plus the annualized 3-, 5-year and ITD ones."""
    months_itd = (as_of - ITD_START).n + 1
    out = {column: clean(row.get(column)) for column in PERIOD_COLUMNS}
    for column, months in {**ANNUALIZED, "itd": months_itd}.items():
        out[f"{column}_annualized"] = annualize(out[column], months)
    return out


def calendar_years(monthly: pd.Series, as_of: pd.Period) -> list[dict]:
    """``[{"year", "return", "partial"}]`` from 2016 to the as-of year (to date)."""
    years = []
    for year in range(ITD_START.year, as_of.year + 1):
        window = monthly[f"{year}-01" : f"{year}-12"][:as_of].dropna()
        value = float(np.prod(1 + window) - 1) if len(window) else None
        years.append({"year": year, "return": value, "partial": year == as_of.year})
    return years


def growth(monthly: pd.Series) -> list[float]:
    """The value of $10,000 at each month end, starting the month before the first return."""
    return [GROWTH_START, *(GROWTH_START * np.cumprod(1 + monthly.to_numpy())).tolist()]


def clean(value) -> float | None:
    """A figure as JSON holds it: None for a missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


LISTED_TICKERS = 12
"""A universe of named tickers up to this many is listed on the fact sheet (a variant's may
name hundreds)."""


def universe_text(spec: ModelSpec, securities: pd.DataFrame) -> str:
    """The universe in a line: its tickers, or its rules and how many ETFs pass them."""
    universe = spec.universe
    if universe.tickers is not None and len(universe.tickers) > LISTED_TICKERS:
        return f"{len(universe.tickers)} ETFs and funds named by the licensee"
    if universe.tickers is not None:
        return f"{len(universe.tickers)} benchmark ETFs: {', '.join(universe.tickers)}"
    count = len(universe.select(securities))
    rules = ["investment-grade" if universe.ig_only else "fixed-income"]
    if universe.sectors is not None:
        rules.append("of the Agg Index's sectors")
    if universe.min_aum:
        rules.append(f"over ${universe.min_aum / 1e6:,.0f}M of assets")
    return f"{count} {rules[0]} ETFs {' '.join(rules[1:])}".strip()


def portfolio(holdings: pd.Series, securities: pd.DataFrame) -> dict:
    """The portfolio's top holdings, sectors and weighted characteristics."""
    weights = holdings[holdings > 0].sort_values(ascending=False)
    facts = securities.loc[weights.index]
    sectors = weights.groupby(facts["sector"]).sum().sort_values(ascending=False)
    return {
        "holdings_count": int(len(weights)),
        "top_holdings": [
            {"ticker": t, "name": str(facts.at[t, "name"]), "weight": float(w)}
            for t, w in weights.head(TOP_HOLDINGS).items()
        ],
        "sectors": [{"sector": str(s), "weight": float(w)} for s, w in sectors.items()],
        "duration": float(weights @ facts["duration"].astype(float)),
        "expense_ratio": float(weights @ facts["expense_ratio"].astype(float)),
    }


def factsheet_figures(
    data: MarketData,
    spec: ModelSpec,
    returns: pd.Series,
    holdings: pd.Series,
    row: dict,
    agg_row: dict,
    as_of: pd.Period,
) -> dict:
    """Every figure of a model's fact sheet as of a month.

    Parameters
    ----------
    data : MarketData
        The data the backtest ran on (at least to the end of ``as_of``).
    spec : ModelSpec
        The model.
    returns : pd.Series
        The model's monthly net returns, by month, to ``as_of`` at least.
    holdings : pd.Series
        The weights of the portfolio built at the end of ``as_of``, by ticker.
    row, agg_row : dict
        The model's and the Agg Index's rows of the performance table as of ``as_of``.
    as_of : pd.Period
        The month of the fact sheet.
    """
    returns = returns[ITD_START:as_of]
    indices = monthly_returns(data.prices[[spec.benchmark, AGG_INDEX]])[ITD_START:as_of]
    benchmark, agg = indices[spec.benchmark], indices[AGG_INDEX]
    benchmark_row = period_returns(benchmark, as_of)
    months = [str(m) for m in returns.index]
    beta = rolling_beta(returns, agg)
    last_36 = returns.iloc[-GIPS_MONTHS:]
    statistics = {k: clean(v) for k, v in row.items() if k not in ("model_id", "name", "group")}
    return {
        "model_id": spec.id,
        "name": spec.name,
        "description": spec.description,
        "as_of": str(as_of),
        "sample": bool(data.metadata.get("sample", False)),
        "facts": {
            "benchmark": spec.benchmark,
            "benchmark_name": str(data.securities.at[spec.benchmark, "name"]),
            "risk_multiplier": spec.risk_multiplier,
            "universe": universe_text(spec, data.securities),
            "annual_fee": spec.annual_fee,
            "algorithm": spec.algorithm,
            "inception": str(ITD_START),
        },
        "trailing": {
            "model": trailing(row, as_of),
            "benchmark": trailing(benchmark_row, as_of),
            "agg": trailing(agg_row, as_of),
        },
        "calendar": {
            "model": calendar_years(returns, as_of),
            "agg": calendar_years(agg, as_of),
        },
        "growth": {
            "months": [str(ITD_START - 1), *months],
            "model": growth(returns),
            "benchmark": growth(benchmark.reindex(returns.index).fillna(0.0)),
            "agg": growth(agg.reindex(returns.index).fillna(0.0)),
        },
        "statistics": statistics,
        "agg_positive_months": clean(agg_row.get("positive_months")),
        "three_year_std": clean(last_36.std() * np.sqrt(12))
        if len(last_36) == GIPS_MONTHS
        else None,
        "rolling_beta": {
            "months": [str(m) for m in beta.index],
            "beta": [float(b) for b in beta],
        },
        "portfolio": portfolio(holdings, data.securities),
    }
