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

Every figure is rounded to :data:`FIGURE_DECIMALS` decimals as it is computed, so floating
point's residue never reaches an answer: the Agg Index's alpha to itself is 0, not -5e-18.
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
FIGURE_DECIMALS = 12
"""Decimals kept of each figure: far below any figure's meaning (a return of 1e-12 is a
hundred-millionth of a basis point), far above floating point's residue (some 1e-17)."""


def settled(value: float) -> float:
    """``value`` rounded to :data:`FIGURE_DECIMALS` decimals, never ``-0.0``; NaN stays NaN."""
    return round(value, FIGURE_DECIMALS) + 0.0


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
    months, values = monthly.index.asi8, monthly.to_numpy(dtype=float)
    result = {}
    for column in PERIOD_COLUMNS:
        first, last = period_months(column, as_of)
        window = values[(months >= first.ordinal) & (months <= last.ordinal)]
        window = window[~np.isnan(window)]
        complete = len(window) == (last - first).n + 1
        result[column] = settled(float(np.prod(1 + window) - 1)) if complete else np.nan
    return result


# The statistics below work on numpy arrays, not on pandas Series: the worker computes the
# table of every month since 2016 (``service.engine.performance.monthly_tables``), some 1,700
# rows, and pandas' overhead per call dominated it. With them in numpy (and the as-of cut
# below) the performance documents of two models took 12 s instead of 43 s, in one run on this
# machine beside other work; the values agree with the pandas ones to 1e-15.


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
    index, r, a = r.index, r.to_numpy(dtype=float), a.to_numpy(dtype=float)
    keep = ~(np.isnan(r) | np.isnan(a))
    if keep.sum() < 3:
        return dict.fromkeys(STATISTIC_COLUMNS, np.nan)
    index, r, a = index[keep], r[keep], a[keep]
    rf = 0.0 if risk_free is None else risk_free.reindex(index, fill_value=0.0).to_numpy()
    beta, intercept = np.polyfit(a, r, 1)
    excess = r - rf
    wealth = np.cumprod(1 + r)
    peaks = np.maximum.accumulate(np.concatenate([[1.0], wealth]))[1:]
    betas = window_betas(r, a, ROLLING_BETA_MONTHS)
    betas = betas[~np.isnan(betas)]
    figures = {
        "alpha_agg": float(12 * intercept),
        "beta_agg": float(beta),
        "corr_agg": float(np.corrcoef(r, a)[0, 1]),
        "positive_months": float((r > 0).mean()),
        "volatility": float(r.std(ddof=1) * np.sqrt(12)),
        "sharpe": float(excess.mean() * 12 / (excess.std(ddof=1) * np.sqrt(12))),
        "max_drawdown": float(min((wealth / peaks).min() - 1, 0.0)),
        "skewness": skewness(r),
        "beta_volatility": float(betas.std(ddof=1)) if len(betas) > 1 else np.nan,
    }
    return {name: settled(value) for name, value in figures.items()}


def skewness(values: np.ndarray) -> float:
    """The bias-corrected sample skewness, as ``scipy.stats.skew(values, bias=False)``."""
    n, mean = len(values), values.mean()
    deviations = values - mean
    m2, m3 = (deviations**2).mean(), (deviations**3).mean()
    if n < 3 or m2 <= (np.finfo(float).resolution * mean) ** 2:
        return np.nan  # scipy's answer where the second moment vanishes
    return float(m3 / m2**1.5 * np.sqrt(n * (n - 1)) / (n - 2))


def window_betas(r: np.ndarray, a: np.ndarray, months: int) -> np.ndarray:
    """The slope of ``r`` on ``a`` over each trailing window of ``months``, from the window
    ending at the ``months``-th value on; NaN where a window holds a NaN or ``a`` is flat."""
    if len(r) < months:
        return np.empty(0)
    rw = np.lib.stride_tricks.sliding_window_view(r, months)
    aw = np.lib.stride_tricks.sliding_window_view(a, months)
    ad = aw - aw.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (ad * (rw - rw.mean(axis=1, keepdims=True))).sum(axis=1) / (ad**2).sum(axis=1)


def rolling_beta(
    monthly: pd.Series, agg: pd.Series, months: int = ROLLING_BETA_MONTHS
) -> pd.Series:
    """Beta to the Agg over each trailing window of ``months`` months, indexed by its last."""
    r, a = monthly.align(agg)
    betas = window_betas(r.to_numpy(dtype=float), a.to_numpy(dtype=float), months)
    return pd.Series(betas, index=r.index[months - 1 :]).dropna()
