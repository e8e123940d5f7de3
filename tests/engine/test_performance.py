"""The performance table against the newsletter's published figures."""

from __future__ import annotations

import pandas as pd
import pytest

from service.engine.analytics import PERIOD_COLUMNS
from service.engine.models import MODELS, PASSIVE_BENCHMARKS
from service.engine.performance import (
    TABLE_COLUMNS,
    assemble_table,
    monthly_tables,
    performance_table,
)
from service.engine.seed import seed_table


@pytest.fixture(scope="session")
def table(sample, backtests):
    return assemble_table(sample, backtests, pd.Period("2024-09", "M")).set_index("model_id")


def test_rows_are_the_nine_models_and_seven_passive_benchmarks(table):
    assert list(table.index) == [*MODELS, *PASSIVE_BENCHMARKS]
    assert (table.loc[list(PASSIVE_BENCHMARKS), "group"] == "passive_benchmark").all()
    assert set(table.loc[list(MODELS), "group"]) == {"model", "active_benchmark"}


@pytest.mark.parametrize("benchmark_id", list(PASSIVE_BENCHMARKS))
def test_passive_rows_reproduce_the_seed_table(table, benchmark_id):
    ours, published = table.loc[benchmark_id], seed_table().loc[benchmark_id]
    for column in PERIOD_COLUMNS:
        assert round(ours[column], 3) == pytest.approx(published[column], abs=1e-9), column
    assert ours["beta_agg"] == pytest.approx(published["beta_agg"], abs=0.05)
    assert ours["corr_agg"] == pytest.approx(published["corr_agg"], abs=0.05)
    assert ours["alpha_agg"] == pytest.approx(published["alpha_agg"], abs=0.003)


def test_model_rows_are_complete(table):
    models = table.loc[list(MODELS)]
    assert not models[[c for c in TABLE_COLUMNS if c != "model_id"]].isna().any().any()
    assert ((models["bid_ask"] > 0) & (models["bid_ask"] < 0.01)).all()
    assert table.loc["agg-index", "beta_agg"] == pytest.approx(1.0)


def test_an_earlier_as_of_is_the_table_that_month_would_have_shown(small_sample, small_backtests):
    earlier = performance_table(small_sample, pd.Period("2023-12", "M")).set_index("model_id")
    assert earlier.loc["agg-index", "ytd"] == pytest.approx(earlier.loc["agg-index", "one_year"])
    for model_id, backtest in small_backtests.items():
        through_2023 = (1 + backtest.returns[:"2023-12"]).prod() - 1
        assert earlier.loc[model_id, "itd"] == pytest.approx(through_2023, rel=1e-12)


@pytest.mark.parametrize("as_of", ["2015-06", "2024-10"])
def test_an_as_of_outside_the_data_is_refused(small_sample, as_of):
    with pytest.raises(ValueError, match="outside the data"):
        performance_table(small_sample, pd.Period(as_of, "M"))


def test_each_monthly_table_is_the_table_that_month_would_have_shown(small_sample, small_backtests):
    last = pd.Period("2024-09", "M")
    months = {m: (cut, t) for m, cut, t in monthly_tables(small_sample, small_backtests, last)}
    assert list(months)[0] == pd.Period("2016-01", "M") and len(months) == 105
    cut, table = months[pd.Period("2023-12", "M")]
    pd.testing.assert_frame_equal(table, performance_table(small_sample, pd.Period("2023-12", "M")))
    for model_id, backtest in cut.items():
        assert backtest.rebalances[-1].date == pd.Timestamp("2023-12-29"), model_id
