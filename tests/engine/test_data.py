"""Tests for loading, validating and writing a market data directory."""

import csv
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.engine.data import DataError, MarketData, load_data, write_data

SECURITIES_CSV = """\
ticker,name,kind,sector,ig,duration,expense_ratio,bid_ask,aum,inception
AGG,iShares Core US Aggregate,etf,aggregate,true,6.1,0.0003,0.0001,110000000000,2003-09-22
HYG,iShares iBoxx High Yield,etf,high_yield,false,3.5,0.0049,0.0002,15000000000,2007-04-04
LQD,iShares iBoxx Investment Grade,etf,corporate,True,8.4,0.0014,0.0001,30000000000,2002-07-22
TSY,US Treasury Index,index,treasury,1,6.0,0,0,0,1973-01-01
"""
SECURITIES_HEADER = SECURITIES_CSV.splitlines()[0].split(",")
DATES = [f"2016-02-{day:02d}" for day in (15, 16, 17, 18, 19, 22, 23, 24, 25, 26)]
LATE_START = 3  # LQD has no level on the first three dates


def securities_rows() -> list[list[str]]:
    """A valid securities.csv as rows of fields, header first (row k is on line k + 1)."""
    return [line.split(",") for line in SECURITIES_CSV.splitlines()]


def prices_rows() -> list[list[str]]:
    """A valid prices.csv as rows of fields, header first (row k is on line k + 1)."""
    rows = [["date", "AGG", "HYG", "LQD", "TSY"]]
    for day, date in enumerate(DATES):
        levels = [100.0 + 0.1 * day, 80.0 - 0.05 * day, 120.0 + 0.2 * day, 1000.0 + day]
        fields = [repr(level) for level in levels]
        if day < LATE_START:
            fields[2] = ""
        rows.append([date, *fields])
    return rows


def write_rows(path: Path, rows: list[list[str]]) -> None:
    """Write rows of fields as a CSV file."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


@pytest.fixture
def securities() -> list[list[str]]:
    return securities_rows()


@pytest.fixture
def prices() -> list[list[str]]:
    return prices_rows()


def load_rows(directory: Path, securities: list[list[str]], prices: list[list[str]]) -> MarketData:
    """Write the two tables as CSV files in ``directory`` and load it."""
    write_rows(directory / "securities.csv", securities)
    write_rows(directory / "prices.csv", prices)
    return load_data(directory)


def load_error(directory: Path, securities: list[list[str]], prices: list[list[str]]) -> str:
    """The message of the DataError raised when loading these tables."""
    with pytest.raises(DataError) as caught:
        load_rows(directory, securities, prices)
    return str(caught.value)


def market_data(levels: np.ndarray | None = None, metadata: dict | None = None) -> MarketData:
    """MarketData like the valid CSV tables, optionally with other (dates x 4) levels."""
    securities = pd.DataFrame(
        {
            "name": ["Aggregate", "", "Corporate, long", "Treasury index"],
            "kind": ["etf", "etf", "etf", "index"],
            "sector": ["aggregate", "high_yield", "corporate", "treasury"],
            "ig": [True, False, True, True],
            "duration": [6.1, 3.5, 8.4, 0.1 + 0.2],
            "expense_ratio": [0.0003, 0.0049, 0.0014, 0.0],
            "bid_ask": [0.0001, 0.0002, 1 / 3, 0.0],
            "aum": [1.1e11, 1.5e10, 3e10, 0.0],
            "inception": pd.to_datetime(["2003-09-22", "2007-04-04", "2002-07-22", "1973-01-01"]),
        },
        index=pd.Index(["AGG", "HYG", "LQD", "TSY"], dtype="str", name="ticker"),
    )
    if levels is None:
        rng = np.random.default_rng(7)
        levels = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (len(DATES), 4)), axis=0))
        levels[:LATE_START, 2] = np.nan
    prices = pd.DataFrame(
        levels,
        index=pd.DatetimeIndex(pd.to_datetime(DATES), name="date"),
        columns=pd.Index(list(securities.index), dtype="str"),
    )
    return MarketData(securities=securities, prices=prices, metadata=metadata or {})


def assert_same_data(loaded: MarketData, expected: MarketData) -> None:
    """Assert equal tables and metadata, with prices equal bit for bit."""
    pd.testing.assert_frame_equal(loaded.securities, expected.securities, check_exact=True)
    pd.testing.assert_frame_equal(loaded.prices, expected.prices, check_exact=True)
    got, want = loaded.prices.to_numpy(), expected.prices.to_numpy()
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(
        got[~np.isnan(got)].view(np.uint64), want[~np.isnan(want)].view(np.uint64)
    )
    assert loaded.metadata == expected.metadata


# Loading valid data


def test_load_builds_typed_tables(tmp_path, securities, prices):
    data = load_rows(tmp_path, securities, prices)

    assert list(data.securities.index) == ["AGG", "HYG", "LQD", "TSY"]
    assert data.securities.index.name == "ticker"
    assert list(data.securities.columns) == SECURITIES_HEADER[1:]
    assert data.securities["ig"].tolist() == [True, False, True, True]
    assert data.securities["ig"].dtype == bool
    for column in ("duration", "expense_ratio", "bid_ask", "aum"):
        assert data.securities[column].dtype == np.float64
    assert data.securities.loc["AGG", "aum"] == 1.1e11
    assert pd.api.types.is_datetime64_dtype(data.securities["inception"])
    assert data.securities.loc["HYG", "inception"] == pd.Timestamp("2007-04-04")
    assert data.metadata == {}


def test_load_builds_prices_indexed_by_increasing_date(tmp_path, securities, prices):
    data = load_rows(tmp_path, securities, prices)

    assert isinstance(data.prices.index, pd.DatetimeIndex)
    assert data.prices.index.name == "date"
    assert data.prices.index.is_monotonic_increasing
    assert list(data.prices.index.strftime("%Y-%m-%d")) == DATES
    assert (data.prices.dtypes == np.float64).all()
    assert data.prices["LQD"].isna().tolist() == [True] * LATE_START + [False] * 7
    assert data.prices.loc["2016-02-19", "HYG"] == 80.0 - 0.05 * 4


def test_prices_columns_follow_securities_order(tmp_path, securities, prices):
    reordered = [[row[0], row[4], row[2], row[3], row[1]] for row in prices]

    data = load_rows(tmp_path, securities, reordered)

    assert list(data.prices.columns) == list(data.securities.index)
    assert data.prices.loc["2016-02-15", "AGG"] == 100.0


def test_etfs_are_the_etf_rows(tmp_path, securities, prices):
    data = load_rows(tmp_path, securities, prices)

    assert list(data.etfs.index) == ["AGG", "HYG", "LQD"]
    assert (data.etfs["kind"] == "etf").all()


@pytest.mark.parametrize(
    "flag, expected", [("true", True), ("FALSE", False), ("True", True), ("0", False), ("1", True)]
)
def test_ig_accepts_boolean_spellings(tmp_path, securities, prices, flag, expected):
    securities[2][4] = flag

    data = load_rows(tmp_path, securities, prices)

    assert data.securities.loc["HYG", "ig"] == expected


def test_extra_securities_columns_are_ignored(tmp_path, securities, prices):
    for row, extra in zip(securities, ["isin", "a", "b", "c", "d"], strict=True):
        row.append(extra)

    data = load_rows(tmp_path, securities, prices)

    assert list(data.securities.columns) == SECURITIES_HEADER[1:]


def test_blank_lines_at_end_of_file_are_ignored(tmp_path, securities, prices):
    data = load_rows(tmp_path, securities + [[]], prices + [[], []])

    assert len(data.securities) == 4
    assert len(data.prices) == len(DATES)


def test_metadata_is_read_as_dict(tmp_path, securities, prices):
    (tmp_path / "metadata.json").write_text('{"sample": true, "description": "demo"}')

    data = load_rows(tmp_path, securities, prices)

    assert data.metadata == {"sample": True, "description": "demo"}


# returns()


def test_returns_are_simple_returns_without_first_date(tmp_path, securities, prices):
    data = load_rows(tmp_path, securities, prices)

    returns = data.returns()

    assert list(returns.index) == list(data.prices.index[1:])
    assert returns.loc["2016-02-16", "AGG"] == 100.1 / 100.0 - 1.0
    assert returns.loc["2016-02-22", "TSY"] == 1005.0 / 1004.0 - 1.0


def test_returns_are_nan_until_a_late_series_has_a_prior_level(tmp_path, securities, prices):
    data = load_rows(tmp_path, securities, prices)

    lqd = data.returns()["LQD"]

    # Dates 2..3 have no level at all; date 4 has a level but no prior one.
    assert lqd.iloc[:LATE_START].isna().all()
    assert lqd.iloc[LATE_START:].notna().all()
    assert lqd.iloc[LATE_START] == (120.0 + 0.2 * 4) / (120.0 + 0.2 * 3) - 1.0


def test_returns_do_not_fill_across_missing_levels():
    levels = np.full((len(DATES), 4), 100.0)
    levels[:, 1] = np.arange(1.0, len(DATES) + 1.0)
    levels[:5, 3] = np.nan

    returns = market_data(levels).returns()

    assert returns.shape == (len(DATES) - 1, 4)
    assert (returns["AGG"] == 0.0).all()
    assert returns["HYG"].iloc[0] == 1.0
    # TSY's first level (row 5) has no prior level, so its return is NaN too.
    assert returns["TSY"].iloc[:5].isna().all()
    assert (returns["TSY"].iloc[5:] == 0.0).all()


# Round trips


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip_is_exact(tmp_path, fmt):
    data = market_data(metadata={"sample": True, "description": "round trip", "n": [1, 2]})

    write_data(data, tmp_path / "out", fmt=fmt)

    assert (tmp_path / "out" / f"securities.{fmt}").exists()
    assert (tmp_path / "out" / f"prices.{fmt}").exists()
    assert_same_data(load_data(tmp_path / "out"), data)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip_of_loaded_csv_is_exact(tmp_path, securities, prices, fmt):
    (tmp_path / "in").mkdir()
    data = load_rows(tmp_path / "in", securities, prices)

    write_data(data, tmp_path / "out", fmt=fmt)

    assert_same_data(load_data(tmp_path / "out"), data)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.floats(min_value=1e-300, max_value=1e300, allow_nan=False, allow_infinity=False),
        min_size=len(DATES) * 4,
        max_size=len(DATES) * 4,
    )
)
def test_csv_round_trip_keeps_any_positive_level_bit_for_bit(values):
    data = market_data(np.array(values).reshape(len(DATES), 4))
    with tempfile.TemporaryDirectory() as directory:
        write_data(data, directory)
        assert_same_data(load_data(directory), data)


def test_csv_files_use_the_documented_spellings(tmp_path):
    write_data(market_data(), tmp_path)

    with (tmp_path / "securities.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == SECURITIES_HEADER
    assert [row[4] for row in rows[1:]] == ["true", "false", "true", "true"]
    assert rows[1][9] == "2003-09-22"
    assert rows[4][5] == repr(0.1 + 0.2)
    with (tmp_path / "prices.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["date", "AGG", "HYG", "LQD", "TSY"]
    assert [row[0] for row in rows[1:]] == DATES
    assert [row[3] for row in rows[1 : 1 + LATE_START]] == [""] * LATE_START


def test_metadata_round_trip_and_empty_metadata_writes_no_file(tmp_path):
    write_data(market_data(metadata={"sample": True, "description": "Ünïcode"}), tmp_path)
    assert json.loads((tmp_path / "metadata.json").read_text(encoding="utf-8")) == {
        "sample": True,
        "description": "Ünïcode",
    }

    write_data(market_data(), tmp_path)

    assert not (tmp_path / "metadata.json").exists()
    assert load_data(tmp_path).metadata == {}


def test_write_in_other_format_replaces_previous_files(tmp_path):
    write_data(market_data(), tmp_path, fmt="csv")

    write_data(market_data(), tmp_path, fmt="parquet")

    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "prices.parquet",
        "securities.parquet",
    ]
    assert_same_data(load_data(tmp_path), market_data())


def test_write_creates_missing_directories(tmp_path):
    write_data(market_data(), tmp_path / "a" / "b")

    assert_same_data(load_data(tmp_path / "a" / "b"), market_data())


def test_write_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="fmt must be one of csv, parquet, not 'xlsx'"):
        write_data(market_data(), tmp_path, fmt="xlsx")


def test_parquet_accepts_date_and_ticker_as_index(tmp_path):
    data = market_data()
    data.prices.to_parquet(tmp_path / "prices.parquet")
    data.securities.to_parquet(tmp_path / "securities.parquet")

    assert_same_data(load_data(tmp_path), data)


# Missing and ambiguous files


def test_missing_directory_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"data directory .*nowhere does not exist"):
        load_data(tmp_path / "nowhere")


@pytest.mark.parametrize(
    "table, expected",
    [("securities", "one row per series with columns ticker, name"), ("prices", "a date column")],
)
def test_missing_table_file_is_an_error(tmp_path, securities, prices, table, expected):
    write_rows(tmp_path / "securities.csv", securities)
    write_rows(tmp_path / "prices.csv", prices)
    (tmp_path / f"{table}.csv").unlink()

    with pytest.raises(DataError) as caught:
        load_data(tmp_path)

    message = str(caught.value)
    assert f"{table}.csv (or {table}.parquet) is missing" in message
    assert f"expected {expected}" in message


@pytest.mark.parametrize("table", ["securities", "prices"])
def test_csv_and_parquet_of_same_table_is_ambiguous(tmp_path, table):
    write_data(market_data(), tmp_path)
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / f"{table}.parquet")

    with pytest.raises(DataError, match=f"both {table}.csv and {table}.parquet exist"):
        load_data(tmp_path)


def test_unreadable_csv_is_an_error(tmp_path, securities, prices):
    prices[5].append("1.0")

    message = load_error(tmp_path, securities, prices)

    assert message.startswith("prices.csv: cannot be read as CSV")
    assert "line 6" in message


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"sample": true,}', "metadata.json, line 1, column 17: not valid JSON"),
        ('["sample"]', "metadata.json: expected a JSON object ({...}), found list"),
    ],
)
def test_bad_metadata_is_an_error(tmp_path, securities, prices, text, expected):
    (tmp_path / "metadata.json").write_text(text)

    assert load_error(tmp_path, securities, prices).startswith(expected)


# Securities validation


def test_missing_securities_columns_are_listed(tmp_path, securities, prices):
    trimmed = [row[:8] for row in securities]

    message = load_error(tmp_path, trimmed, prices)

    assert message.startswith("securities.csv: missing columns aum, inception (expected ticker,")


def test_securities_without_rows_is_an_error(tmp_path, securities, prices):
    assert load_error(tmp_path, securities[:1], prices) == (
        "securities.csv: no securities are listed"
    )


@pytest.mark.parametrize(
    "column, value, expected",
    [
        (5, "abc", "column duration: value 'abc' is not a number"),
        (7, "1,5", "column bid_ask: value '1,5' is not a number"),
        (8, "nan", "column aum: value 'nan' is not a number"),
        (6, "inf", "column expense_ratio: value 'inf' is not a finite number"),
        (5, "", "column duration: duration is missing"),
    ],
)
def test_non_numeric_security_value_is_an_error(
    tmp_path, securities, prices, column, value, expected
):
    securities[2][column] = value

    assert load_error(tmp_path, securities, prices) == f"securities.csv, line 3 (HYG), {expected}"


@pytest.mark.parametrize("column", [5, 6, 7, 8])
def test_negative_security_number_is_an_error(tmp_path, securities, prices, column):
    securities[3][column] = "-0.5"
    name = SECURITIES_HEADER[column]

    message = load_error(tmp_path, securities, prices)

    assert message == f"securities.csv, line 4 (LQD), column {name}: {name} -0.5 is negative"


@pytest.mark.parametrize(
    "column, value, expected",
    [
        (2, "ETF", "column kind: kind 'ETF' is not valid (expected etf, fund or index)"),
        (2, "", "column kind: kind '' is not valid (expected etf, fund or index)"),
        (4, "yes", "column ig: ig 'yes' is not valid (expected true or false)"),
        (4, "", "column ig: ig is missing"),
        (9, "22/09/2003", "column inception: '22/09/2003' is not a date (expected YYYY-MM-DD)"),
        (9, "2003-02-30", "column inception: '2003-02-30' is not a date (expected YYYY-MM-DD)"),
        (9, "", "column inception: inception is missing"),
        (3, "", "column sector: sector is empty"),
    ],
)
def test_invalid_security_field_is_an_error(tmp_path, securities, prices, column, value, expected):
    securities[1][column] = value

    assert load_error(tmp_path, securities, prices) == f"securities.csv, line 2 (AGG), {expected}"


def test_a_fund_loads_and_must_have_no_spread(tmp_path, securities, prices):
    securities[3][2] = "fund"  # LQD as a mutual fund, with its ETF's spread
    securities[3][7] = "0.0001"

    assert load_error(tmp_path, securities, prices) == (
        "securities.csv, line 4 (LQD), column bid_ask: "
        "bid_ask 0.0001 of a fund must be 0 (a fund trades at its NAV)"
    )
    securities[3][7] = "0"
    data = load_rows(tmp_path, securities, prices)
    assert data.securities.loc["LQD", "kind"] == "fund"
    assert "LQD" in data.holdable.index and "LQD" not in data.etfs.index


def test_empty_ticker_is_an_error(tmp_path, securities, prices):
    securities[3][0] = ""

    assert load_error(tmp_path, securities, prices) == (
        "securities.csv, line 4, column ticker: ticker is empty"
    )


def test_duplicated_ticker_is_an_error(tmp_path, securities, prices):
    securities[4][0] = "HYG"

    assert load_error(tmp_path, securities, prices) == (
        "securities.csv, line 5, column ticker: ticker HYG repeats line 3"
    )


def test_duplicated_securities_column_is_an_error(tmp_path, securities, prices):
    for row in securities:
        row.append(row[5])

    assert load_error(tmp_path, securities, prices) == (
        "securities.csv, line 1, column duration: appears more than once in the header"
    )


# Prices validation


def test_missing_date_column_is_an_error(tmp_path, securities, prices):
    prices[0][0] = "day"

    assert load_error(tmp_path, securities, prices) == (
        "prices.csv: missing column date (expected date)"
    )


@pytest.mark.parametrize(
    "value, expected",
    [
        ("", "prices.csv, line 5, column date: date is missing"),
        ("18/02/2016", "prices.csv, line 5, column date: '18/02/2016' is not a date"),
    ],
)
def test_missing_or_unparsable_date_is_an_error(tmp_path, securities, prices, value, expected):
    prices[4][0] = value

    assert load_error(tmp_path, securities, prices).startswith(expected)


def test_blank_line_inside_prices_is_a_missing_date(tmp_path, securities, prices):
    prices.insert(4, [])

    assert load_error(tmp_path, securities, prices) == (
        "prices.csv, line 5, column date: date is missing"
    )


def test_dates_out_of_order_name_both_dates(tmp_path, securities, prices):
    prices[4][0], prices[5][0] = prices[5][0], prices[4][0]

    assert load_error(tmp_path, securities, prices) == (
        "prices.csv, line 6 (2016-02-18): date is not after 2016-02-19 on line 5"
    )


def test_repeated_date_names_both_lines(tmp_path, securities, prices):
    prices[6][0] = prices[5][0]

    assert load_error(tmp_path, securities, prices) == (
        "prices.csv, line 7 (2016-02-19): date repeats line 6"
    )


@pytest.mark.parametrize("value", ["abc", "n/a", "NA", "1.2.3"])
def test_non_numeric_level_names_line_date_column_and_value(tmp_path, securities, prices, value):
    prices[6][2] = value

    assert load_error(tmp_path, securities, prices) == (
        f"prices.csv, line 7 (2016-02-22), column HYG: value {value!r} is not a number"
    )


def test_first_non_numeric_level_is_the_one_on_the_earliest_line(tmp_path, securities, prices):
    prices[8][1] = "x"
    prices[3][4] = "y"

    assert load_error(tmp_path, securities, prices) == (
        "prices.csv, line 4 (2016-02-17), column TSY: value 'y' is not a number"
    )


@pytest.mark.parametrize(
    "value, problem",
    [
        ("-1.0", "level -1.0 is not positive"),
        ("0", "level 0.0 is not positive"),
        ("inf", "level inf is not a finite number"),
    ],
)
def test_level_that_is_not_positive_and_finite_is_an_error(
    tmp_path, securities, prices, value, problem
):
    prices[6][2] = value

    assert load_error(tmp_path, securities, prices) == (
        f"prices.csv, line 7 (2016-02-22), column HYG: {problem}"
    )


def test_gap_inside_a_series_is_an_error(tmp_path, securities, prices):
    prices[8][3] = ""

    assert load_error(tmp_path, securities, prices) == (
        "prices.csv, line 9 (2016-02-24), column LQD: "
        "level is missing after the series started on 2016-02-18"
    )


def test_missing_last_level_is_a_gap(tmp_path, securities, prices):
    prices[-1][1] = ""

    assert load_error(tmp_path, securities, prices).startswith(
        "prices.csv, line 11 (2016-02-26), column AGG: level is missing after the series"
    )


def test_entirely_empty_price_column_is_an_error(tmp_path, securities, prices):
    for row in prices[1:]:
        row[2] = ""

    assert load_error(tmp_path, securities, prices) == (
        "prices.csv, column HYG: the column is entirely empty"
    )


def test_duplicated_price_column_is_an_error(tmp_path, securities, prices):
    prices[0][4] = "HYG"

    assert load_error(tmp_path, securities, prices) == (
        "prices.csv, line 1, column HYG: appears more than once in the header"
    )


def test_unnamed_price_column_is_an_error(tmp_path, securities, prices):
    prices[0][3] = ""

    assert load_error(tmp_path, securities, prices) == (
        "prices.csv, line 1, column 4: the column has no name"
    )


def test_price_column_without_security_is_an_error(tmp_path, securities, prices):
    prices[0][4] = "XYZ"
    securities[4][0] = "XYZ"
    del securities[2]

    assert load_error(tmp_path, securities, prices) == (
        "prices.csv: ticker HYG has no row in securities.csv"
    )


def test_security_without_price_column_is_an_error(tmp_path, securities, prices):
    trimmed = [row[:3] for row in prices]

    assert load_error(tmp_path, securities, trimmed) == (
        "securities.csv: tickers LQD, TSY have no column in prices.csv"
    )


def test_parquet_errors_name_the_row(tmp_path):
    levels = market_data().prices.to_numpy().copy()
    levels[4, 1] = -2.5
    write_data(market_data(levels), tmp_path, fmt="parquet")

    with pytest.raises(DataError) as caught:
        load_data(tmp_path)

    assert str(caught.value) == (
        "prices.parquet, row 5 (2016-02-19), column HYG: level -2.5 is not positive"
    )


def test_duplicated_parquet_column_is_an_error(tmp_path):
    write_data(market_data(), tmp_path, fmt="parquet")
    table = pq.read_table(tmp_path / "prices.parquet")
    doubled = pa.Table.from_arrays(
        [*table.columns, table.column("AGG")], names=[*table.column_names, "AGG"]
    )
    pq.write_table(doubled, tmp_path / "prices.parquet")

    with pytest.raises(DataError) as caught:
        load_data(tmp_path)

    assert str(caught.value) == "prices.parquet, column AGG: appears more than once in the header"


def test_loading_a_full_size_prices_file_is_fast(tmp_path):
    days, count = 3100, 450
    rng = np.random.default_rng(0)
    levels = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.003, (days, count)), axis=0))
    starts = rng.integers(0, days // 2, count)
    levels[np.arange(days)[:, None] < starts] = np.nan
    tickers = [f"T{number:03d}" for number in range(count)]
    dates = pd.bdate_range("2012-01-02", periods=days).strftime("%Y-%m-%d")
    columns = {"date": pa.array(list(dates))}
    for position, ticker in enumerate(tickers):
        columns[ticker] = pa.array(levels[:, position], from_pandas=True)  # NaN -> empty
    pa_csv.write_csv(pa.table(columns), tmp_path / "prices.csv")  # fast, and exact floats
    securities = [SECURITIES_HEADER] + [
        [ticker, ticker, "etf", "core", "true", "5", "0.0003", "0.0001", "1e9", "2010-01-01"]
        for ticker in tickers
    ]
    write_rows(tmp_path / "securities.csv", securities)

    start = time.perf_counter()
    data = load_data(tmp_path)
    elapsed = time.perf_counter() - start

    assert data.prices.shape == (days, count)
    assert np.array_equal(data.prices.to_numpy(), levels, equal_nan=True)
    assert elapsed < 2.0
