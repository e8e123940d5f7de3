"""Performance statistics of monthly return series, as the firm's newsletter reports them.

Every statistic is computed on monthly returns (month-end to month-end total return).

- ``month``, ``ytd``, ``one_year``, ``three_year``, ``five_year``, ``itd``: cumulative returns
  over the as-of month; January to the as-of month; the last 12, 36 and 60 months; and from
  January 2016 (the backtests' inception) to the as-of month. Not annualized. Empty when the
  series does not cover the whole period.
- ``alpha_agg``: 12 times the intercept of the least-squares regression of the monthly returns
  on the Agg Index's, over the inception-to-date window (annualized arithmetic alpha).
- ``beta_agg``: the slope of that regression; ``corr_agg``: the correlation of the two series.
- ``positive_months``: the share of months with a return above zero.
- ``volatility``: the sample standard deviation of monthly returns times sqrt(12).
- ``sharpe``: the mean monthly return in excess of the risk-free series, times 12, over the
  annualized volatility of the excess returns. The risk-free series is the T-bill ETF (BIL) when
  the data holds it, else zero.
- ``max_drawdown``: the largest fall from a month-end peak of the cumulative value to a later
  month-end, as a negative decimal.
- ``skewness``: the bias-corrected sample skewness of monthly returns.
- ``beta_volatility``: the standard deviation of the rolling 12-month beta to the Agg Index. A
  truly active strategy has a volatile beta; an index hugger's is flat.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ITD_START = pd.Period("2016-01", "M")
PERIOD_COLUMNS = ("month", "ytd", "one_year", "three_year", "five_year", "itd")
STATISTIC_COLUMNS = (
    "alpha_agg",
    "beta_agg",
    "corr_agg",
    "positive_months",
    "volatility",
    "sharpe",
    "max_drawdown",
    "skewness",
    "beta_volatility",
)
ROLLING_BETA_MONTHS = 12


def monthly_returns(levels: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    """Month-end to month-end returns of daily levels, indexed by monthly ``pd.Period``.

    The first month of a series (which has no previous month-end) is left out.
    """
    month_end = levels.groupby(levels.index.to_period("M")).last()
    return month_end.pct_change(fill_method=None).iloc[1:]


def period_months(column: str, as_of: pd.Period) -> tuple[pd.Period, pd.Period]:
    """The first and last month (inclusive) of one of ``PERIOD_COLUMNS`` as of a month."""
    lengths = {"month": 1, "one_year": 12, "three_year": 36, "five_year": 60}
    if column in lengths:
        return as_of - (lengths[column] - 1), as_of
    if column == "ytd":
        return pd.Period(year=as_of.year, month=1, freq="M"), as_of
    if column == "itd":
        return ITD_START, as_of
    raise ValueError(f"unknown period {column!r}")


def period_returns(monthly: pd.Series, as_of: pd.Period) -> dict[str, float]:
    """Cumulative return over each of ``PERIOD_COLUMNS``; NaN where history is too short."""
    result = {}
    for column in PERIOD_COLUMNS:
        first, last = period_months(column, as_of)
        window = monthly[first:last].dropna()
        complete = len(window) == (last - first).n + 1
        result[column] = float(np.prod(1 + window) - 1) if complete else np.nan
    return result


def statistics(
    monthly: pd.Series, agg: pd.Series, risk_free: pd.Series | None = None
) -> dict[str, float]:
    """The statistics of ``STATISTIC_COLUMNS`` over the months both series share.

    Parameters
    ----------
    monthly, agg : pd.Series
        Monthly returns of the strategy and of the Agg Index, indexed by month.
    risk_free : pd.Series, optional
        Monthly risk-free returns; zero when absent.
    """
    r, a = monthly.align(agg, join="inner")
    keep = r.notna() & a.notna()
    r, a = r[keep], a[keep]
    rf = (
        pd.Series(0.0, index=r.index)
        if risk_free is None
        else risk_free.reindex(r.index, fill_value=0.0)
    )
    if len(r) < 3:
        return dict.fromkeys(STATISTIC_COLUMNS, np.nan)
    beta, intercept = np.polyfit(a.to_numpy(), r.to_numpy(), 1)
    excess = r - rf
    volatility = float(r.std() * np.sqrt(12))
    wealth = np.cumprod(1 + r.to_numpy())
    peaks = np.maximum.accumulate(np.concatenate([[1.0], wealth]))[1:]
    return {
        "alpha_agg": float(12 * intercept),
        "beta_agg": float(beta),
        "corr_agg": float(np.corrcoef(r, a)[0, 1]),
        "positive_months": float((r > 0).mean()),
        "volatility": volatility,
        "sharpe": float(excess.mean() * 12 / (excess.std() * np.sqrt(12))),
        "max_drawdown": float(min((wealth / peaks).min() - 1, 0.0)),
        "skewness": float(r.skew()),  # bias-corrected, as scipy.stats.skew(bias=False)
        "beta_volatility": float(rolling_beta(r, a).std()),
    }


def rolling_beta(
    monthly: pd.Series, agg: pd.Series, months: int = ROLLING_BETA_MONTHS
) -> pd.Series:
    """Beta to the Agg over each trailing window of ``months`` months."""
    covariance = monthly.rolling(months).cov(agg)
    return (covariance / agg.rolling(months).var()).dropna()
