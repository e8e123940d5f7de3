"""The risk model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from service.engine.risk import constant_correlation_shrinkage, estimate_risk


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


def test_shrinkage_fades_as_observations_grow():
    few = constant_correlation_shrinkage(factor_returns(40, 30))[1]
    many = constant_correlation_shrinkage(factor_returns(4000, 30))[1]
    assert many < few


def test_variances_are_kept_and_annualized():
    x = factor_returns(252, 10)
    returns = pd.DataFrame(x, columns=[f"T{i}" for i in range(10)])
    model = estimate_risk(returns)
    sample_var = x.var(axis=0) * 252
    np.testing.assert_allclose(np.diag(model.covariance), sample_var, rtol=1e-12)
    assert model.volatility("T3") == pytest.approx(np.sqrt(sample_var[3]))


def test_series_without_a_full_window_are_left_out():
    x = factor_returns(300, 4)
    returns = pd.DataFrame(x, columns=["A", "B", "C", "D"])
    returns.loc[:100, "C"] = np.nan  # starts 199 days before the end: too short
    model = estimate_risk(returns, window=252)
    assert list(model.tickers) == ["A", "B", "D"]
    tickers, covariance = model.subset(["D", "C", "A"])
    assert list(tickers) == ["A", "D"] and covariance.shape == (2, 2)
