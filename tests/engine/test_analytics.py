"""The statistics, on series whose answers can be worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from service.engine.analytics import (
    monthly_returns,
    period_months,
    period_returns,
    rolling_beta,
    statistics,
)

AS_OF = pd.Period("2024-09", "M")


def months(first: str, values) -> pd.Series:
    return pd.Series(values, index=pd.period_range(first, periods=len(values), freq="M"))


@pytest.mark.parametrize(
    ("column", "first"),
    [
        ("month", "2024-09"),
        ("ytd", "2024-01"),
        ("one_year", "2023-10"),
        ("three_year", "2021-10"),
        ("five_year", "2019-10"),
        ("itd", "2016-01"),
    ],
)
def test_periods_match_the_newsletter_definitions(column, first):
    assert period_months(column, AS_OF) == (pd.Period(first, "M"), AS_OF)


def test_period_returns_compound_and_leave_short_histories_empty():
    series = months("2022-01", [0.01] * 33)  # 2022-01 .. 2024-09
    result = period_returns(series, AS_OF)
    assert result["month"] == pytest.approx(0.01)
    assert result["ytd"] == pytest.approx(1.01**9 - 1)
    assert result["one_year"] == pytest.approx(1.01**12 - 1)
    assert np.isnan(result["three_year"]) and np.isnan(result["itd"])


def test_monthly_returns_use_month_end_levels():
    days = pd.bdate_range("2024-01-01", "2024-03-29")
    levels = pd.Series(np.linspace(100, 110, len(days)), index=days)
    monthly = monthly_returns(levels)
    assert list(monthly.index.astype(str)) == ["2024-02", "2024-03"]
    assert monthly["2024-03"] == pytest.approx(110 / levels["2024-02-29"] - 1)


def test_alpha_beta_and_correlation_of_an_exact_linear_relation():
    agg = months("2016-01", np.random.default_rng(1).normal(0.003, 0.015, 60))
    strategy = 0.002 + 0.5 * agg
    result = statistics(strategy, agg)
    assert result["alpha_agg"] == pytest.approx(0.024)
    assert result["beta_agg"] == pytest.approx(0.5)
    assert result["corr_agg"] == pytest.approx(1.0)
    assert result["beta_volatility"] == pytest.approx(0.0, abs=1e-12)


def test_drawdown_positive_months_volatility_sharpe_skew():
    series = months("2016-01", [0.10, -0.20, 0.05, 0.05, -0.01, 0.02])
    result = statistics(series, months("2016-01", [0.01, -0.01, 0.02, 0.0, 0.01, -0.02]))
    wealth = np.cumprod(1 + series.to_numpy())
    assert result["max_drawdown"] == pytest.approx(wealth[1] / wealth[0] - 1)  # -20% from peak
    assert result["positive_months"] == pytest.approx(4 / 6)
    assert result["volatility"] == pytest.approx(series.std() * np.sqrt(12))
    assert result["sharpe"] == pytest.approx(series.mean() * 12 / result["volatility"])
    assert result["skewness"] == pytest.approx(series.skew())


def test_sharpe_is_in_excess_of_the_risk_free_series():
    agg = months("2016-01", [0.01, -0.01, 0.02, 0.0])
    series = months("2016-01", [0.02, 0.00, 0.01, 0.015])
    risk_free = months("2016-01", [0.001] * 4)
    excess = series - 0.001
    result = statistics(series, agg, risk_free)
    assert result["sharpe"] == pytest.approx(excess.mean() * 12 / (excess.std() * np.sqrt(12)))


def test_rolling_beta_sees_a_change_of_exposure():
    agg = months("2016-01", np.random.default_rng(2).normal(0, 0.01, 48))
    strategy = agg * np.r_[np.full(24, 0.5), np.full(24, 1.5)]
    betas = rolling_beta(strategy, agg)
    assert betas.iloc[0] == pytest.approx(0.5) and betas.iloc[-1] == pytest.approx(1.5)
    assert statistics(strategy, agg)["beta_volatility"] > 0.3
