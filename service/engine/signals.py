"""Expected-return signals, from price history only.

A signal is a function ``(levels, tickers) -> pd.Series`` of annualized expected returns,
indexed by ticker, that reads only the levels it is given (the caller passes history up to the
rebalance date). Register new signals in ``SIGNALS`` and name them in a model's definition.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

DAYS_PER_YEAR = 252
TREND_HORIZONS = (63, 126, 252)


def trend(levels: pd.DataFrame, tickers: pd.Index) -> pd.Series:
    """Time-series momentum: the mean annualized return over the last 3, 6 and 12 months.

    In fixed income, trailing total return blends carry (the yield earned) with the direction of
    rates and spreads, both of which persist over months. A series shorter than a horizon uses the
    horizons it has.
    """
    history = levels[tickers]
    last = history.iloc[-1]
    annualized = [
        (last / history.iloc[-1 - days]) ** (DAYS_PER_YEAR / days) - 1
        for days in TREND_HORIZONS
        if len(history) > days
    ]
    return pd.concat(annualized, axis=1).mean(axis=1, skipna=True)


SIGNALS: dict[str, Callable[[pd.DataFrame, pd.Index], pd.Series]] = {"trend": trend}
