"""The engine commands, run as a user runs them."""

from __future__ import annotations

import csv
import io
import json

import pytest

from service.engine.analytics import PERIOD_COLUMNS
from service.engine.data import write_data
from service.engine.models import MODELS, PASSIVE_BENCHMARKS
from service.engine.performance import TABLE_COLUMNS
from service.engine.seed import seed_table


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory, small_sample):
    directory = tmp_path_factory.mktemp("data")
    write_data(small_sample, directory)
    return directory


def test_performance_csv_has_the_contract_columns_and_sixteen_rows(runner, data_dir):
    result = runner.invoke(args=["performance", "--format", "csv", "--data", str(data_dir)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert tuple(rows[0]) == TABLE_COLUMNS
    assert [r["model_id"] for r in rows] == [*MODELS, *PASSIVE_BENCHMARKS]
    published = seed_table()
    for row in rows[len(MODELS) :]:
        for column in PERIOD_COLUMNS:
            assert round(float(row[column]), 3) == published.loc[row["model_id"], column]


def test_performance_table_follows_the_newsletter_layout(runner, data_dir):
    result = runner.invoke(args=["performance", "--data", str(data_dir)])
    assert result.exit_code == 0, result.output
    for text in (
        "Sep 2024",
        "YTD 2024",
        "ITD 1/2016",
        "Active Model Portfolios",
        "Active Benchmark Indices",
        "Passive Benchmark Indices",
        "AGG+ Baseline",
        "High Yield",
        "SAMPLE DATA",
    ):
        assert text in result.output
    assert "17.3%" in next(line for line in result.output.splitlines() if "Agg Index" in line)


def test_performance_json_as_of(runner, data_dir):
    args = ["performance", "--format", "json", "--as-of", "2020-12", "--data", str(data_dir)]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["as_of"] == "2020-12"
    assert len(document["rows"]) == 16


@pytest.mark.parametrize("value", ["2024", "2024-13", "Sept-2024", "2024-9"])
def test_a_bad_as_of_is_refused_with_the_option_named(runner, value):
    result = runner.invoke(args=["performance", "--as-of", value])
    assert result.exit_code == 2
    assert "--as-of" in result.output and "YYYY-MM" in result.output


def test_a_missing_data_directory_is_named(runner, tmp_path):
    result = runner.invoke(args=["performance", "--data", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "nowhere" in result.output


def test_backtest_json_lists_every_rebalance_and_month(runner, data_dir):
    args = ["backtest", "agg-plus-ig", "--format", "json", "--data", str(data_dir)]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["model_id"] == "agg-plus-ig"
    assert document["rebalances"][0]["date"] == "2015-12-31"
    assert document["returns"][0]["month"] == "2016-01"
    assert len(document["rebalances"]) == len(document["returns"]) + 1
    assert all(abs(sum(r["weights"].values()) - 1) < 1e-9 for r in document["rebalances"])


def test_backtest_csv_has_a_row_per_rebalance(runner, data_dir):
    args = ["backtest", "active-ig-benchmark", "--format", "csv", "--data", str(data_dir)]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert list(rows[0])[:3] == ["rebalance_date", "month", "return"]
    assert rows[0]["month"] == "2016-01" and rows[-1]["return"] == ""
    tickers = list(rows[0])[3:]
    assert abs(sum(float(rows[10][t]) for t in tickers) - 1) < 1e-9


def test_an_unknown_model_is_refused(runner):
    result = runner.invoke(args=["backtest", "agg-plus-nothing"])
    assert result.exit_code == 2
    assert "agg-plus-nothing" in result.output
