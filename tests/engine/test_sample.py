"""The sample universe: what a user checks before trusting it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from service.engine.analytics import ITD_START, monthly_returns
from service.engine.data import load_data
from service.engine.models import AGG_SECTORS, PASSIVE_BENCHMARKS
from service.engine.sample import SECTORS, sample_data

WELL_KNOWN = [  # fmt: skip
    "AGG",
    "BND",
    "HYG",
    "JNK",
    "LQD",
    "TLT",
    "IEF",
    "SHY",
    "MBB",
    "EMB",
    "TIP",
    "MUB",
    "BKLN",
    "GOVT",
    "IEI",
    "TLH",
    "VGSH",
    "VGIT",
    "VGLT",
    "BIL",
    "SGOV",
    "SHV",
    "SCHP",
    "VTIP",
    "VMBS",
    "VCIT",
    "VCSH",
    "VCLT",
    "IGSB",
    "USIG",
    "FLOT",
    "MINT",
    "JPST",
    "USHY",
    "SHYG",
    "SRLN",
    "JAAA",
    "VWOB",
    "EMLC",
    "VTEB",
    "BNDX",
    "BWX",
    "PFF",
    "CWB",
]


def test_universe_is_large_and_covers_every_sector(sample):
    etfs = sample.etfs
    assert len(etfs) >= 400
    assert set(etfs["sector"]) == set(SECTORS)
    assert etfs.index.is_unique


def test_well_known_etfs_carry_their_public_facts(sample):
    etfs = sample.etfs
    assert set(WELL_KNOWN) <= set(etfs.index)
    assert etfs.loc["AGG", "expense_ratio"] == 0.0003
    assert etfs.loc["HYG", "sector"] == "high_yield" and not etfs.loc["HYG", "ig"]
    assert etfs.loc["TLT", "duration"] > 15 and etfs.loc["SHY", "duration"] < 2
    assert etfs.loc["SGOV", "inception"] == pd.Timestamp("2020-05-26")


def test_synthetic_etfs_say_so_and_every_row_has_all_metadata(sample):
    etfs = sample.etfs
    synthetic = etfs[~etfs.index.isin(WELL_KNOWN) & etfs["name"].str.startswith("Synthetic")]
    real_count = len(etfs) - len(synthetic)
    assert real_count >= 40
    assert synthetic["name"].str.contains("sample data").all()
    assert not sample.securities.isna().any().any()
    assert (etfs["expense_ratio"] > 0).all() and (etfs["bid_ask"] > 0).all()


def test_sample_data_says_it_is_sample(sample):
    assert sample.metadata["sample"] is True
    assert "not market data" in sample.metadata["description"]


def test_history_spans_2013_to_september_2024_with_staggered_starts(sample):
    prices = sample.prices
    assert prices.index[0] == pd.Timestamp("2013-01-02")
    assert prices.index[-1] == pd.Timestamp("2024-09-30")
    late = sample.etfs.index[sample.etfs["inception"] > "2016-01-01"]
    assert len(late) >= 10
    for ticker in late:
        first = prices[ticker].first_valid_index()
        assert first >= sample.etfs.loc[ticker, "inception"]
        assert prices.loc[: first - pd.Timedelta(days=1), ticker].isna().all()
        assert prices.loc[first:, ticker].notna().all()


def test_generation_is_deterministic(sample):
    again = sample_data()
    pd.testing.assert_frame_equal(again.prices, sample.prices, check_exact=True)
    pd.testing.assert_frame_equal(again.securities, sample.securities, check_exact=True)


def test_a_universe_of_any_size_is_deterministic_and_keeps_the_real_etfs(sample):
    small = sample_data(etfs=150)
    assert len(small.etfs) == 150
    assert {"AGG", "HYG", "LQD"} <= set(small.etfs.index)
    assert set(small.etfs["sector"]) == set(sample.etfs["sector"])
    pd.testing.assert_frame_equal(small.prices, sample_data(etfs=150).prices)


def test_agg_and_hyg_track_their_index_less_fees(sample):
    monthly = monthly_returns(sample.prices)[ITD_START:]
    for etf, index in (("AGG", "agg-index"), ("HYG", "high-yield")):
        ticker = PASSIVE_BENCHMARKS[index].ticker
        shortfall = (monthly[ticker] - monthly[etf]).mean() * 12
        fee = sample.etfs.loc[etf, "expense_ratio"]
        assert abs(shortfall - fee) < 0.002
        assert np.corrcoef(monthly[ticker], monthly[etf])[0, 1] > 0.99


def test_crises_are_in_the_history(sample):
    monthly = monthly_returns(sample.prices)
    hy = monthly[PASSIVE_BENCHMARKS["high-yield"].ticker]
    agg = (1 + monthly[PASSIVE_BENCHMARKS["agg-index"].ticker]["2022-01":"2022-12"]).prod() - 1
    assert hy["2020-03"] < -0.05, "March 2020 credit crash"
    assert agg < -0.08, "2022 rate shock"


def test_agg_sector_list_names_real_sectors():
    assert set(AGG_SECTORS) <= set(SECTORS)


def test_cli_writes_a_data_directory_that_loads_back(runner, tmp_path, sample):
    result = runner.invoke(args=["sample-data", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "SAMPLE" in result.output
    loaded = load_data(tmp_path)
    assert np.array_equal(loaded.prices.to_numpy(), sample.prices.to_numpy(), equal_nan=True)
    assert loaded.metadata["sample"] is True
