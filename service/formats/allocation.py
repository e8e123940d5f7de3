"""Turn decimal weights into percentages with a fixed number of decimals that sum exactly to 100.

Platforms import a model without editing it and reject (or silently re-scale) targets that do not
add up to 100%. Rounding each weight on its own does not guarantee that: three equal weights
round to 33.33 + 33.33 + 33.33 = 99.99. `percent_allocation` therefore uses the
largest-remainder (Hamilton) method on integer units of ``10**-decimals`` percent (with the
default ``decimals=2``, hundredths of a percent, i.e. basis points):

1. ``cash`` (a decimal fraction of the portfolio, default 0) is carved out first. It must be a
   whole number of units (with ``decimals=2``, a multiple of 0.0001) and lie in [0, 1).
2. The weights are normalised exactly (they must already sum to 1 within 1e-9; the check
   catches percentages passed by mistake) and each security's exact quota of the remaining
   units is computed in exact integer arithmetic (each weight is an exact fraction, taken over
   the weights' common denominator): floats are never summed or rounded.
3. Every security receives the floor of its quota; the units left over (fewer than the number
   of securities) go one each to the securities with the largest fractional remainders. Equal
   remainders are broken by ticker, in ascending order, so the result is deterministic and does
   not depend on the order of the input.

Hence the percentages sum to exactly 100, each is the floor or the ceiling of the security's
exact share (so within one unit, 0.01 percentage points, of ``weight * (100 - cash%)``), and a
security is only rounded up if no security with a larger remainder was rounded down.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from numbers import Real

CASH = "$CASH"
"""The key of the cash target, always the last key of `percent_allocation`'s result."""

WEIGHT_SUM_TOLERANCE = Fraction(1, 10**9)
"""How far from 1 the weights may sum (documents guarantee 1e-9)."""


def to_decimal(value: object, name: str) -> Decimal:
    """Parse an option given as a number or a string (e.g. from a query string) exactly.

    Floats are read through their shortest repr, so ``0.02`` means ``Decimal("0.02")``.
    """
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, not {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{name} must be a number, not {value!r}") from None
    else:
        raise ValueError(f"{name} must be a number, not {value!r}")
    if not result.is_finite():
        raise ValueError(f"{name} must be finite, not {value!r}")
    return result


def _exact_weight(ticker: str, weight: object) -> Fraction:
    if type(weight) is float and 0 <= weight < math.inf:  # a document's weight: at once
        return Fraction(weight)
    if isinstance(weight, bool) or not isinstance(weight, Real | Decimal):
        raise ValueError(f"weight of {ticker!r} must be a number, not {weight!r}")
    try:
        exact = Fraction(weight)
    except (ValueError, OverflowError):
        raise ValueError(f"weight of {ticker!r} must be finite, not {weight!r}") from None
    if exact < 0:
        raise ValueError(f"weight of {ticker!r} must not be negative, not {weight!r}")
    return exact


def allocate_units(weights: Mapping[str, Fraction], units: int) -> dict[str, int]:
    """Split ``units`` (an integer >= 0) in proportion to ``weights`` (largest remainder).

    ``weights`` are exact non-negative fractions with a positive sum; the result has the same
    keys, in ticker order, and its values sum to ``units``.

    In integers over the weights' common denominator, not in `Fraction`, each of whose
    operations reduces by a gcd (thirty weights: 23 µs, not 145 µs): a quota's floor and
    remainder are a ``divmod`` by the total, the largest remainder the largest fractional part.
    """
    numerators, _ = common_denominator(weights)
    total = sum(numerators.values())
    if total <= 0:
        raise ValueError("weights must have a positive sum")
    result, remainders = {}, {}
    for ticker in sorted(numerators):
        result[ticker], remainders[ticker] = divmod(numerators[ticker] * units, total)
    left = units - sum(result.values())
    by_remainder = sorted(remainders, key=lambda ticker: (-remainders[ticker], ticker))
    for ticker in by_remainder[:left]:
        result[ticker] += 1
    return result


def common_denominator(fractions: Mapping[str, Fraction]) -> tuple[dict[str, int], int]:
    """The fractions' numerators over their least common denominator, and that denominator."""
    denominator = math.lcm(*(f.denominator for f in fractions.values()))
    numerators = {k: f.numerator * (denominator // f.denominator) for k, f in fractions.items()}
    return numerators, denominator


def percent_allocation(
    weights: Mapping[str, float], *, decimals: int = 2, cash: object = 0.0
) -> dict[str, Decimal]:
    """Percent targets with ``decimals`` decimals summing exactly to 100 (see the module doc).

    Returns every ticker of ``weights`` in ticker order (securities whose target rounds to zero
    included, with a zero target), then `CASH` (zero when ``cash`` is 0). ``cash`` is a decimal
    fraction of the portfolio (0.02 for 2%), as a number or a numeric string. Raises
    `ValueError` for an invalid weight, cash or ``decimals``.
    """
    if isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0:
        raise ValueError(f"decimals must be a non-negative integer, not {decimals!r}")
    if CASH in weights:
        raise ValueError(f"{CASH!r} is reserved for the cash target and cannot be a ticker")
    if not weights:
        raise ValueError("weights must not be empty")
    exact = {ticker: _exact_weight(ticker, weight) for ticker, weight in weights.items()}
    numerators, denominator = common_denominator(exact)
    total = Fraction(sum(numerators.values()), denominator)
    if abs(total - 1) > WEIGHT_SUM_TOLERANCE:
        raise ValueError(f"weights must sum to 1 (within 1e-9), not {float(total)!r}")

    units = 100 * 10**decimals
    cash_fraction = Fraction(to_decimal(cash, "cash"))
    if not 0 <= cash_fraction < 1:
        raise ValueError(f"cash must be at least 0 and below 1, not {cash!r}")
    cash_units = cash_fraction * units
    if cash_units.denominator != 1:
        step = Fraction(1, units)
        raise ValueError(
            f"cash {cash!r} is not a multiple of {Decimal(step.numerator) / step.denominator}"
        )

    allocated = allocate_units(exact, units - int(cash_units))
    allocated[CASH] = int(cash_units)
    return {ticker: Decimal(f"{n}E-{decimals}") for ticker, n in allocated.items()}
