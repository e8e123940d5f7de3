"""Backtests: risk targeting, constraints, bookkeeping and no look-ahead, on the sample data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from service.engine.analytics import ITD_START, monthly_returns
from service.engine.backtest import run_backtests, trend_rule
from service.engine.data import MarketData
from service.engine.models import AGG_SECTORS, MODELS


def annual_volatility(monthly: pd.Series) -> float:
    return float(monthly.std() * np.sqrt(12))


def test_risk_targeting_holds_out_of_sample(backtests, sample):
    etf_monthly = monthly_returns(sample.prices[["AGG", "HYG"]])[ITD_START:]
    agg, hyg = (annual_volatility(etf_monthly[t]) for t in ("AGG", "HYG"))
    vol = {m: annual_volatility(b.returns) for m, b in backtests.items()}
    for model in ("agg-plus-baseline", "agg-plus-ig"):
        assert 0.75 * agg <= vol[model] <= 1.25 * agg, (model, vol[model], agg)
    assert 0.75 * hyg <= vol["hy-plus-baseline"] <= 1.25 * hyg, (vol["hy-plus-baseline"], hyg)
    assert vol["agg-plus-aggressive"] > vol["agg-plus-baseline"]
    assert vol["agg-plus-aggressive-diversified"] > vol["agg-plus-baseline"]
    assert vol["hy-plus-aggressive"] > vol["hy-plus-baseline"]


def test_every_rebalance_is_long_only_fully_invested_and_within_caps(backtests, sample):
    sectors = sample.securities["sector"]
    for model_id, backtest in backtests.items():
        spec = MODELS[model_id]
        universe = set(spec.universe.select(sample.securities))
        for rebalance in backtest.rebalances:
            weights = rebalance.weights
            assert (weights >= 0).all(), (model_id, rebalance.date)
            assert abs(weights.sum() - 1) <= 1e-9, (model_id, rebalance.date)
            assert set(weights.index) <= universe, (model_id, rebalance.date)
            if spec.algorithm == "optimizer":
                assert weights.max() <= spec.max_position + 1e-12
                assert weights.groupby(sectors.reindex(weights.index)).sum().max() <= (
                    spec.max_sector + 1e-12
                )


def test_agg_plus_ig_holds_investment_grade_agg_sectors_only(backtests, sample):
    for rebalance in backtests["agg-plus-ig"].rebalances:
        held = sample.securities.loc[rebalance.weights.index]
        assert held["sector"].isin(AGG_SECTORS).all() and held["ig"].all(), rebalance.date


def test_monthly_schedule_from_january_2016(backtests):
    for backtest in backtests.values():
        dates = [r.date for r in backtest.rebalances]
        assert dates[0] == pd.Timestamp("2015-12-31")
        assert dates[-1] == pd.Timestamp("2024-09-30")
        assert all(d == d + pd.offsets.BMonthEnd(0) for d in dates)
        assert backtest.returns.index[0] == ITD_START
        assert str(backtest.returns.index[-1]) == "2024-09"
        assert len(backtest.returns) == len(dates) - 1


def test_a_month_return_is_the_held_weights_net_of_costs_and_fee(backtests, sample):
    backtest = backtests["agg-plus-baseline"]
    spec = MODELS["agg-plus-baseline"]
    before, built = backtest.rebalances[50], backtest.rebalances[51]
    end = backtest.rebalances[52].date
    prices = sample.prices
    held_growth = prices.loc[before.date : built.date, before.weights.index].iloc[[0, -1]]
    drifted = before.weights * (held_growth.iloc[1] / held_growth.iloc[0])
    drifted /= drifted.sum()
    traded = built.weights.sub(drifted, fill_value=0).abs()
    cost = (traded * sample.securities["bid_ask"].reindex(traded.index)).sum() / 2
    growth = prices.loc[end, built.weights.index] / prices.loc[built.date, built.weights.index]
    gross = (built.weights * growth).sum() - 1
    expected = (1 - cost) * (1 + gross) * (1 - spec.annual_fee / 12) - 1
    assert backtest.returns[end.to_period("M")] == pytest.approx(expected, rel=1e-12)


def test_turnover_is_half_the_traded_weight_from_the_drifted_portfolio(backtests, sample):
    backtest = backtests["agg-plus-baseline"]
    before, built = backtest.rebalances[60], backtest.rebalances[61]
    held = sample.prices.loc[before.date : built.date, before.weights.index].iloc[[0, -1]]
    drifted = before.weights * (held.iloc[1] / held.iloc[0])
    drifted /= drifted.sum()
    traded = built.weights.sub(drifted, fill_value=0).abs().sum() / 2
    assert built.turnover == pytest.approx(traded, rel=1e-12)
    assert backtest.rebalances[0].turnover == pytest.approx(0.5)  # built from cash
    later = [r.turnover for r in backtest.rebalances[1:]]
    assert backtest.annual_turnover == pytest.approx(12 * np.mean(later), rel=1e-12)


def test_every_optimizer_model_trades_at_most_three_times_a_year(backtests):
    for model_id, backtest in backtests.items():
        if MODELS[model_id].algorithm == "optimizer":
            assert 0 < backtest.annual_turnover <= 3.0, (model_id, backtest.annual_turnover)


def test_no_look_ahead_changing_the_future_leaves_the_past_bit_for_bit(
    small_backtests, small_sample
):
    cutoff = pd.Timestamp("2019-06-28")
    future = small_sample.prices.index > cutoff
    rng = np.random.default_rng(7)
    shock = np.exp(np.cumsum(rng.normal(0, 0.01, (future.sum(), small_sample.prices.shape[1])), 0))
    prices = small_sample.prices.copy()
    prices.loc[future] = prices.loc[future] * shock
    perturbed = run_backtests(MarketData(small_sample.securities, prices, small_sample.metadata))
    for model_id, original in small_backtests.items():
        changed = perturbed[model_id]
        past = [r for r in original.rebalances if r.date <= cutoff]
        assert len(past) == 43
        for before, after in zip(past, changed.rebalances, strict=False):
            assert before.date == after.date
            pd.testing.assert_series_equal(before.weights, after.weights, check_exact=True)
        months = original.returns[: cutoff.to_period("M")]
        pd.testing.assert_series_equal(
            months, changed.returns[: cutoff.to_period("M")], check_exact=True
        )
        assert not original.rebalances[-1].weights.equals(changed.rebalances[-1].weights)


def test_trend_rule_blends_down_to_the_target_and_never_levers():
    covariance = np.diag([0.02, 0.10, 0.05]) ** 2
    expected = np.array([0.01, 0.04, 0.03])
    weights = trend_rule(expected, covariance, target=0.021)  # inverse-vol mix: 0.0217
    assert weights.sum() == pytest.approx(1) and (weights >= 0).all()
    assert np.sqrt(weights @ covariance @ weights) == pytest.approx(0.021)
    assert weights[0] > 0.625  # blended towards the least volatile ETF
    calm = trend_rule(expected, covariance, target=0.5)
    np.testing.assert_allclose(
        calm, (1 / np.sqrt(np.diag(covariance))) / (1 / np.sqrt(np.diag(covariance))).sum()
    )
    nothing = trend_rule(-expected, covariance, target=0.03)
    np.testing.assert_array_equal(nothing, [1.0, 0.0, 0.0])
