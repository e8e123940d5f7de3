"""Licensee variants: a model derived from one of the nine by a customization.

A variant is a :class:`~service.engine.models.ModelSpec` like the nine, so the backtest builds
it exactly as it builds them. :func:`derive_spec` makes that spec from the base model, the
customization and the securities of the data, or raises :class:`VariantError` listing every
field at fault (``field`` names the request's field, e.g. ``exclude_tickers[1]`` or
``substitutions.HYG``).

The variant's universe is named outright (``Universe.tickers``): the base model's universe in
this data (or the shelf's tickers, when a shelf is given: a closed shelf holds only its own
products, mutual funds included), less the excluded tickers and sectors, with each substitution's
ticker in place of the one it replaces. Everything not customized is the base model's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .models import ModelSpec, Universe

if TYPE_CHECKING:
    import pandas as pd

    from .data import MarketData

RISK_MULTIPLIER_RANGE = (0.25, 3.0)
MAX_ANNUAL_FEE = 0.05
HOLDABLE = ("etf", "fund")


@dataclass(frozen=True)
class Customization:
    """What a licensee changes of a base model; None (or empty) keeps the base model's."""

    exclude_tickers: tuple[str, ...] = ()
    exclude_sectors: tuple[str, ...] = ()
    substitutions: Mapping[str, str] = field(default_factory=dict)
    shelf: Sequence[str] | None = None
    risk_multiplier: float | None = None
    max_position: float | None = None
    max_sector: float | None = None
    annual_fee: float | None = None


@dataclass(frozen=True)
class FieldError:
    """One problem of a customization: the request field it is about, and what is wrong."""

    field: str
    message: str


class VariantError(ValueError):
    """A customization that cannot make a model; ``errors`` lists every field at fault."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


def derive_spec(
    base: ModelSpec,
    customization: Customization,
    data: MarketData,
    *,
    variant_id: str,
    name: str,
) -> ModelSpec:
    """The variant's definition: ``base`` with ``customization`` applied.

    Parameters
    ----------
    base : ModelSpec
        One of the nine models.
    customization : Customization
        The licensee's changes.
    data : MarketData
        The data the variant is built on: its securities, and its prices for the tickers that
        have the risk model's two years of history at the first rebalance.
    variant_id, name : str
        The variant's id and name.

    Raises
    ------
    VariantError
        Listing every field at fault.
    """
    c = customization
    securities = data.securities
    errors: list[FieldError] = []
    holdable = securities.index[securities["kind"].isin(HOLDABLE)]
    sectors = set(securities.loc[holdable, "sector"])
    for i, ticker in enumerate(c.exclude_tickers):
        if ticker not in holdable:
            errors.append(FieldError(f"exclude_tickers[{i}]", f"{ticker!r} is not in the data."))
    for i, sector in enumerate(c.exclude_sectors):
        if sector not in sectors:
            errors.append(FieldError(f"exclude_sectors[{i}]", f"{sector!r} is not a sector."))
    if c.shelf is not None:
        unknown = [t for t in c.shelf if t not in holdable]
        if unknown:
            errors.append(FieldError("shelf", f"holds tickers not in the data: {unknown}."))
    start = list(c.shelf) if c.shelf is not None else list(base.universe.select(securities))
    for source, target in c.substitutions.items():
        where = f"substitutions.{source}"
        if source in c.exclude_tickers:
            errors.append(FieldError(where, f"{source} is both excluded and substituted."))
        elif source not in start:
            errors.append(FieldError(where, f"{source} is not in the universe it would leave."))
        if target not in holdable:
            errors.append(FieldError(where, f"{target!r} is not in the data."))
        elif c.shelf is not None and target not in c.shelf:
            errors.append(FieldError(where, f"{target} is not on the shelf."))
    errors += range_errors(base, c)
    if errors:
        raise VariantError(errors)

    excluded = set(c.exclude_tickers)
    kept = [
        t
        for t in start
        if t not in excluded and securities.at[t, "sector"] not in c.exclude_sectors
    ]
    tickers = [c.substitutions.get(t, t) for t in kept]
    tickers = sorted(dict.fromkeys(tickers))
    spec = replace(
        base,
        id=variant_id,
        name=name,
        description=f"{base.name} customized: {describe(c)}.",
        risk_multiplier=first(c.risk_multiplier, base.risk_multiplier),
        universe=Universe(tickers=tuple(tickers)),
        annual_fee=first(c.annual_fee, base.annual_fee),
        max_position=first(c.max_position, base.max_position),
        max_sector=first(c.max_sector, base.max_sector),
    )
    feasibility = investable(spec, securities, c) or investable_at_start(spec, data)
    if feasibility:
        raise VariantError([feasibility])
    return spec


def first(value, default):
    """``value``, or ``default`` when it is None."""
    return default if value is None else value


def range_errors(base: ModelSpec, c: Customization) -> list[FieldError]:
    """The numbers out of their ranges, and caps asked of a model that has none."""
    errors = []
    low, high = RISK_MULTIPLIER_RANGE
    if c.risk_multiplier is not None and not low <= c.risk_multiplier <= high:
        errors.append(
            FieldError("risk_multiplier", f"Must be from {low} to {high}, not {c.risk_multiplier}.")
        )
    for name in ("max_position", "max_sector"):
        value = getattr(c, name)
        if value is None:
            continue
        if base.algorithm != "optimizer":
            errors.append(FieldError(name, f"{base.id} follows the trend rule, which has no caps."))
        elif not 0 < value <= 1:
            errors.append(FieldError(name, f"Must be above 0 and at most 1, not {value}."))
    if c.annual_fee is not None and not 0 <= c.annual_fee <= MAX_ANNUAL_FEE:
        errors.append(
            FieldError("annual_fee", f"Must be from 0 to {MAX_ANNUAL_FEE}, not {c.annual_fee}.")
        )
    return errors


def investable(
    spec: ModelSpec, securities: pd.DataFrame, c: Customization | None = None
) -> FieldError | None:
    """Why the universe cannot be fully invested under the caps, or None when it can."""
    tickers = list(spec.universe.tickers or ())
    n = len(tickers)
    if n == 0:
        c = c or Customization()
        where = "shelf" if c.shelf is not None and not c.exclude_tickers else "exclude_tickers"
        if c.exclude_sectors:
            where = "exclude_sectors"
        return FieldError(where, "Leaves the universe empty.")
    if spec.algorithm != "optimizer":
        return None
    noun = "fund" if (securities.loc[tickers, "kind"] == "fund").all() else "ETF"
    if n * spec.max_position < 1 - 1e-9:
        return FieldError(
            "max_position",
            f"{n} {noun}{'s' if n > 1 else ''} at most {percent(spec.max_position)} each "
            "cannot make 100%.",
        )
    per_sector = securities.loc[tickers, "sector"].value_counts()
    reachable = sum(min(spec.max_sector, k * spec.max_position) for k in per_sector)
    if reachable < 1 - 1e-9:
        return FieldError(
            "max_sector",
            f"{n} {noun}s in {len(per_sector)} sectors, at most {percent(spec.max_sector)} a "
            f"sector and {percent(spec.max_position)} each, cannot make 100%.",
        )
    return None


def investable_at_start(spec: ModelSpec, data: MarketData) -> FieldError | None:
    """Why the first rebalance cannot be fully invested, or None when it can.

    The risk model leaves out a series without two full years of prices at a rebalance, so
    the first rebalance (December 2015) holds only the universe's older series. Series never
    stop, so no later month holds fewer.
    """
    from .analytics import ITD_START
    from .backtest import rebalance_dates
    from .risk import WINDOW_DAYS

    first_date = rebalance_dates(data.prices, ITD_START)[0]
    window = data.prices.loc[:first_date].iloc[-(WINDOW_DAYS + 1) :]
    tickers = list(spec.universe.tickers or ())
    ready = [t for t in tickers if len(window) > WINDOW_DAYS and window[t].notna().all()]
    if len(ready) == len(tickers):
        return None
    on = f"On {first_date:%Y-%m-%d}, the first rebalance, "
    if not ready:
        return FieldError("universe", on + "no ticker of the universe has two years of prices.")
    if spec.algorithm != "optimizer":
        return None
    problem = investable(replace(spec, universe=Universe(tickers=tuple(ready))), data.securities)
    if problem is None:
        return None
    return FieldError(problem.field, on + f"{problem.message[0].lower()}{problem.message[1:]}")


def percent(share: float) -> str:
    """``share`` as a percentage, with decimals only where it has them: 10%, 2.5%."""
    return f"{share * 100:.4g}%"


def describe(c: Customization) -> str:
    """The customization in a few words, for the variant's description."""
    parts = []
    if c.shelf is not None:
        parts.append(f"a shelf of {len(c.shelf)}")
    if c.exclude_tickers:
        parts.append("without " + ", ".join(c.exclude_tickers))
    if c.exclude_sectors:
        parts.append("without the sectors " + ", ".join(c.exclude_sectors))
    parts += [f"{a} for {b}" for b, a in c.substitutions.items()]
    if c.risk_multiplier is not None:
        parts.append(f"{c.risk_multiplier:g}x the risk")
    if c.max_position is not None:
        parts.append(f"positions up to {percent(c.max_position)}")
    if c.max_sector is not None:
        parts.append(f"sectors up to {percent(c.max_sector)}")
    if c.annual_fee is not None:
        parts.append(f"a fee of {percent(c.annual_fee)}")
    return ", ".join(parts) or "as the base model"


def spec_from_definition(document: Mapping) -> ModelSpec:
    """The ModelSpec of a published definition document (``service.publishing``'s), as the
    ledger keeps it: the inverse of ``definition_document``."""
    fields = dict(document)
    universe = fields.pop("universe")
    fields = {k: v for k, v in fields.items() if k in ModelSpec.__dataclass_fields__}
    return ModelSpec(
        **fields,
        universe=Universe(
            tickers=tuple(universe["tickers"]) if universe["tickers"] is not None else None,
            sectors=frozenset(universe["sectors"]) if universe["sectors"] is not None else None,
            ig_only=universe["ig_only"],
            min_aum=universe["min_aum"],
            exclude=frozenset(universe.get("exclude", ())),
        ),
    )
