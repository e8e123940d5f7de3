"""The nine model portfolios and the seven passive benchmarks, declared in one place.

A model is data: which ETFs it may hold, whose risk it targets and at what multiple, its caps,
its fee and its algorithm. The backtest reads these definitions; nothing else encodes a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported where a universe is selected, not here: the service reads the models'
# declarations (their ids, to license keys and check requests) in every process, most of which
# never run the engine.

# Sectors the Bloomberg US Aggregate Index covers: investment grade, USD, taxable, fixed rate,
# over one year to maturity. Cash-like, floating-rate, TIPS, munis and foreign bonds are out.
AGG_SECTORS = frozenset(
    {
        "aggregate",
        "treasury_1_3y",
        "treasury_3_7y",
        "treasury_7_10y",
        "treasury_10_20y",
        "treasury_20y_plus",
        "treasury_broad",
        "agency",
        "mbs",
        "cmbs",
        "abs",
        "ig_corp_short",
        "ig_corp_intermediate",
        "ig_corp_long",
        "ig_corp_broad",
    }
)
ACTIVE_IG_ETFS = ("SHY", "IEI", "IEF", "TLT", "VCSH", "LQD", "MBB", "TIP")
ACTIVE_BROAD_ETFS = ("SHY", "IEF", "TLT", "VCSH", "LQD", "MBB", "TIP", "HYG", "EMB")
# The trade lists an account may ask for (``service.engine.trades``), and the tolerance bands a
# model's ``band_type`` may be: here, with the models' defaults, rather than beside the trade
# engine, so that the API and the CLI can check them without importing numpy.
MODES = ("full", "band", "buy_only", "sell_only")
BAND_TYPES = ("absolute", "relative")
# The optimizer models' turnover control: a trade must promise 4% a year of expected return per
# unit of weight moved. A linear cost rather than the quadratic penalty, which cuts turnover by
# nudging every weight a little and costs far more return for the same reduction; on the sample
# it brings every optimizer model to at most 3 trades a year (25% a month).
TURNOVER_COST = 0.04


@dataclass(frozen=True)
class Universe:
    """Which ETFs (and funds) a model may hold.

    ``tickers`` names them outright (ETFs or funds: a platform's shelf may hold its own mutual
    funds); otherwise every ETF whose sector is in ``sectors`` (all sectors when None), that is
    investment grade if ``ig_only``, with at least ``min_aum`` USD under management. A rule
    selects ETFs only: a fund enters a universe only by name. ``exclude`` is left out either way.
    """

    tickers: tuple[str, ...] | None = None
    sectors: frozenset[str] | None = None
    ig_only: bool = False
    min_aum: float = 0.0
    exclude: frozenset[str] = frozenset()

    def select(self, securities: pd.DataFrame) -> pd.Index:
        """The tickers of ``securities`` (indexed by ticker) that belong to this universe."""
        import pandas as pd

        if self.tickers is not None:
            holdable = securities.index[securities["kind"].isin(("etf", "fund"))]
            return pd.Index([t for t in self.tickers if t in holdable and t not in self.exclude])
        etfs = securities[securities["kind"] == "etf"]
        keep = (etfs["aum"] >= self.min_aum) & ~etfs.index.isin(list(self.exclude))
        if self.sectors is not None:
            keep &= etfs["sector"].isin(self.sectors)
        if self.ig_only:
            keep &= etfs["ig"].astype(bool)
        return etfs.index[keep]


@dataclass(frozen=True)
class ModelSpec:
    """One model portfolio.

    ``benchmark`` is the ETF whose ex-ante volatility, times ``risk_multiplier``, is the target.
    ``algorithm`` is ``"optimizer"`` (maximize the signal's expected return at the target risk,
    under ``max_position`` and ``max_sector`` caps, a quadratic ``turnover_penalty`` and a
    linear ``turnover_cost`` per unit of weight traded) or
    ``"trend_rule"`` (the transparent rule of the active benchmark indices). ``annual_fee`` is
    taken out of the returns monthly. ``band`` and ``band_type`` are the tolerance band account
    trade lists use unless a request sets its own (see :mod:`service.engine.trades`): by default
    10% of each target weight, the band of the Orion documents.
    """

    id: str
    name: str
    group: str
    description: str
    benchmark: str
    risk_multiplier: float
    universe: Universe
    algorithm: str
    annual_fee: float
    max_position: float = 1.0
    max_sector: float = 1.0
    turnover_penalty: float = 0.0
    turnover_cost: float = 0.0
    signal: str = "trend"
    band: float = 0.10
    band_type: str = "relative"


@dataclass(frozen=True)
class PassiveBenchmark:
    """A passive benchmark index: its id, its name and the ticker of its series in the data."""

    id: str
    name: str
    ticker: str = field(default="")

    def __post_init__(self) -> None:
        if not self.ticker:
            object.__setattr__(self, "ticker", self.id.upper())


BROAD = Universe(min_aum=1e8)
MODELS: dict[str, ModelSpec] = {
    m.id: m
    for m in [
        ModelSpec(
            "agg-plus-baseline",
            "AGG+ Baseline",
            "model",
            "The primary model: ETFs of most fixed-income asset classes, at the AGG ETF's risk.",
            benchmark="AGG",
            risk_multiplier=1.0,
            universe=BROAD,
            algorithm="optimizer",
            turnover_cost=TURNOVER_COST,
            annual_fee=0.004,
            max_position=0.10,
            max_sector=0.35,
        ),
        ModelSpec(
            "agg-plus-aggressive",
            "AGG+ Aggressive",
            "model",
            "The Baseline's ETFs at one and a half times the AGG ETF's risk.",
            benchmark="AGG",
            risk_multiplier=1.5,
            universe=BROAD,
            algorithm="optimizer",
            turnover_cost=TURNOVER_COST,
            annual_fee=0.004,
            max_position=0.15,
            max_sector=0.50,
        ),
        ModelSpec(
            "agg-plus-aggressive-diversified",
            "AGG+ Aggressive-Diversified",
            "model",
            "The Aggressive model's risk with tighter position and sector caps.",
            benchmark="AGG",
            risk_multiplier=1.5,
            universe=BROAD,
            algorithm="optimizer",
            turnover_cost=TURNOVER_COST,
            annual_fee=0.004,
            max_position=0.06,
            max_sector=0.25,
        ),
        ModelSpec(
            "agg-plus-ig",
            "AGG+ Inv Grade",
            "model",
            "Investment-grade sectors of the Agg Index only, at the AGG ETF's risk.",
            benchmark="AGG",
            risk_multiplier=1.0,
            universe=Universe(sectors=AGG_SECTORS, ig_only=True, min_aum=1e8),
            algorithm="optimizer",
            turnover_cost=TURNOVER_COST,
            annual_fee=0.004,
            max_position=0.15,
            max_sector=0.40,
        ),
        ModelSpec(
            "hy-plus-baseline",
            "HY+ Baseline",
            "model",
            "ETFs of every fixed-income asset class at the HYG ETF's risk.",
            benchmark="HYG",
            risk_multiplier=1.0,
            universe=BROAD,
            algorithm="optimizer",
            turnover_cost=TURNOVER_COST,
            annual_fee=0.004,
            max_position=0.10,
            max_sector=0.40,
        ),
        ModelSpec(
            "hy-plus-aggressive",
            "HY+ Aggressive",
            "model",
            "The HY+ Baseline's ETFs at one and a half times the HYG ETF's risk.",
            benchmark="HYG",
            risk_multiplier=1.5,
            universe=BROAD,
            algorithm="optimizer",
            turnover_cost=TURNOVER_COST,
            annual_fee=0.004,
            max_position=0.15,
            max_sector=0.50,
        ),
        ModelSpec(
            "active-ig-benchmark",
            "Active IG Benchmark",
            "active_benchmark",
            "Eight large IG benchmark ETFs under the transparent trend rule, at the AGG's risk.",
            benchmark="AGG",
            risk_multiplier=1.0,
            universe=Universe(tickers=ACTIVE_IG_ETFS),
            algorithm="trend_rule",
            annual_fee=0.0015,
        ),
        ModelSpec(
            "active-broad-benchmark",
            "Active Broad Benchmark",
            "active_benchmark",
            "Nine large benchmark ETFs under the transparent trend rule, at the AGG's risk.",
            benchmark="AGG",
            risk_multiplier=1.0,
            universe=Universe(tickers=ACTIVE_BROAD_ETFS),
            algorithm="trend_rule",
            annual_fee=0.0015,
        ),
        ModelSpec(
            "active-broad-benchmark-plus",
            "Active Broad Benchmark+",
            "model",
            "The Active Broad Benchmark's nine ETFs with the full optimizer, at the AGG's risk.",
            benchmark="AGG",
            risk_multiplier=1.0,
            universe=Universe(tickers=ACTIVE_BROAD_ETFS),
            algorithm="optimizer",
            turnover_cost=TURNOVER_COST,
            annual_fee=0.0025,
            max_position=0.40,
        ),
    ]
}
PASSIVE_BENCHMARKS: dict[str, PassiveBenchmark] = {
    b.id: b
    for b in [
        PassiveBenchmark("agg-index", "Agg Index"),
        PassiveBenchmark("us-treasury", "U.S. Treasury"),
        PassiveBenchmark("govt-related", "Govt-Related"),
        PassiveBenchmark("corporate", "Corporate"),
        PassiveBenchmark("securitized", "Securitized"),
        PassiveBenchmark("mbs", "MBS"),
        PassiveBenchmark("high-yield", "High Yield"),
    ]
}
AGG_INDEX = PASSIVE_BENCHMARKS["agg-index"].ticker
