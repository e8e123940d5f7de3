"""Market data: load, validate and write a data directory.

A data directory holds ``securities.csv`` (one row per series), ``prices.csv`` (a ``date``
column, then one column of daily total-return index levels per ticker) and optionally
``metadata.json`` (a free JSON object). Either table may be stored as ``.parquet`` instead,
but not both ways at once. Every problem found while loading raises `DataError`, whose message
names the file, the row or column, and the problem, e.g.
``prices.csv, line 37 (2016-02-19), column HYG: level -1.0 is not positive``.
"""

from __future__ import annotations

import csv
import datetime
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SECURITY_COLUMNS = (
    "ticker",
    "name",
    "kind",
    "sector",
    "ig",
    "duration",
    "expense_ratio",
    "bid_ask",
    "aum",
    "inception",
)
NUMERIC_COLUMNS = ("duration", "expense_ratio", "bid_ask", "aum")
KINDS = ("etf", "fund", "index")
HOLDABLE_KINDS = ("etf", "fund")
"""The kinds a portfolio may hold: ETFs, and mutual funds (which trade once a day at NAV, so
their bid/ask spread is 0). Indices are benchmarks only."""
FORMATS = ("csv", "parquet")

_IG_FLAGS = {"true": True, "false": False, "1": True, "0": False}
_DATE_FORMAT = "%Y-%m-%d"
# pandas 3 parses dates at microsecond resolution; every date we return uses it.
_DATE_DTYPE = "datetime64[us]"
_EXPECTED = {
    "securities": "one row per series with columns " + ", ".join(SECURITY_COLUMNS),
    "prices": "a date column, then one column of daily total-return index levels per ticker",
}


class DataError(ValueError):
    """A data file is wrong. str() names the file, the row or column, and the problem."""


@dataclass(frozen=True, eq=False)
class MarketData:
    """Validated market data.

    Attributes
    ----------
    securities : pandas.DataFrame
        Indexed by ticker (str), with columns name, kind, sector (str), ig (bool), duration,
        expense_ratio, bid_ask, aum (float64) and inception (datetime64).
    prices : pandas.DataFrame
        Daily total-return index levels (float64): a strictly increasing DatetimeIndex named
        ``date`` and one column per ticker, in the order of ``securities.index``. NaN before a
        series starts, never after.
    metadata : dict
        Contents of ``metadata.json``; empty if there is none.
    """

    securities: pd.DataFrame
    prices: pd.DataFrame
    metadata: dict

    def returns(self) -> pd.DataFrame:
        """Daily simple returns.

        Returns
        -------
        pandas.DataFrame
            ``level / previous level - 1`` without filling, so NaN wherever a series has no
            prior level; the first date (which has no prior level at all) is dropped.
        """
        return (self.prices / self.prices.shift(1) - 1.0).iloc[1:]

    @property
    def etfs(self) -> pd.DataFrame:
        """Rows of `securities` whose kind is ``etf``."""
        return self.securities[self.securities["kind"] == "etf"]

    @property
    def holdable(self) -> pd.DataFrame:
        """Rows of `securities` a portfolio may hold: ETFs and funds (``HOLDABLE_KINDS``)."""
        return self.securities[self.securities["kind"].isin(HOLDABLE_KINDS)]

    def latest_closes(self) -> pd.Series:
        """Each holdable series' latest close: its last level in the data (series with none
        are left out). A fund's close is its NAV."""
        return self.prices[self.holdable.index].ffill().iloc[-1].dropna()


@dataclass(frozen=True)
class _Table:
    """A table as read from its file, with what is needed to point at one of its cells."""

    file: str
    frame: pd.DataFrame
    is_csv: bool

    def place_of(self, row: int) -> str:
        """How messages refer to a 0-based data row: its CSV line, or its 1-based Parquet row.

        CSV line numbers assume no quoted field spans lines; blank lines are kept as rows by
        the reader, so they count.
        """
        return f"line {row + 2}" if self.is_csv else f"row {row + 1}"

    def error(
        self,
        problem: str,
        *,
        row: int | None = None,
        label: str | None = None,
        column: str | None = None,
    ) -> DataError:
        """A `DataError` locating ``problem`` in this file at a data row and/or a column."""
        place = [self.file]
        if row is not None:
            place.append(f"{self.place_of(row)} ({label})" if label else self.place_of(row))
        if column is not None:
            place.append(f"column {column}")
        return DataError(f"{', '.join(place)}: {problem}")


def load_data(directory: str | os.PathLike) -> MarketData:
    """Load and validate a data directory.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory holding securities and prices (CSV or Parquet) and optionally metadata.json.

    Returns
    -------
    MarketData
        Securities indexed by ticker, prices with the tickers in the same order, metadata.

    Raises
    ------
    DataError
        If the directory or a file is missing, ambiguous or wrong; the message names the file,
        the row or column, and the problem.
    """
    path = Path(directory)
    if not path.is_dir():
        raise DataError(f"data directory {path} does not exist or is not a directory")
    securities_table = _read_table(path, "securities")
    securities = _securities_from(securities_table)
    prices_table = _read_table(path, "prices")
    prices = _prices_from(prices_table)
    _check_same_tickers(securities, securities_table, prices, prices_table)
    return MarketData(
        securities=securities,
        prices=prices[list(securities.index)],
        metadata=_read_metadata(path),
    )


def write_data(data: MarketData, directory: str | os.PathLike, *, fmt: str = "csv") -> None:
    """Write market data as a data directory that `load_data` reads back exactly.

    Parameters
    ----------
    data : MarketData
        The data to write.
    directory : str or os.PathLike
        Target directory, created if needed. Files of the same tables in the other format, and
        a metadata.json when ``data.metadata`` is empty, are removed so that the directory
        holds exactly ``data``.
    fmt : {"csv", "parquet"}
        File format of the securities and prices tables. CSV floats are written at full
        (repr) precision, ig as true/false, dates as YYYY-MM-DD and NaN as an empty field.

    Raises
    ------
    ValueError
        If ``fmt`` is not one of the supported formats.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, not {fmt!r}")
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stem in ("securities", "prices"):
        for other in FORMATS:
            if other != fmt:
                (path / f"{stem}.{other}").unlink(missing_ok=True)
    securities = _securities_table(data.securities, ig_as_text=fmt == "csv")
    prices = data.prices.rename_axis("date")
    if fmt == "csv":
        securities.to_csv(path / "securities.csv", index=False, date_format=_DATE_FORMAT)
        prices.to_csv(path / "prices.csv", date_format=_DATE_FORMAT)
    else:
        securities.to_parquet(path / "securities.parquet", index=False)
        prices.reset_index().to_parquet(path / "prices.parquet", index=False)
    metadata_path = path / "metadata.json"
    if data.metadata:
        text = json.dumps(data.metadata, indent=2, ensure_ascii=False)
        metadata_path.write_text(text + "\n", encoding="utf-8")
    else:
        metadata_path.unlink(missing_ok=True)


def _securities_table(securities: pd.DataFrame, *, ig_as_text: bool) -> pd.DataFrame:
    """The securities as a file table: ticker first, then the contract columns in order."""
    table = securities.loc[:, list(SECURITY_COLUMNS[1:])].copy()
    table.insert(0, "ticker", securities.index)
    if ig_as_text:
        table["ig"] = table["ig"].map({True: "true", False: "false"})
    return table


def _table_path(directory: Path, stem: str) -> tuple[Path, bool]:
    """The file holding a table and whether it is CSV; exactly one format must exist."""
    csv_path, parquet_path = directory / f"{stem}.csv", directory / f"{stem}.parquet"
    if csv_path.exists() and parquet_path.exists():
        raise DataError(
            f"{directory}: both {stem}.csv and {stem}.parquet exist; keep only one of them"
        )
    if csv_path.exists():
        return csv_path, True
    if parquet_path.exists():
        return parquet_path, False
    raise DataError(
        f"{directory}: {stem}.csv (or {stem}.parquet) is missing; expected {_EXPECTED[stem]}"
    )


def _read_table(directory: Path, stem: str) -> _Table:
    """Read the securities or prices table with its header checked."""
    path, is_csv = _table_path(directory, stem)
    header = _csv_header(path) if is_csv else _parquet_columns(path)
    is_prices = stem == "prices"
    required = ("date",) if is_prices else SECURITY_COLUMNS
    _check_header(path.name, header, required, is_csv, every_column_named=is_prices)
    key = "date" if is_prices else "ticker"
    frame = _read_csv(path, required) if is_csv else _read_parquet(path, key)
    return _Table(path.name, _without_trailing_blank_rows(frame), is_csv)


def _csv_header(path: Path) -> list[str]:
    """The column names on a CSV file's first line, as written (pandas renames duplicates)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return next(csv.reader(handle), [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path.name}: cannot be read as a UTF-8 CSV file ({exc})") from exc


def _parquet_columns(path: Path) -> list[str]:
    """The column names stored in a Parquet file, a stored index included."""
    try:
        return list(pq.read_schema(path).names)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path.name}: cannot be read as a Parquet file ({exc})") from exc


def _check_header(
    file: str,
    names: list[str],
    required: tuple[str, ...],
    is_csv: bool,
    *,
    every_column_named: bool,
) -> None:
    """Raise if a required column is missing or repeated, or a column that matters is unnamed.

    With ``every_column_named`` (prices, where every other column is a ticker) all columns
    must be named and distinct; otherwise extra columns are ignored, whatever their names.
    """
    line = "line 1, " if is_csv else ""
    if every_column_named:
        for position, name in enumerate(names, start=1):
            if not name.strip():
                raise DataError(f"{file}, {line}column {position}: the column has no name")
    missing = [name for name in required if name not in names]
    if missing:
        raise DataError(
            f"{file}: missing {_plural('column', missing)} {', '.join(missing)} "
            f"(expected {', '.join(required)})"
        )
    checked = names if every_column_named else [name for name in names if name in required]
    repeated = sorted({name for name in checked if checked.count(name) > 1})
    if repeated:
        raise DataError(
            f"{file}, {line}{_plural('column', repeated)} {', '.join(repeated)}: "
            "appears more than once in the header"
        )


def _plural(noun: str, items: list) -> str:
    """``noun``, with an s if there is more than one item."""
    return noun if len(items) == 1 else f"{noun}s"


def _read_csv(path: Path, text_columns: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV file in which only empty fields are missing and blank lines are rows."""
    try:
        with warnings.catch_warnings():
            # A first data row longer than the header would otherwise be silently truncated.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                path,
                dtype=dict.fromkeys(text_columns, str),
                keep_default_na=False,
                na_values=[""],
                skip_blank_lines=False,
                index_col=False,
                encoding="utf-8-sig",
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name}: cannot be read as CSV ({exc})") from exc


def _read_parquet(path: Path, key: str) -> pd.DataFrame:
    """Read a Parquet file, turning an index named ``key`` back into a column."""
    try:
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path.name}: cannot be read as a Parquet file ({exc})") from exc
    if key not in frame.columns and frame.index.name == key:
        return frame.reset_index()
    return frame.reset_index(drop=True)


def _without_trailing_blank_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without the all-empty rows that blank lines at the end of a CSV produce."""
    filled = frame.notna().any(axis=1).to_numpy()
    last = len(filled) - int(np.argmax(filled[::-1])) if filled.any() else 0
    return frame.iloc[:last]


def _is_missing(value: object) -> bool:
    """Whether a raw cell is empty: None, NaN, NaT or an empty string."""
    return (isinstance(value, str) and not value) or bool(pd.isna(value))


def _securities_from(table: _Table) -> pd.DataFrame:
    """The validated securities table, indexed by ticker."""
    if table.frame.empty:
        raise table.error("no securities are listed")
    tickers = _tickers(table)
    labels = list(tickers)
    columns = {
        "name": _texts(table.frame["name"]),
        "kind": _kinds(table, labels),
        "sector": _sectors(table, labels),
        "ig": _ig_flags(table, labels),
    }
    for column in NUMERIC_COLUMNS:
        columns[column] = _non_negative_numbers(table, column, labels)
    _check_fund_spreads(table, columns["kind"], columns["bid_ask"], labels)
    columns["inception"] = _dates(table, "inception", labels)
    return pd.DataFrame(columns, index=tickers)


def _texts(column: pd.Series) -> list[str]:
    """A column's cells as strings, missing cells as empty strings."""
    return ["" if _is_missing(value) else str(value) for value in column]


def _tickers(table: _Table) -> pd.Index:
    """The ticker column as a string index named ticker; raises on an empty or repeated one."""
    tickers = _texts(table.frame["ticker"])
    first_rows: dict[str, int] = {}
    for row, ticker in enumerate(tickers):
        if not ticker.strip():
            raise table.error("ticker is empty", row=row, column="ticker")
        if ticker in first_rows:
            raise table.error(
                f"ticker {ticker} repeats {table.place_of(first_rows[ticker])}",
                row=row,
                column="ticker",
            )
        first_rows[ticker] = row
    return pd.Index(tickers, dtype="str", name="ticker")


def _kinds(table: _Table, labels: list[str]) -> list[str]:
    """The kind column; raises on a value other than etf, fund or index."""
    kinds = _texts(table.frame["kind"])
    for row, kind in enumerate(kinds):
        if kind not in KINDS:
            raise table.error(
                f"kind {kind!r} is not valid (expected {', '.join(KINDS[:-1])} or {KINDS[-1]})",
                row=row,
                label=labels[row],
                column="kind",
            )
    return kinds


def _check_fund_spreads(
    table: _Table, kinds: list[str], spreads: np.ndarray, labels: list[str]
) -> None:
    """Raise on a fund with a bid/ask spread: a fund trades once a day at its NAV."""
    for row, (kind, spread) in enumerate(zip(kinds, spreads, strict=True)):
        if kind == "fund" and spread != 0:
            raise table.error(
                f"bid_ask {spread} of a fund must be 0 (a fund trades at its NAV)",
                row=row,
                label=labels[row],
                column="bid_ask",
            )


def _sectors(table: _Table, labels: list[str]) -> list[str]:
    """The sector column; raises on an empty sector."""
    sectors = _texts(table.frame["sector"])
    for row, sector in enumerate(sectors):
        if not sector.strip():
            raise table.error("sector is empty", row=row, label=labels[row], column="sector")
    return sectors


def _ig_flags(table: _Table, labels: list[str]) -> list[bool]:
    """The ig column as booleans; raises on a cell that is not a boolean."""
    flags = []
    for row, value in enumerate(table.frame["ig"]):
        flag = _ig_flag(value)
        if flag is None:
            problem = (
                "ig is missing"
                if _is_missing(value)
                else f"ig {value!r} is not valid (expected true or false)"
            )
            raise table.error(problem, row=row, label=labels[row], column="ig")
        flags.append(flag)
    return flags


def _ig_flag(value: object) -> bool | None:
    """A raw ig cell (true/false in any case, 1/0, or a stored boolean) as a bool, else None."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return {0: False, 1: True}.get(int(value))
    return _IG_FLAGS.get(value.strip().lower()) if isinstance(value, str) else None


def _non_negative_numbers(table: _Table, column: str, labels: list[str]) -> np.ndarray:
    """A numeric securities column as float64; raises on a missing, non-numeric or < 0 cell."""
    numbers = np.empty(len(table.frame), dtype=np.float64)
    for row, value in enumerate(table.frame[column]):
        number = _number(value)
        problem = None
        if _is_missing(value):
            problem = f"{column} is missing"
        elif number is None:
            problem = f"value {value!r} is not a number"
        elif not np.isfinite(number):
            problem = f"value {value!r} is not a finite number"
        elif number < 0:
            problem = f"{column} {number} is negative"
        if problem:
            raise table.error(problem, row=row, label=labels[row], column=column)
        numbers[row] = number
    return numbers


def _number(value: object) -> float | None:
    """A raw cell as a float, or None if it is not a number (text "nan" is not one)."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    try:
        number = float(str(value))
    except ValueError:
        return None
    return None if np.isnan(number) else number


def _dates(table: _Table, column: str, labels: list[str] | None = None) -> pd.DatetimeIndex:
    """A column of YYYY-MM-DD text or stored dates; raises on a missing or unparsable date."""
    raw = table.frame[column]
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        dates = pd.DatetimeIndex(raw)
    else:
        text = raw.map(_date_text)
        dates = pd.DatetimeIndex(pd.to_datetime(text, format=_DATE_FORMAT, errors="coerce"))
    bad = np.flatnonzero(dates.isna())
    if bad.size:
        row = int(bad[0])
        value = raw.iloc[row]
        problem = (
            f"{column} is missing"
            if _is_missing(value)
            else f"{value!r} is not a date (expected YYYY-MM-DD)"
        )
        raise table.error(problem, row=row, label=labels[row] if labels else None, column=column)
    return dates.astype(_DATE_DTYPE)


def _date_text(value: object) -> object:
    """A stored date cell as YYYY-MM-DD text; any other cell unchanged."""
    return value.strftime(_DATE_FORMAT) if isinstance(value, datetime.date) else value


def _prices_from(table: _Table) -> pd.DataFrame:
    """The validated prices: float64 levels by strictly increasing date and ticker."""
    dates = _increasing_dates(table)
    labels = list(dates.strftime(_DATE_FORMAT))
    tickers = [name for name in table.frame.columns if name != "date"]
    levels = _levels(table, tickers, labels)
    _check_levels(table, levels, tickers, labels)
    return pd.DataFrame(levels, index=dates.rename("date"), columns=pd.Index(tickers, dtype="str"))


def _increasing_dates(table: _Table) -> pd.DatetimeIndex:
    """The date column; raises on a date that is not after the one before it."""
    dates = _dates(table, "date")
    steps = np.diff(dates.asi8)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        row = int(bad[0]) + 1
        previous = table.place_of(row - 1)
        problem = (
            f"date repeats {previous}"
            if steps[row - 1] == 0
            else f"date is not after {dates[row - 1]:{_DATE_FORMAT}} on {previous}"
        )
        raise table.error(problem, row=row, label=f"{dates[row]:{_DATE_FORMAT}}")
    return dates


def _levels(table: _Table, tickers: list[str], labels: list[str]) -> np.ndarray:
    """The ticker columns as a float64 (date x ticker) array; raises on a non-numeric cell.

    When several columns hold non-numbers, the one on the earliest row is reported.
    """
    levels = np.empty((len(labels), len(tickers)), dtype=np.float64)
    first_bad: tuple[int, str] | None = None
    for position, ticker in enumerate(tickers):
        column = table.frame[ticker]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            levels[:, position] = column.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        numbers = pd.to_numeric(column, errors="coerce")
        bad = np.flatnonzero(numbers.isna().to_numpy() & column.notna().to_numpy())
        if bad.size and (first_bad is None or bad[0] < first_bad[0]):
            first_bad = (int(bad[0]), ticker)
        levels[:, position] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    if first_bad:
        row, ticker = first_bad
        raise table.error(
            f"value {table.frame[ticker].iloc[row]!r} is not a number",
            row=row,
            label=labels[row],
            column=ticker,
        )
    return levels


def _check_levels(table: _Table, levels: np.ndarray, tickers: list[str], labels: list[str]) -> None:
    """Raise on an empty column, a level that is not finite and positive, or a gap."""
    present = ~np.isnan(levels)
    empty = np.flatnonzero(~present.any(axis=0))
    if empty.size:
        raise table.error("the column is entirely empty", column=tickers[empty[0]])
    for mask, problem in (
        (np.isinf(levels), "is not a finite number"),
        (levels <= 0, "is not positive"),
    ):
        cell = _first_cell(mask)
        if cell:
            raise _cell_error(table, f"level {levels[cell]} {problem}", cell, tickers, labels)
    gap = _first_cell(np.logical_or.accumulate(present, axis=0) & ~present)
    if gap:
        start = labels[int(present[:, gap[1]].argmax())]
        problem = f"level is missing after the series started on {start}"
        raise _cell_error(table, problem, gap, tickers, labels)


def _first_cell(mask: np.ndarray) -> tuple[int, int] | None:
    """The (row, column) of the first true cell of a 2-D mask in row-major order, or None."""
    cells = np.flatnonzero(mask)
    return divmod(int(cells[0]), mask.shape[1]) if cells.size else None


def _cell_error(
    table: _Table, problem: str, cell: tuple[int, int], tickers: list[str], labels: list[str]
) -> DataError:
    """A `DataError` for a (row, column) cell of the prices."""
    row, position = cell
    return table.error(problem, row=row, label=labels[row], column=tickers[position])


def _check_same_tickers(
    securities: pd.DataFrame,
    securities_table: _Table,
    prices: pd.DataFrame,
    prices_table: _Table,
) -> None:
    """Raise unless prices has a column for exactly the tickers listed in securities."""
    listed, priced = set(securities.index), set(prices.columns)
    unlisted = [ticker for ticker in prices.columns if ticker not in listed]
    if unlisted:
        raise prices_table.error(
            f"{_plural('ticker', unlisted)} {', '.join(unlisted)} "
            f"{'has' if len(unlisted) == 1 else 'have'} no row in {securities_table.file}"
        )
    unpriced = [ticker for ticker in securities.index if ticker not in priced]
    if unpriced:
        raise securities_table.error(
            f"{_plural('ticker', unpriced)} {', '.join(unpriced)} "
            f"{'has' if len(unpriced) == 1 else 'have'} no column in {prices_table.file}"
        )


def _read_metadata(directory: Path) -> dict:
    """The JSON object in metadata.json, or {} if there is no such file."""
    path = directory / "metadata.json"
    if not path.exists():
        return {}
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(
            f"metadata.json, line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"metadata.json: not UTF-8 text ({exc})") from exc
    if not isinstance(metadata, dict):
        raise DataError(
            f"metadata.json: expected a JSON object ({{...}}), found {type(metadata).__name__}"
        )
    return metadata
