"""Risk model: shrunk covariance of weekly returns over a trailing two-year window.

Weekly rather than daily returns: bond and credit ETF returns are autocorrelated over days
(stale prices, persistent spread moves), so daily returns understate the risk a month-long
holding actually bears, and understate it most for credit. Weeks are compounded from daily
returns in blocks of five trading days ending on the estimation date.

The estimator is Ledoit and Wolf's (2004, "Honey, I shrunk the sample covariance matrix")
shrinkage of the sample covariance towards the constant-correlation matrix, with their optimal
intensity. Bond ETFs are highly correlated with each other, so that target keeps the common
structure that a scaled-identity target would wash out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PERIOD_DAYS = 5
WINDOW_DAYS = 104 * PERIOD_DAYS
PERIODS_PER_YEAR = 52


@dataclass(frozen=True)
class RiskModel:
    """The annualized covariance of the series that have a full window at one date.

    ``tickers`` (n,) labels the rows and columns of ``covariance`` (n, n); ``shrinkage`` is the
    weight given to the constant-correlation target.
    """

    tickers: pd.Index
    covariance: np.ndarray
    shrinkage: float


def estimate_risk(returns: pd.DataFrame, window: int = WINDOW_DAYS) -> RiskModel:
    """Estimate the risk model from the last ``window`` rows of daily returns.

    Parameters
    ----------
    returns : pd.DataFrame
        Daily returns, shape (n_days, n_series), NaN where a series has no data yet. Only rows up
        to the rebalance date may be passed: the estimate uses nothing else.
    window : int
        Trailing days used, a multiple of ``PERIOD_DAYS``. A series with any gap in the window
        is left out.
    """
    recent = returns.iloc[-window:]
    complete = recent.columns[recent.notna().all().to_numpy() & (len(recent) == window)]
    daily = recent[complete].to_numpy()
    weekly = np.prod(1 + daily.reshape(-1, PERIOD_DAYS, len(complete)), axis=1) - 1
    covariance, shrinkage = constant_correlation_shrinkage(weekly)
    return RiskModel(complete, covariance * PERIODS_PER_YEAR, shrinkage)


def constant_correlation_shrinkage(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf shrinkage of the sample covariance towards constant correlation.

    Parameters
    ----------
    x : np.ndarray
        Observations, shape (t, n).

    Returns
    -------
    covariance : np.ndarray
        Shape (n, n), symmetric positive semi-definite.
    shrinkage : float
        The intensity in [0, 1] given to the target.
    """
    t, n = x.shape
    if n == 0:
        return np.zeros((0, 0)), 0.0
    y = x - x.mean(axis=0)
    sample = y.T @ y / t
    std = np.sqrt(np.diag(sample))
    safe = np.where(std > 0, std, 1.0)
    inverse = 1 / safe
    # The mean correlation off the diagonal: the correlations sum to inverse' S inverse.
    mean_corr = (float(inverse @ sample @ inverse) - n) / (n * (n - 1)) if n > 1 else 0.0
    target = mean_corr * np.outer(std, std)
    np.fill_diagonal(target, std**2)

    # Ledoit and Wolf's pi (the sum of the sample covariance's asymptotic variances) and rho
    # (their covariances with the target's), from sums over the observations: the matrices
    # they sum, y2'y2 / t - S^2 and theta = (y^3)'y / t - diag(S) S, would cost two more
    # n-by-n products (tests/engine/test_risk.py checks the sums against the matrices).
    y2 = y * y
    squares = y2.sum(axis=1)  # (t,)
    variances = np.diag(sample)
    fourth = (y2 * y2).sum(axis=0) / t  # (n,): the diagonal of y2'y2 / t
    pi = float(squares @ squares) / t - float((sample * sample).sum())
    trace = float((fourth - variances**2).sum())  # of pi's matrix
    # The sum of ratio * theta over all (i, j), ratio[i, j] = std[j] / std[i], less its diagonal.
    everything = float(((y2 * y) @ inverse) @ (y @ std)) / t
    everything -= float((variances * inverse) @ (sample @ std))
    diagonal = float((inverse * std) @ (fourth - variances**2))
    rho = trace + mean_corr * (everything - diagonal)
    gamma = np.linalg.norm(sample - target, "fro") ** 2
    shrinkage = float(np.clip((pi - rho) / gamma / t, 0.0, 1.0)) if gamma > 0 else 1.0
    covariance = shrinkage * target + (1 - shrinkage) * sample
    return (covariance + covariance.T) / 2, shrinkage
