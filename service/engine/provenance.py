"""Provenance: the recipe of a version, from which it can be rebuilt bit for bit.

A recipe names everything a rebalance depends on: the model's definition (and its hash), the
hash of the data up to the rebalance date, the engine's version and the parameters of the risk
model and the signal. :func:`recipe` makes one; the data hashes are
one pass over the prices (:func:`data_hashes`), whatever the number of months and models.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from . import risk, signals
from .data import MarketData

ENGINE_DIR = Path(__file__).parent


def document_hash(document: Mapping) -> str:
    """The sha256 of a JSON document's canonical text (sorted keys, floats by repr)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@cache
def engine_version() -> str:
    """The package's version and the hash of the engine's source: a change of either shows."""
    source = hashlib.sha256()
    for path in sorted(ENGINE_DIR.glob("*.py")):
        source.update(path.name.encode() + b"\0" + path.read_bytes())
    try:
        version = metadata.version("plusalpha")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"{version}+{source.hexdigest()[:12]}"


def parameters(signal: str) -> dict:
    """The parameters of the risk model and of the signal ``signal``."""
    return {
        "risk_model": {
            "estimator": "ledoit-wolf constant correlation",
            "window_days": risk.WINDOW_DAYS,
            "period_days": risk.PERIOD_DAYS,
            "periods_per_year": risk.PERIODS_PER_YEAR,
        },
        "signal": {"name": signal, "horizons_days": list(signals.TREND_HORIZONS)},
    }


def data_hashes(data: MarketData, dates: Iterable[pd.Timestamp]) -> dict[pd.Timestamp, str]:
    """The hash of the data up to and including each date: its securities, then its prices'
    dates and levels row by row (NaN as NaN bits), so a hash at a date covers nothing after it."""
    digest = hashlib.sha256()
    securities = data.securities.reset_index().astype(str).to_csv(index=False)
    digest.update(securities.encode("utf-8"))
    digest.update(("\0" + ",".join(data.prices.columns) + "\0").encode("utf-8"))
    days = data.prices.index.asi8
    # A row's day (its bits) beside its levels, so the bytes hashed up to a date are the same
    # whichever other dates are asked for: the worker asks for every month, a rebuild for one.
    rows = np.column_stack([days.view(np.float64), data.prices.to_numpy(dtype=np.float64)])
    rows = np.ascontiguousarray(rows)
    hashes, done = {}, 0
    for date in sorted(dates):
        # The index's own search: a Timestamp made from a date may be in another unit than ns.
        end = int(data.prices.index.searchsorted(pd.Timestamp(date), side="right"))
        digest.update(rows[done:end].tobytes())
        done = end
        hashes[date] = digest.copy().hexdigest()
    return hashes


def recipe(definition: Mapping, data_hash: str) -> dict:
    """The recipe of a rebalance of the model of published definition ``definition``, on the
    data whose hash up to its date is ``data_hash``."""
    return {
        "definition": dict(definition),
        "definition_hash": document_hash(definition),
        "data_hash": data_hash,
        "engine_version": engine_version(),
        "parameters": parameters(definition.get("signal", "trend")),
    }


def rebuilt_weights(data: MarketData, definition: Mapping, as_of: pd.Timestamp) -> pd.Series:
    """The weights the model of ``definition`` builds at ``as_of`` on ``data``, as the worker
    built them: the backtest from January 2016 on the data up to the end of that month (what
    was known then; every series kept, so the engine meets the same tickers in the same order).
    """
    from .analytics import ITD_START
    from .backtest import run_backtests
    from .performance import truncate
    from .variants import spec_from_definition

    spec = spec_from_definition(definition)
    # The first rebalance (December 2015) is rebuilt on the data to January 2016, as a backtest
    # needs a month to hold it; the rebalance reads nothing after its date all the same.
    month = max(pd.Timestamp(as_of).to_period("M"), ITD_START)
    known = truncate(data, month)
    for rebalance in run_backtests(known, [spec])[spec.id].rebalances:
        if rebalance.date == pd.Timestamp(as_of):
            return rebalance.weights
    raise ValueError(f"the data has no rebalance on {pd.Timestamp(as_of):%Y-%m-%d}")


def weight_differences(recorded: Mapping[str, float], rebuilt: Mapping[str, float]) -> list[str]:
    """Each ticker whose weight is not the same float in both, as a line (empty: equal)."""
    lines = []
    for ticker in sorted(recorded.keys() | rebuilt.keys()):
        old, new = recorded.get(ticker), rebuilt.get(ticker)
        if old != new:
            lines.append(f"{ticker}: recorded {old!r}, rebuilt {new!r}")
    return lines
