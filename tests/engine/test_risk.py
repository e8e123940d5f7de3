"""The risk model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from service.engine.risk import (
    PERIOD_DAYS,
    WINDOW_DAYS,
    constant_correlation_shrinkage,
    estimate_risk,
)


def factor_returns(t: int, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    loadings = rng.uniform(-1, 2, (2, n))
    return rng.normal(0, 0.003, (t, 2)) @ loadings + rng.normal(0, 0.002, (t, n))


@pytest.mark.parametrize(("t", "n"), [(60, 5), (252, 40), (252, 300)])
def test_shrunk_covariance_is_symmetric_positive_definite(t, n):
    covariance, shrinkage = constant_correlation_shrinkage(factor_returns(t, n))
    assert 0.0 <= shrinkage <= 1.0
    np.testing.assert_array_equal(covariance, covariance.T)
    assert np.linalg.eigvalsh(covariance).min() > 0


def ledoit_wolf_by_matrices(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit and Wolf's (2004) estimator as their paper writes it, with every n-by-n matrix."""
    t, n = x.shape
    y = x - x.mean(axis=0)
    sample = y.T @ y / t
    std = np.sqrt(np.diag(sample))
    safe = np.where(std > 0, std, 1.0)
    mean_corr = ((sample / np.outer(safe, safe)).sum() - n) / (n * (n - 1))
    target = mean_corr * np.outer(std, std)
    np.fill_diagonal(target, std**2)
    pi_matrix = (y**2).T @ (y**2) / t - sample**2
    theta = (y**3).T @ y / t - np.diag(sample)[:, None] * sample
    ratio = np.outer(1 / safe, std)
    rho_off = mean_corr / 2 * (ratio * theta + ratio.T * theta.T)
    np.fill_diagonal(rho_off, 0.0)
    rho = np.trace(pi_matrix) + rho_off.sum()
    gamma = np.linalg.norm(sample - target, "fro") ** 2
    shrinkage = float(np.clip((pi_matrix.sum() - rho) / gamma / t, 0.0, 1.0))
    return shrinkage * target + (1 - shrinkage) * sample, shrinkage


@pytest.mark.parametrize(
    ("t", "n", "constant"), [(60, 5, False), (104, 40, True), (104, 300, False)]
)
def test_the_estimate_is_the_papers_matrix_formula(t, n, constant):
    x = factor_returns(t, n, seed=n)
    if constant:
        x[:, 3] = 0.001  # a series that never moves: no variance, no correlation
    covariance, shrinkage = constant_correlation_shrinkage(x)
    expected_covariance, expected = ledoit_wolf_by_matrices(x)
    assert 0.0 < shrinkage < 1.0
    assert shrinkage == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(covariance, expected_covariance, rtol=1e-12, atol=1e-18)


def test_shrinkage_fades_as_observations_grow():
    few = constant_correlation_shrinkage(factor_returns(40, 30))[1]
    many = constant_correlation_shrinkage(factor_returns(4000, 30))[1]
    assert many < few


def test_variances_are_those_of_weekly_returns_annualized():
    x = factor_returns(WINDOW_DAYS + 3, 10)
    returns = pd.DataFrame(x, columns=[f"T{i}" for i in range(10)])
    model = estimate_risk(returns)
    last = x[-WINDOW_DAYS:]
    weekly = np.prod(1 + last.reshape(-1, PERIOD_DAYS, 10), axis=1) - 1
    sample_var = weekly.var(axis=0) * 52
    np.testing.assert_allclose(np.diag(model.covariance), sample_var, rtol=1e-12)
    assert list(model.tickers) == list(returns.columns)


def test_autocorrelated_returns_show_their_monthly_risk():
    rng = np.random.default_rng(3)
    shocks = rng.normal(0, 0.001, WINDOW_DAYS + 10)
    trending = np.convolve(shocks, np.ones(5) / 2, mode="valid")[-WINDOW_DAYS:]
    returns = pd.DataFrame({"TREND": trending, "NOISE": shocks[-WINDOW_DAYS:]})
    model = estimate_risk(returns)
    daily_estimate = trending.std() * np.sqrt(252)
    assert np.sqrt(model.covariance[0, 0]) > 1.5 * daily_estimate


def test_series_without_a_full_window_are_left_out():
    x = factor_returns(300, 4)
    returns = pd.DataFrame(x, columns=["A", "B", "C", "D"])
    returns.loc[:100, "C"] = np.nan  # starts 199 days before the end: too short
    model = estimate_risk(returns, window=250)
    assert list(model.tickers) == ["A", "B", "D"]
    assert model.covariance.shape == (3, 3)
