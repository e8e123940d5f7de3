"""Renderers: a published model document to the exact body served for each format.

Every renderer is ``render_X(document, **options) -> str``; its options are keyword-only
arguments, so an unknown option raises `TypeError`, and an invalid document or option value
raises `ValueError`. Every body ends with a newline; lines end with LF (``\\n``) only, never
CRLF. JSON bodies are ASCII-only (non-ASCII characters are ``\\u`` escaped), indented by two
spaces.

A holding whose weight is within `DUST` (1e-12) of zero without being zero is floating point's
residue of an optimization, not a position (the sample's backtests recorded two, of 8e-17 and
1.1e-16): every format leaves it out, as it leaves out a target that rounds to 0.00, so no
answer shows a weight such as ``8.326672684688674e-17``. The ledger keeps the version as
recorded, and the document's ``hash`` is that version's.

``json``
    The document itself, keys in the canonical order (``model_id``, ``name``, ``description``,
    ``version``, ``as_of``, ``effective_date``, ``hash``, ``weights``; each holding ``ticker``,
    ``name``, ``sector``, ``weight``), any other key after those in its original order. Floats
    are written with ``repr``, so they parse back to the very same floats. NaN and infinities
    are refused.

``csv``
    Header ``ticker,weight`` then one row per holding in ticker order, the weight as ``repr`` of
    the float (full precision: ``float(text)`` gives back the same float).

``irebal``
    A Schwab iRebal security-model import file. Schwab's public iRebal documentation says that a
    security model is a list of securities with percentage targets from 0.0 to 100.0 that must
    total 100%, and that cash is targeted through the ``$CASH`` security; it does not publish
    the column layout of the model import template. We write the minimal two-column layout,
    header ``Symbol,Target %`` (`IREBAL_HEADER`): ``Symbol`` is the trading symbol, as in
    Schwab's own position and trade files, and ``Target %`` says the unit (percent, not a
    decimal fraction) in the header itself. If a firm's template names the columns differently,
    only `IREBAL_HEADER` changes. Rows are the securities in ticker order, then ``$CASH`` last,
    always present (``0.00`` when fully invested) so the platform sees an explicit cash target
    rather than a default. Targets are percents with exactly two decimals from
    `percent_allocation` (largest remainder on basis points), so the file sums to exactly
    100.00. A security whose target rounds to 0.00 is left out of the file (a 0% target would
    tell the platform to sell the position, and some importers reject it); its share went to the
    other securities through the largest-remainder step, so the total is still 100.00. Option
    ``cash`` (decimal fraction, default 0, a multiple of 0.0001 below 1) is carved out first.

``orion``
    An Orion Eclipse ticker-based model import, as JSON::

        {"name": ..., "description": ..., "externalId": <model_id>, "version": <version>,
         "securities": [{"ticker": ..., "targetPercent": 12.34,
                         "lowerModelTolerancePercent": 11.11,
                         "upperModelTolerancePercent": 13.57}, ...]}

    ``externalId`` (the model id) lets the platform recognise a new version as an update of the
    same model; ``version`` records which published version the file is. Percent fields are JSON
    numbers written with exactly two decimals; targets come from `percent_allocation` and sum to
    exactly 100.00; securities whose target rounds to 0.00 are left out, as for iRebal. The
    tolerance band is relative: option ``tolerance`` (default 0.10, i.e. +/-10% of the target)
    gives ``target * (1 - tolerance)`` and ``target * (1 + tolerance)``, each rounded half-even
    to two decimals, the lower floored at 0.00 and the upper capped at 100.00; since the target
    is itself a two-decimal number, ``lower <= target <= upper`` always holds. Option ``cash``
    as for iRebal; the ``$CASH`` entry is listed only when cash is above zero (Orion holds no
    explicit zero cash target). Check the cash ticker against the firm's Orion set-up.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from .allocation import CASH, percent_allocation, to_decimal

DOCUMENT_KEYS = (
    "model_id",
    "name",
    "description",
    "version",
    "as_of",
    "effective_date",
    "hash",
    "weights",
)
HOLDING_KEYS = ("ticker", "name", "sector", "weight")
CSV_HEADER = ("ticker", "weight")
IREBAL_HEADER = ("Symbol", "Target %")
DEFAULT_TOLERANCE = Decimal("0.10")

DUST = 1e-12
"""A weight closer than this to zero, and not zero, is no position (see the module doc)."""

_CENT = Decimal("0.01")
_HUNDRED = Decimal(100)
_CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN)


def _ordered(mapping: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """``mapping`` with ``keys`` first, in that order, then any other key as it came."""
    result = {key: mapping[key] for key in keys if key in mapping}
    result.update((key, value) for key, value in mapping.items() if key not in result)
    return result


def _holdings(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The document's holdings, checked for shape and unique tickers, in ticker order."""
    if not isinstance(document, Mapping):
        raise ValueError(f"document must be a mapping, not {type(document).__name__}")
    weights = document.get("weights")
    if not isinstance(weights, list | tuple) or not weights:
        raise ValueError("document 'weights' must be a non-empty list")
    seen: set[str] = set()
    for i, holding in enumerate(weights):
        if not isinstance(holding, Mapping):
            raise ValueError(f"weights[{i}] must be a mapping")
        ticker = holding.get("ticker")
        if not isinstance(ticker, str) or not ticker.strip():
            raise ValueError(f"weights[{i}] has no ticker")
        if ticker in seen:
            raise ValueError(f"ticker {ticker!r} is listed twice")
        seen.add(ticker)
        weight = holding.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ValueError(f"weight of {ticker!r} must be a number, not {weight!r}")
    held = [holding for holding in weights if not _dust(holding)]
    return sorted(held, key=lambda holding: holding["ticker"])


def _dust(holding: object) -> bool:
    """Whether a holding's weight is floating point's residue (see the module doc)."""
    return isinstance(holding, Mapping) and is_residue(holding.get("weight"))


def is_residue(weight: object) -> bool:
    """Whether ``weight`` is floating point's residue, not a position (see the module doc)."""
    return isinstance(weight, float) and 0 < abs(weight) < DUST


def without_residue(weights: Mapping[str, float]) -> dict[str, float]:
    """``{ticker: weight}`` less the residue weights: what every answer shows of a version."""
    return {ticker: weight for ticker, weight in weights.items() if not is_residue(weight)}


def _allocation(document: Mapping[str, Any], cash: object) -> dict[str, Decimal]:
    """Two-decimal percent targets, securities rounding to 0.00 dropped, `CASH` kept last."""
    weights = {holding["ticker"]: holding["weight"] for holding in _holdings(document)}
    percents = percent_allocation(weights, decimals=2, cash=cash)
    return {ticker: p for ticker, p in percents.items() if p or ticker == CASH}


def _csv(rows: list[tuple[str, ...]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue()


_SCALAR = json.JSONEncoder(allow_nan=False).encode
"""``json.dumps(value, allow_nan=False)`` without making an encoder for each value."""


def _dumps(value: Any, level: int = 0) -> str:
    """``json.dumps(value, indent=2)``, but a `Decimal` is written as a number, digit for digit."""
    if isinstance(value, str | int | float) or value is None:  # first: the usual leaves
        return _SCALAR(value)
    pad = "\n" + "  " * (level + 1)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value!r} as JSON")
        return format(value, "f")
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        items = [f"{_SCALAR(str(k))}: {_dumps(v, level + 1)}" for k, v in value.items()]
        return "{" + pad + ("," + pad).join(items) + "\n" + "  " * level + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        items = [_dumps(v, level + 1) for v in value]
        return "[" + pad + ("," + pad).join(items) + "\n" + "  " * level + "]"
    return _SCALAR(value)


def render_json(document: Mapping[str, Any]) -> str:
    """The document as JSON, keys in canonical order (see the module doc)."""
    if not isinstance(document, Mapping):
        raise ValueError(f"document must be a mapping, not {type(document).__name__}")
    body = _ordered(document, DOCUMENT_KEYS)
    if isinstance(body.get("weights"), list | tuple):
        body["weights"] = [
            _ordered(h, HOLDING_KEYS) if isinstance(h, Mapping) else h
            for h in body["weights"]
            if not _dust(h)
        ]
    return json.dumps(body, indent=2, allow_nan=False) + "\n"


def render_csv(document: Mapping[str, Any]) -> str:
    """``ticker,weight`` rows, full-precision weights, LF line ends."""
    rows = [(h["ticker"], repr(float(h["weight"]))) for h in _holdings(document)]
    return _csv([CSV_HEADER, *rows])


def render_irebal(document: Mapping[str, Any], *, cash: object = 0) -> str:
    """Schwab iRebal security-model import: ``Symbol,Target %``, ``$CASH`` last, sum 100.00."""
    percents = _allocation(document, cash)
    return _csv([IREBAL_HEADER, *((ticker, format(p, "f")) for ticker, p in percents.items())])


def tolerance_band(target: Decimal, tolerance: Decimal) -> tuple[Decimal, Decimal]:
    """The (lower, upper) two-decimal band around a two-decimal percent ``target``."""
    lower = _CONTEXT.multiply(target, _CONTEXT.subtract(1, tolerance))
    upper = _CONTEXT.multiply(target, _CONTEXT.add(1, tolerance))
    lower = max(lower, Decimal(0)).quantize(_CENT, context=_CONTEXT)
    upper = min(upper, _HUNDRED).quantize(_CENT, context=_CONTEXT)
    return lower, upper


def render_orion(
    document: Mapping[str, Any], *, tolerance: object = DEFAULT_TOLERANCE, cash: object = 0
) -> str:
    """Orion Eclipse ticker-based model import JSON (see the module doc)."""
    band = to_decimal(tolerance, "tolerance")
    if band < 0:
        raise ValueError(f"tolerance must not be negative, not {tolerance!r}")
    percents = _allocation(document, cash)
    for key in ("model_id", "name"):
        if not isinstance(document.get(key), str) or not document[key]:
            raise ValueError(f"document {key!r} must be a non-empty string")
    if not percents[CASH]:
        del percents[CASH]
    securities = []
    for ticker, target in percents.items():
        lower, upper = tolerance_band(target, band)
        securities.append(
            {
                "ticker": ticker,
                "targetPercent": target,
                "lowerModelTolerancePercent": lower,
                "upperModelTolerancePercent": upper,
            }
        )
    body = {
        "name": document["name"],
        "description": document.get("description") or "",
        "externalId": document["model_id"],
        "version": document.get("version"),
        "securities": securities,
    }
    return _dumps(body) + "\n"
