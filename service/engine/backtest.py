"""Monthly, strictly out-of-sample backtests of the model portfolios.

The portfolio held in month m is built at the last trading day of month m-1 from data up to and
including that day only: the risk model, the signal and the drifted previous holdings all read
``prices.loc[:date]``. It is then held, without trading, to the last trading day of month m.

A month's net return is ``(1 - cost) * (1 + gross) * (1 - annual_fee / 12) - 1``, where ``gross``
is the buy-and-hold return of the new weights over the month and ``cost`` is half the bid/ask
spread paid on every weight traded at the rebalance (from the previous month's drifted weights;
the first rebalance pays to build the portfolio from cash).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from .analytics import ITD_START
from .data import MarketData
from .models import MODELS, ModelSpec
from .optimize import optimize_portfolio
from .risk import RiskModel, estimate_risk
from .signals import SIGNALS
from .threads import one_blas_thread


@dataclass(frozen=True)
class Rebalance:
    """A portfolio built at ``date`` (the last day of data it used).

    ``weights`` is indexed by ticker, holds only positive weights and sums to one; ``bid_ask``
    is the weighted bid/ask spread of those holdings; ``turnover`` is the one-way turnover of
    the rebalance, half the sum of ``|new weight - drifted weight|`` (0.5 for the first, which
    builds the portfolio from cash).
    """

    date: pd.Timestamp
    weights: pd.Series
    status: str
    target_volatility: float
    ex_ante_volatility: float
    bid_ask: float
    turnover: float


@dataclass(frozen=True)
class Backtest:
    """Every rebalance of a model and its monthly net returns (indexed by ``pd.Period``)."""

    model: ModelSpec
    rebalances: list[Rebalance]
    returns: pd.Series

    @property
    def annual_turnover(self) -> float:
        """The annualized one-way turnover: 12 times the mean turnover of the rebalances.

        The first rebalance, which builds the portfolio from cash, is left out: it is a
        purchase, not a trade of the model. NaN with fewer than two rebalances.
        """
        trades = [r.turnover for r in self.rebalances[1:]]
        return 12 * float(np.mean(trades)) if trades else float("nan")


def rebalance_dates(prices: pd.DataFrame, first_month: pd.Period = ITD_START) -> pd.DatetimeIndex:
    """The last trading day of each complete month, from the month before ``first_month``.

    The last month of the data counts only when the data reaches its last business day.
    """
    days = prices.index
    month_ends = days.to_series().groupby(days.to_period("M")).max()
    if days[-1] != pd.offsets.BMonthEnd().rollforward(days[-1]):
        month_ends = month_ends.iloc[:-1]
    return pd.DatetimeIndex(month_ends[month_ends.index >= first_month - 1].to_numpy())


def run_backtests(
    data: MarketData, model_ids: Iterable[str | ModelSpec] | None = None, progress: bool = False
) -> dict[str, Backtest]:
    """Backtest several models over the same dates, sharing one risk model per date.

    Parameters
    ----------
    data : MarketData
        Securities and daily levels. Only data up to each rebalance date is read for it.
    model_ids : iterable of str or ModelSpec, optional
        Ids of ``MODELS``, or definitions of other models (variants of them, say); all of
        ``MODELS`` by default.
    progress : bool
        Show a progress bar on standard error.
    """
    specs = [m if isinstance(m, ModelSpec) else MODELS[m] for m in (model_ids or MODELS)]
    dates = rebalance_dates(data.prices)
    if len(dates) < 2:
        raise ValueError("the data holds no complete month after December 2015 to backtest")
    returns = data.returns()
    etfs = data.holdable.index  # ETFs and funds: one risk model for every model and variant
    books = {spec.id: _Book(spec, data.holdable) for spec in specs}
    with one_blas_thread():
        for date in tqdm(dates, desc="backtest", unit="month", disable=not progress):
            _rebalance_all(data, returns, etfs, date, specs, books)
    return {spec.id: books[spec.id].result() for spec in specs}


def _rebalance_all(data, returns, etfs, date, specs, books) -> None:
    """Estimate the risk model and the signals at ``date`` once, and rebalance every book."""
    levels = data.prices.loc[:date]
    risk = estimate_risk(returns.loc[:date, etfs])
    covered = etfs.get_indexer(risk.tickers)
    signals = {
        name: SIGNALS[name](levels, risk.tickers).to_numpy() for name in {s.signal for s in specs}
    }
    closes = levels[etfs].iloc[-1].to_numpy()
    for book in books.values():
        book.rebalance(date, closes, risk, covered, signals[book.spec.signal])


def run_backtest(data: MarketData, model_id: str, progress: bool = False) -> Backtest:
    """Backtest one model; see ``run_backtests``."""
    return run_backtests(data, [model_id], progress)[model_id]


class _Book:
    """The running state of one model's backtest.

    Weights are dense vectors over the data's ETFs (``etfs``, in order), zero where not held.
    """

    def __init__(self, spec: ModelSpec, etfs: pd.DataFrame) -> None:
        self.spec = spec
        self.tickers = etfs.index
        self.in_universe = self.tickers.isin(spec.universe.select(etfs))
        self.sector_codes, sectors = pd.factorize(etfs["sector"])
        self.sector_caps = np.full(len(sectors), spec.max_sector)
        self.bid_ask = etfs["bid_ask"].to_numpy()
        self.benchmark = (
            self.tickers.get_loc(spec.benchmark) if spec.benchmark in etfs.index else -1
        )
        self.weights = np.zeros(len(etfs))
        self.closes = np.full(len(etfs), np.nan)
        self.multiplier: float | None = None
        self.pending_cost = 0.0
        self.rebalances: list[Rebalance] = []
        self.months: list[pd.Period] = []
        self.returns: list[float] = []

    def rebalance(
        self,
        date: pd.Timestamp,
        closes: np.ndarray,
        risk: RiskModel,
        covered: np.ndarray,
        signal: np.ndarray,
    ) -> None:
        """Close the month ending at ``date`` and build the next portfolio.

        ``closes`` are the ETFs' levels on ``date``; ``risk`` (whose tickers sit at positions
        ``covered`` of the ETFs) and ``signal`` (expected returns of the risk model's tickers)
        were estimated from data up to ``date``.
        """
        drifted = self.close_month(date, closes) if self.rebalances else np.zeros(len(closes))
        self.closes = closes
        eligible = self.in_universe[covered]
        if not eligible.any() or self.benchmark not in covered:
            raise ValueError(
                f"{self.spec.id}: no history for benchmark {self.spec.benchmark} or its universe "
                f"at {date:%Y-%m-%d}"
            )
        positions = covered[eligible]
        local = np.flatnonzero(eligible)
        # A model that may hold every ETF the risk model covers takes its matrix as it is: a
        # copy costs O(n^2) a model-month, 32 MB at 2,000 ETFs.
        everything = len(local) == len(covered)
        covariance = risk.covariance if everything else risk.covariance[np.ix_(local, local)]
        benchmark = int(np.flatnonzero(covered == self.benchmark)[0])
        target = self.spec.risk_multiplier * float(np.sqrt(risk.covariance[benchmark, benchmark]))
        expected = signal[local]
        if self.spec.algorithm == "trend_rule":
            chosen, status = trend_rule(expected, covariance, target), "trend_rule"
        else:
            chosen, status = self.optimized(positions, expected, covariance, target, drifted)
        weights = np.zeros(len(closes))
        weights[positions] = chosen
        traded = np.abs(weights - drifted)
        self.pending_cost = float(traded @ self.bid_ask / 2)
        self.weights = weights
        held = np.flatnonzero(weights > 0)
        self.rebalances.append(
            Rebalance(
                date,
                pd.Series(weights[held], index=self.tickers[held]),
                status,
                target,
                float(np.sqrt(chosen @ covariance @ chosen)),
                float(weights @ self.bid_ask),
                float(traded.sum() / 2),
            )
        )

    def optimized(self, positions, expected, covariance, target, drifted):
        """Weights and status of the optimizer under the model's caps and turnover controls.

        Last month's solution and price of risk warm-start the solver: consecutive months are
        close, so few active-set changes separate them.
        """
        result = optimize_portfolio(
            expected,
            covariance,
            target,
            upper_bounds=self.spec.max_position,
            groups=self.sector_codes[positions],
            group_caps=self.sector_caps,
            previous_weights=drifted[positions],
            turnover_penalty=self.spec.turnover_penalty,
            turnover_cost=self.spec.turnover_cost,
            initial_weights=self.weights[positions],
            initial_multiplier=self.multiplier,
        )
        self.multiplier = result.multiplier
        return result.weights, result.status

    def close_month(self, date: pd.Timestamp, closes: np.ndarray) -> np.ndarray:
        """Record the net return of the month ending at ``date``; return the drifted weights."""
        held = self.weights > 0
        value = np.zeros(len(closes))
        value[held] = self.weights[held] * closes[held] / self.closes[held]
        gross = float(value.sum()) - 1
        net = (1 - self.pending_cost) * (1 + gross) * (1 - self.spec.annual_fee / 12) - 1
        self.months.append(date.to_period("M"))
        self.returns.append(net)
        return value / value.sum()

    def result(self) -> Backtest:
        """The finished backtest. The last rebalance is the portfolio to hold next."""
        returns = pd.Series(
            self.returns, index=pd.PeriodIndex(self.months, freq="M"), name="return"
        )
        return Backtest(self.spec, self.rebalances, returns)


def trend_rule(expected: np.ndarray, covariance: np.ndarray, target: float) -> np.ndarray:
    """The active benchmark indices' transparent rule.

    Hold the ETFs with a positive trend in inverse-volatility weights, then blend them with the
    least volatile ETF of the set so that the ex-ante volatility is at most ``target`` (and equal
    to it when the trend portfolio alone is riskier). With no positive trend, hold the least
    volatile ETF. No leverage: a trend portfolio below the target is held as it is.

    Parameters
    ----------
    expected : np.ndarray
        Trend signal, shape (n,).
    covariance : np.ndarray
        Annualized covariance, shape (n, n).
    target : float
        Target annualized volatility.

    Returns
    -------
    np.ndarray
        Weights, shape (n,), non-negative, summing to one.
    """
    vol = np.sqrt(np.diag(covariance))
    anchor = np.zeros(len(vol))
    anchor[np.argmin(vol)] = 1.0
    risky = np.where(expected > 0, 1 / vol, 0.0)
    if risky.sum() == 0:
        return anchor
    risky /= risky.sum()
    # vol^2 of a*risky + (1-a)*anchor is quadratic in a: p a^2 + q a + r.
    d = risky - anchor
    p, q, r = d @ covariance @ d, 2 * d @ covariance @ anchor, anchor @ covariance @ anchor
    if p + q + r <= target**2:
        return risky
    if r >= target**2:
        return anchor
    share = (-q + np.sqrt(q * q - 4 * p * (r - target**2))) / (2 * p)
    return share * risky + (1 - share) * anchor
