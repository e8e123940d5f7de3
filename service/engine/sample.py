"""A deterministic, synthetic sample universe of fixed-income ETFs and benchmark indices.

This is sample data, not market data. It exists so the product runs, and is tested, without any
download. The universe has over 400 ETFs: about seventy carry real tickers with their public facts
(sector, approximate duration, expense ratio, inception); the rest are synthetic and say so in
their names. Daily total-return levels come from a factor model of the Treasury curve (level and
slope), IG, HY, mortgage and EM spreads, inflation breakevens and the dollar, with the episodes a
credible 2013-2024 history has (the 2013 taper tantrum, the March 2020 credit crash, the 2022 rate
shock). ETF returns are net of their expense ratios.

The seven passive benchmark indices of the September 2024 newsletter (``agg-index`` ...) are
calibrated so that their cumulative returns over the newsletter's six periods equal the published
figures, and their beta and correlation to the Agg Index match the published ones. The AGG and BND
ETFs track the Agg Index, HYG and JNK the High Yield index, less their fees.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from .analytics import ITD_START, PERIOD_COLUMNS, period_months
from .data import MarketData, load_data
from .models import AGG_INDEX, PASSIVE_BENCHMARKS
from .seed import SEED_AS_OF, seed_table

START = "2013-01-02"
END = "2024-09-30"
SEED = 20240930
DAYS_PER_YEAR = 252

# Anchor paths of the market state (decimal yields and spreads, log dollar index). Between
# anchors the path is a Brownian bridge, so the anchors, taken from the shape of the real
# 2013-2024 history, hold exactly and the noise in between is random.
# fmt: off
ANCHORS = {
    "level": [  # 10-year Treasury yield
        ("2013-01-02", 0.0185), ("2013-09-05", 0.0298), ("2014-12-31", 0.0217),
        ("2015-12-31", 0.0227), ("2016-07-08", 0.0137), ("2016-12-15", 0.0260),
        ("2017-12-29", 0.0241), ("2018-11-08", 0.0324), ("2018-12-31", 0.0269),
        ("2019-09-03", 0.0147), ("2019-12-31", 0.0192), ("2020-03-09", 0.0054),
        ("2020-12-31", 0.0093), ("2021-03-31", 0.0174), ("2021-12-31", 0.0152),
        ("2022-06-14", 0.0348), ("2022-10-24", 0.0425), ("2022-12-30", 0.0388),
        ("2023-04-06", 0.0329), ("2023-10-19", 0.0498), ("2023-12-27", 0.0379),
        ("2024-04-25", 0.0470), ("2024-09-16", 0.0362), ("2024-09-30", 0.0378),
    ],
    "slope": [  # 10-year minus 2-year
        ("2013-01-02", 0.0160), ("2013-12-31", 0.0265), ("2015-12-31", 0.0121),
        ("2017-12-29", 0.0052), ("2019-08-27", -0.0005), ("2020-06-30", 0.0050),
        ("2021-03-31", 0.0158), ("2021-12-31", 0.0078), ("2022-07-29", -0.0025),
        ("2023-07-03", -0.0108), ("2023-12-29", -0.0037), ("2024-09-30", 0.0014),
    ],
    "short": [  # 3-month T-bill yield
        ("2013-01-02", 0.0007), ("2015-11-30", 0.0022), ("2016-12-30", 0.0051),
        ("2017-12-29", 0.0139), ("2018-12-31", 0.0236), ("2019-07-31", 0.0208),
        ("2019-12-31", 0.0155), ("2020-02-28", 0.0127), ("2020-03-31", 0.0011),
        ("2021-12-31", 0.0006), ("2022-03-31", 0.0052), ("2022-12-30", 0.0442),
        ("2023-07-31", 0.0555), ("2024-08-30", 0.0521), ("2024-09-30", 0.0473),
    ],
    "ig": [  # IG corporate option-adjusted spread
        ("2013-01-02", 0.0141), ("2014-06-30", 0.0104), ("2015-12-31", 0.0165),
        ("2016-02-11", 0.0215), ("2016-12-30", 0.0129), ("2017-12-29", 0.0093),
        ("2018-12-31", 0.0153), ("2019-12-31", 0.0098), ("2020-02-20", 0.0096),
        ("2020-03-23", 0.0373), ("2020-06-30", 0.0150), ("2021-12-31", 0.0092),
        ("2022-10-21", 0.0164), ("2023-03-15", 0.0161), ("2023-12-29", 0.0099),
        ("2024-09-30", 0.0089),
    ],
    "hy": [  # high-yield option-adjusted spread
        ("2013-01-02", 0.0511), ("2014-06-23", 0.0335), ("2015-12-31", 0.0695),
        ("2016-02-11", 0.0839), ("2016-12-30", 0.0409), ("2017-12-29", 0.0358),
        ("2018-12-31", 0.0533), ("2019-12-31", 0.0360), ("2020-02-20", 0.0350),
        ("2020-03-23", 0.1087), ("2020-12-31", 0.0386), ("2021-12-31", 0.0310),
        ("2022-07-05", 0.0583), ("2022-12-30", 0.0481), ("2023-12-29", 0.0339),
        ("2024-09-30", 0.0295),
    ],
    "mtg": [  # current-coupon mortgage spread over Treasuries
        ("2013-01-02", 0.0080), ("2015-12-31", 0.0095), ("2019-12-31", 0.0090),
        ("2020-03-18", 0.0160), ("2021-06-30", 0.0060), ("2022-10-31", 0.0175),
        ("2023-10-31", 0.0185), ("2024-09-30", 0.0125),
    ],
    "em": [  # EM USD sovereign spread
        ("2013-01-02", 0.0260), ("2013-06-30", 0.0340), ("2015-12-31", 0.0440),
        ("2016-02-11", 0.0510), ("2017-12-29", 0.0300), ("2018-12-31", 0.0420),
        ("2019-12-31", 0.0290), ("2020-03-23", 0.0720), ("2020-12-31", 0.0350),
        ("2022-10-21", 0.0540), ("2023-12-29", 0.0380), ("2024-09-30", 0.0330),
    ],
    "breakeven": [  # 10-year inflation breakeven
        ("2013-01-02", 0.0250), ("2015-12-31", 0.0160), ("2016-02-11", 0.0140),
        ("2018-05-31", 0.0212), ("2019-12-31", 0.0179), ("2020-03-19", 0.0087),
        ("2021-12-31", 0.0256), ("2022-04-21", 0.0302), ("2023-12-29", 0.0216),
        ("2024-09-30", 0.0219),
    ],
    "dollar": [  # log of a trade-weighted dollar index
        ("2013-01-02", np.log(80.0)), ("2015-03-13", np.log(100.0)),
        ("2018-01-31", np.log(89.0)), ("2020-03-19", np.log(103.0)),
        ("2021-05-31", np.log(90.0)), ("2022-09-27", np.log(114.0)),
        ("2023-07-14", np.log(100.0)), ("2024-09-30", np.log(100.8)),
    ],
}
# fmt: on
FACTORS = ("level", "slope", "short", "ig", "hy", "mtg", "em", "breakeven", "dollar")
# Daily noise of each factor in calm markets, and the correlation of the shocks.
# fmt: off
FACTOR_VOL = np.array(
    [0.00045, 0.00030, 0.00002, 0.00025, 0.00140, 0.00025, 0.00080, 0.00025, 0.0035]
)
FACTOR_CORR = np.array([
    # level slope short  ig    hy    mtg   em    be    dollar
    [1.00, 0.35, 0.10, -0.30, -0.30, -0.10, -0.20, 0.45, 0.10],
    [0.35, 1.00, -0.10, -0.10, -0.10, 0.00, -0.05, 0.15, 0.00],
    [0.10, -0.10, 1.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00],
    [-0.30, -0.10, 0.00, 1.00, 0.70, 0.35, 0.55, -0.25, 0.20],
    [-0.30, -0.10, 0.00, 0.70, 1.00, 0.30, 0.60, -0.30, 0.25],
    [-0.10, 0.00, 0.00, 0.35, 0.30, 1.00, 0.20, -0.10, 0.05],
    [-0.20, -0.05, 0.00, 0.55, 0.60, 0.20, 1.00, -0.25, 0.40],
    [0.45, 0.15, 0.00, -0.25, -0.30, -0.10, -0.25, 1.00, -0.15],
    [0.10, 0.00, 0.00, 0.20, 0.25, 0.05, 0.40, -0.15, 1.00],
])
# fmt: on
# Periods of stress: (start, end, multiplier of factor noise).
STRESS = [
    ("2013-05-20", "2013-09-30", 1.5),
    ("2015-12-01", "2016-02-29", 1.5),
    ("2020-02-24", "2020-03-31", 4.0),
    ("2020-04-01", "2020-06-30", 2.0),
    ("2022-01-01", "2023-12-31", 1.4),
]


@dataclass(frozen=True)
class Sector:
    """How one sector's ETFs load on the factors.

    ``rates`` scales the sensitivity to the Treasury curve (0 for floating rate), ``spread`` names
    the spread factor, ``spread_duration`` is the spread duration as a share of duration,
    ``spread_multiple`` the sector's spread over the factor's level (its carry), ``loss`` the
    annual default or currency loss that offsets that carry, ``fx`` the loading on the dollar,
    ``breakeven`` the loading on inflation breakevens, ``idio`` the daily idiosyncratic noise.
    """

    name: str
    label: str
    durations: tuple[float, float]
    ig: bool
    synthetic: int
    rates: float = 1.0
    spread: str | None = None
    spread_duration: float = 1.0
    spread_multiple: float = 1.0
    loss: float = 0.0
    fx: float = 0.0
    breakeven: float = 0.0
    idio: float = 0.0002
    expense: tuple[float, float] = (0.0005, 0.0035)
    bid_ask: tuple[float, float] = (0.0002, 0.0015)


# fmt: off
SECTORS = {
    s.name: s
    for s in [
        Sector("cash_like", "T-Bill", (0.05, 0.3), True, 11, idio=0.00001,
               expense=(0.0007, 0.002), bid_ask=(0.0001, 0.0003)),
        Sector("ultra_short", "Ultra-Short Bond", (0.1, 1.0), True, 15, spread="ig",
               spread_duration=1.0, spread_multiple=0.5, loss=0.001, idio=0.00004,
               expense=(0.0015, 0.0040), bid_ask=(0.0001, 0.0006)),
        Sector("treasury_1_3y", "Treasury 1-3 Year", (1.7, 2.1), True, 11, idio=0.00003,
               expense=(0.0003, 0.0015), bid_ask=(0.0001, 0.0004)),
        Sector("treasury_3_7y", "Treasury 3-7 Year", (4.0, 5.5), True, 11, idio=0.00005,
               expense=(0.0003, 0.0015), bid_ask=(0.0001, 0.0005)),
        Sector("treasury_7_10y", "Treasury 7-10 Year", (6.8, 7.8), True, 11, idio=0.00007,
               expense=(0.0003, 0.0015), bid_ask=(0.0001, 0.0005)),
        Sector("treasury_10_20y", "Treasury 10-20 Year", (11.0, 13.0), True, 11, idio=0.0001,
               expense=(0.0003, 0.0015), bid_ask=(0.0002, 0.0008)),
        Sector("treasury_20y_plus", "Treasury 20+ Year", (15.0, 24.0), True, 11, idio=0.00015,
               expense=(0.0003, 0.0015), bid_ask=(0.0001, 0.0008)),
        Sector("treasury_broad", "Treasury Broad", (5.5, 6.5), True, 9, idio=0.00005,
               expense=(0.0003, 0.0015), bid_ask=(0.0001, 0.0005)),
        Sector("tips", "TIPS", (2.3, 7.5), True, 13, breakeven=1.0, idio=0.0001,
               expense=(0.0003, 0.0020), bid_ask=(0.0001, 0.0006)),
        Sector("agency", "Agency", (2.5, 5.0), True, 13, spread="ig", spread_multiple=0.25,
               idio=0.00008, expense=(0.0010, 0.0025)),
        Sector("mbs", "MBS", (5.0, 6.5), True, 13, spread="mtg", idio=0.0001,
               expense=(0.0004, 0.0030), bid_ask=(0.0001, 0.0008)),
        Sector("cmbs", "CMBS", (4.0, 5.5), True, 13, spread="ig", spread_multiple=1.15,
               loss=0.001, idio=0.00015, expense=(0.0015, 0.0035)),
        Sector("abs", "ABS", (1.5, 3.0), True, 13, spread="ig", spread_multiple=0.7,
               loss=0.0005, idio=0.0001, expense=(0.0015, 0.0035)),
        Sector("aggregate", "Aggregate Bond", (5.8, 6.4), True, 11, idio=0.00005,
               expense=(0.0003, 0.0010), bid_ask=(0.0001, 0.0004)),
        Sector("ig_corp_short", "IG Corporate 1-5 Year", (1.9, 3.0), True, 13, spread="ig",
               spread_multiple=0.7, loss=0.001, idio=0.00008, expense=(0.0004, 0.0020)),
        Sector("ig_corp_intermediate", "IG Corporate 5-10 Year", (5.5, 7.0), True, 13,
               spread="ig", spread_multiple=1.0, loss=0.0015, idio=0.00015,
               expense=(0.0004, 0.0020)),
        Sector("ig_corp_long", "IG Corporate 10+ Year", (12.0, 14.5), True, 13, spread="ig",
               spread_multiple=1.25, loss=0.002, idio=0.00025, expense=(0.0004, 0.0020)),
        Sector("ig_corp_broad", "IG Corporate Broad", (6.5, 8.5), True, 11, spread="ig",
               spread_multiple=1.0, loss=0.0015, idio=0.00012, expense=(0.0004, 0.0020)),
        Sector("high_yield", "High Yield", (2.0, 5.0), False, 15, rates=0.6, spread="hy",
               loss=0.022, idio=0.0004, expense=(0.0008, 0.0050), bid_ask=(0.0001, 0.0020)),
        Sector("bank_loans", "Bank Loan", (0.1, 0.4), False, 13, rates=0.0, spread="hy",
               spread_duration=3.0, spread_multiple=1.0, loss=0.025, idio=0.0003,
               expense=(0.0040, 0.0075), bid_ask=(0.0002, 0.0020)),
        Sector("clo", "CLO", (0.1, 0.3), True, 11, rates=0.0, spread="ig", spread_duration=12.0,
               spread_multiple=1.2, loss=0.001, idio=0.0001, expense=(0.0020, 0.0050)),
        Sector("em_usd_sovereign", "EM USD Sovereign", (6.0, 8.5), False, 13, spread="em",
               loss=0.012, idio=0.0004, expense=(0.0015, 0.0050)),
        Sector("em_usd_corporate", "EM USD Corporate", (4.0, 5.5), False, 13, spread="em",
               spread_multiple=1.1, loss=0.015, idio=0.0004, expense=(0.0030, 0.0060)),
        Sector("em_local", "EM Local Currency", (4.5, 6.0), False, 13, rates=0.4, spread="em",
               spread_duration=0.5, spread_multiple=1.3, loss=0.035, fx=1.3, idio=0.0008,
               expense=(0.0030, 0.0050), bid_ask=(0.0005, 0.0030)),
        Sector("muni", "Municipal", (1.8, 7.5), True, 15, rates=0.8, spread="ig",
               spread_duration=0.5, spread_multiple=0.0, idio=0.00015,
               expense=(0.0005, 0.0035)),
        Sector("intl_hedged", "International Hedged", (6.5, 8.0), True, 13, rates=0.6,
               idio=0.00025, expense=(0.0007, 0.0035)),
        Sector("intl_unhedged", "International Unhedged", (7.0, 8.5), True, 13, rates=0.5,
               spread_multiple=0.0, loss=0.012, fx=1.0, idio=0.0003, expense=(0.0020, 0.0040)),
        Sector("preferred", "Preferred", (4.0, 7.0), False, 13, rates=0.7, spread="hy",
               spread_duration=1.2, spread_multiple=0.7, loss=0.012, idio=0.0006,
               expense=(0.0025, 0.0060), bid_ask=(0.0003, 0.0025)),
        Sector("convertible", "Convertible", (2.0, 3.0), False, 13, rates=0.3, spread="hy",
               spread_duration=3.5, spread_multiple=0.3, idio=0.0009,
               expense=(0.0020, 0.0045), bid_ask=(0.0003, 0.0025)),
    ]
}
# fmt: on
# Real ETFs under their real tickers: (ticker, name, sector, duration, expense ratio, inception,
# AUM in USD billions). Figures are approximate public facts as of 2024.
# fmt: off
REAL_ETFS = [
    ("AGG", "iShares Core U.S. Aggregate Bond ETF", "aggregate", 6.0, 0.0003, "2003-09-22", 120),
    ("BND", "Vanguard Total Bond Market ETF", "aggregate", 6.0, 0.0003, "2007-04-03", 120),
    ("SCHZ", "Schwab U.S. Aggregate Bond ETF", "aggregate", 6.0, 0.0003, "2011-07-14", 8),
    ("SPAB", "SPDR Portfolio Aggregate Bond ETF", "aggregate", 6.0, 0.0003, "2007-05-23", 8),
    ("GOVT", "iShares U.S. Treasury Bond ETF", "treasury_broad", 5.8, 0.0005, "2012-02-14", 27),
    ("SHY", "iShares 1-3 Year Treasury Bond ETF", "treasury_1_3y", 1.9, 0.0015, "2002-07-22", 24),
    ("VGSH", "Vanguard Short-Term Treasury ETF", "treasury_1_3y", 1.9, 0.0004, "2009-11-19", 22),
    ("SCHO", "Schwab Short-Term U.S. Treasury ETF", "treasury_1_3y", 1.9, 0.0003, "2010-08-05", 11),
    ("IEI", "iShares 3-7 Year Treasury Bond ETF", "treasury_3_7y", 4.4, 0.0015, "2007-01-05", 14),
    ("VGIT", "Vanguard Intermediate-Term Treasury ETF", "treasury_3_7y", 5.1, 0.0004,
     "2009-11-19", 30),
    ("SCHR", "Schwab Intermediate-Term U.S. Treasury ETF", "treasury_3_7y", 5.1, 0.0003,
     "2010-08-05", 10),
    ("IEF", "iShares 7-10 Year Treasury Bond ETF", "treasury_7_10y", 7.1, 0.0015, "2002-07-22", 32),
    ("TLH", "iShares 10-20 Year Treasury Bond ETF", "treasury_10_20y", 12.3, 0.0015,
     "2007-01-05", 10),
    ("TLT", "iShares 20+ Year Treasury Bond ETF", "treasury_20y_plus", 16.5, 0.0015,
     "2002-07-22", 60),
    ("VGLT", "Vanguard Long-Term Treasury ETF", "treasury_20y_plus", 15.0, 0.0004,
     "2009-11-19", 13),
    ("EDV", "Vanguard Extended Duration Treasury ETF", "treasury_20y_plus", 24.0, 0.0005,
     "2007-12-06", 3.5),
    ("SPTL", "SPDR Portfolio Long Term Treasury ETF", "treasury_20y_plus", 15.0, 0.0003,
     "2007-05-23", 10),
    ("BIL", "SPDR Bloomberg 1-3 Month T-Bill ETF", "cash_like", 0.1, 0.00136, "2007-05-25", 35),
    ("SGOV", "iShares 0-3 Month Treasury Bond ETF", "cash_like", 0.1, 0.0009, "2020-05-26", 30),
    ("SHV", "iShares Short Treasury Bond ETF", "cash_like", 0.3, 0.0015, "2007-01-05", 20),
    ("USFR", "WisdomTree Floating Rate Treasury Fund", "cash_like", 0.05, 0.0015,
     "2014-02-04", 18),
    ("TIP", "iShares TIPS Bond ETF", "tips", 6.7, 0.0018, "2003-12-04", 14),
    ("SCHP", "Schwab U.S. TIPS ETF", "tips", 6.6, 0.0003, "2010-08-05", 12),
    ("VTIP", "Vanguard Short-Term Inflation-Protected Securities ETF", "tips", 2.5, 0.0004,
     "2012-10-12", 12),
    ("STIP", "iShares 0-5 Year TIPS Bond ETF", "tips", 2.4, 0.0003, "2010-12-01", 12),
    ("AGZ", "iShares Agency Bond ETF", "agency", 3.5, 0.0020, "2008-11-05", 0.6),
    ("MBB", "iShares MBS ETF", "mbs", 5.9, 0.0004, "2007-03-13", 35),
    ("VMBS", "Vanguard Mortgage-Backed Securities ETF", "mbs", 5.9, 0.0004, "2009-11-19", 14),
    ("SPMB", "SPDR Portfolio Mortgage Backed Bond ETF", "mbs", 5.8, 0.0004, "2009-01-15", 5),
    ("CMBS", "iShares CMBS ETF", "cmbs", 4.4, 0.0025, "2012-02-14", 0.4),
    ("LQD", "iShares iBoxx $ Investment Grade Corporate Bond ETF", "ig_corp_broad", 8.4, 0.0014,
     "2002-07-22", 32),
    ("USIG", "iShares Broad USD Investment Grade Corporate Bond ETF", "ig_corp_broad", 6.8,
     0.0004, "2007-01-05", 12),
    ("VCIT", "Vanguard Intermediate-Term Corporate Bond ETF", "ig_corp_intermediate", 6.1,
     0.0004, "2009-11-19", 50),
    ("IGIB", "iShares 5-10 Year Investment Grade Corporate Bond ETF", "ig_corp_intermediate",
     6.2, 0.0004, "2007-01-05", 13),
    ("VCSH", "Vanguard Short-Term Corporate Bond ETF", "ig_corp_short", 2.6, 0.0004,
     "2009-11-19", 34),
    ("IGSB", "iShares 1-5 Year Investment Grade Corporate Bond ETF", "ig_corp_short", 2.6, 0.0004,
     "2007-01-05", 21),
    ("SPSB", "SPDR Portfolio Short Term Corporate Bond ETF", "ig_corp_short", 1.9, 0.0004,
     "2009-12-16", 7),
    ("VCLT", "Vanguard Long-Term Corporate Bond ETF", "ig_corp_long", 13.5, 0.0004,
     "2009-11-19", 10),
    ("IGLB", "iShares 10+ Year Investment Grade Corporate Bond ETF", "ig_corp_long", 13.0,
     0.0004, "2009-12-08", 2.5),
    ("FLOT", "iShares Floating Rate Bond ETF", "ultra_short", 0.1, 0.0015, "2011-06-14", 8),
    ("MINT", "PIMCO Enhanced Short Maturity Active ETF", "ultra_short", 0.4, 0.0035,
     "2009-11-16", 12),
    ("JPST", "JPMorgan Ultra-Short Income ETF", "ultra_short", 0.5, 0.0018, "2017-05-17", 25),
    ("NEAR", "iShares Short Duration Bond Active ETF", "ultra_short", 0.6, 0.0025,
     "2013-09-25", 3.5),
    ("HYG", "iShares iBoxx $ High Yield Corporate Bond ETF", "high_yield", 3.1, 0.0049,
     "2007-04-04", 15),
    ("JNK", "SPDR Bloomberg High Yield Bond ETF", "high_yield", 3.2, 0.0040, "2007-11-28", 8),
    ("USHY", "iShares Broad USD High Yield Corporate Bond ETF", "high_yield", 3.0, 0.0008,
     "2017-10-25", 15),
    ("SHYG", "iShares 0-5 Year High Yield Corporate Bond ETF", "high_yield", 2.2, 0.0030,
     "2013-10-15", 6),
    ("HYLB", "Xtrackers USD High Yield Corporate Bond ETF", "high_yield", 3.2, 0.0005,
     "2016-12-07", 3.5),
    ("ANGL", "VanEck Fallen Angel High Yield Bond ETF", "high_yield", 5.0, 0.0025, "2012-04-10", 3),
    ("SJNK", "SPDR Bloomberg Short Term High Yield Bond ETF", "high_yield", 2.0, 0.0040,
     "2012-03-14", 4.5),
    ("BKLN", "Invesco Senior Loan ETF", "bank_loans", 0.1, 0.0065, "2011-03-03", 7),
    ("SRLN", "SPDR Blackstone Senior Loan ETF", "bank_loans", 0.3, 0.0070, "2013-04-03", 8),
    ("JAAA", "Janus Henderson AAA CLO ETF", "clo", 0.1, 0.0021, "2020-10-16", 13),
    ("EMB", "iShares J.P. Morgan USD Emerging Markets Bond ETF", "em_usd_sovereign", 7.0, 0.0039,
     "2007-12-17", 14),
    ("VWOB", "Vanguard Emerging Markets Government Bond ETF", "em_usd_sovereign", 6.8, 0.0015,
     "2013-05-31", 4.5),
    ("PCY", "Invesco Emerging Markets Sovereign Debt ETF", "em_usd_sovereign", 8.5, 0.0050,
     "2007-10-11", 1.3),
    ("CEMB", "iShares J.P. Morgan EM Corporate Bond ETF", "em_usd_corporate", 4.5, 0.0050,
     "2012-04-17", 0.4),
    ("EMHY", "iShares J.P. Morgan EM High Yield Bond ETF", "em_usd_corporate", 4.0, 0.0050,
     "2012-04-03", 0.4),
    ("EMLC", "VanEck J.P. Morgan EM Local Currency Bond ETF", "em_local", 5.0, 0.0030,
     "2010-07-22", 3),
    ("LEMB", "iShares J.P. Morgan EM Local Currency Bond ETF", "em_local", 5.2, 0.0030,
     "2011-10-18", 0.4),
    ("MUB", "iShares National Muni Bond ETF", "muni", 6.2, 0.0005, "2007-09-07", 38),
    ("VTEB", "Vanguard Tax-Exempt Bond ETF", "muni", 6.1, 0.0005, "2015-08-21", 35),
    ("SUB", "iShares Short-Term National Muni Bond ETF", "muni", 1.9, 0.0007, "2008-11-05", 9),
    ("SHM", "SPDR Nuveen Bloomberg Short Term Municipal Bond ETF", "muni", 2.8, 0.0020,
     "2007-10-10", 3.5),
    ("BNDX", "Vanguard Total International Bond ETF", "intl_hedged", 7.0, 0.0007, "2013-05-31", 55),
    ("IAGG", "iShares Core International Aggregate Bond ETF", "intl_hedged", 7.0, 0.0007,
     "2015-11-10", 7),
    ("BWX", "SPDR Bloomberg International Treasury Bond ETF", "intl_unhedged", 8.0, 0.0035,
     "2007-10-02", 1.3),
    ("IGOV", "iShares International Treasury Bond ETF", "intl_unhedged", 8.0, 0.0035,
     "2009-01-21", 1),
    ("PFF", "iShares Preferred and Income Securities ETF", "preferred", 5.0, 0.0046,
     "2007-03-26", 14),
    ("PGX", "Invesco Preferred ETF", "preferred", 6.0, 0.0050, "2008-01-31", 4.5),
    ("CWB", "SPDR Bloomberg Convertible Securities ETF", "convertible", 2.5, 0.0040,
     "2009-04-14", 4),
    ("ICVT", "iShares Convertible Bond ETF", "convertible", 2.5, 0.0020, "2015-06-02", 2),
]
# fmt: on
# A platform's own bond ETFs (Schwab's), added after every series above and drawn after them,
# so that the series above are the same numbers as before they were added. SCHZ, SCHO, SCHR and
# SCHP are in REAL_ETFS already. Same fields as REAL_ETFS; approximate public facts as of 2024.
# fmt: off
PLATFORM_ETFS = [
    ("SCHQ", "Schwab Long-Term U.S. Treasury ETF", "treasury_20y_plus", 15.5, 0.0003,
     "2019-10-10", 0.8),
    ("SCHI", "Schwab 5-10 Year Corporate Bond ETF", "ig_corp_intermediate", 6.0, 0.0003,
     "2019-10-10", 8),
    ("SCHJ", "Schwab 1-5 Year Corporate Bond ETF", "ig_corp_short", 2.6, 0.0003, "2019-10-10",
     0.5),
    ("SCYB", "Schwab High Yield Bond ETF", "high_yield", 3.0, 0.0003, "2023-07-11", 1),
    ("SCMB", "Schwab Municipal Bond ETF", "muni", 6.0, 0.0003, "2022-10-11", 1.5),
]
# Mutual funds (kind ``fund``): they trade once a day at NAV, so their bid/ask spread is 0.
SAMPLE_FUNDS = [
    ("SWAGX", "Schwab U.S. Aggregate Bond Index Fund", "aggregate", 6.0, 0.0004, "2017-02-23",
     4),
    ("SWSBX", "Schwab Short-Term Bond Index Fund", "ig_corp_short", 2.6, 0.0006, "2017-02-23",
     1),
    ("SWRSX", "Schwab Treasury Inflation Protected Securities Index Fund", "tips", 6.6, 0.0005,
     "2006-03-31", 1.5),
]
# fmt: on
SCHWAB_ETFS = ("SCHZ", "SCHO", "SCHR", "SCHQ", "SCHP", "SCHI", "SCHJ", "SCYB", "SCMB")
"""The sample shelf ``schwab-etfs``: Schwab's own bond ETFs."""
SAMPLE_SHELVES = {"schwab-etfs": ("Schwab bond ETFs", SCHWAB_ETFS)}
"""Shelves of the sample data: id -> (name, tickers), loaded with the sample's models."""
# ETFs that track a benchmark index of this universe rather than the factor model directly:
# ticker -> (index ticker, daily tracking noise).
TRACKERS = {
    "AGG": ("AGG-INDEX", 0.00004),
    "BND": ("AGG-INDEX", 0.00005),
    "HYG": ("HIGH-YIELD", 0.0004),
    "JNK": ("HIGH-YIELD", 0.0005),
}
SYNTHETIC_SECTOR_CODES = {name: f"{i:02d}" for i, name in enumerate(SECTORS)}


def sample_data(etfs: int | None = None) -> MarketData:
    """Generate the sample universe.

    Parameters
    ----------
    etfs : int, optional
        The number of ETFs: the real ones and synthetic ones spread over the sectors in the
        default universe's proportions, deterministically. By default the standard universe
        (about 430 ETFs), which is not the same draw as any ``etfs``.

    Returns
    -------
    MarketData
        Securities (the ETFs and the 7 passive benchmark indices) and daily levels from
        2013-01-02 to 2024-09-30, with ``metadata["sample"] = True``.
    """
    rng = np.random.default_rng(SEED)
    days = pd.bdate_range(START, END, name="date")
    factors = factor_paths(days, rng)
    indices = benchmark_index_returns(factors, rng)
    etfs = pd.concat([etf_table(rng, synthetic_counts(etfs)), platform_table()])
    etf_returns = etf_daily_returns(etfs, factors, indices, rng)

    securities = pd.concat([etfs, index_table()])
    returns = pd.concat([etf_returns, indices], axis=1)[securities.index]
    prices = levels_from_returns(returns, securities["inception"])
    metadata = {
        "sample": True,
        "description": (
            "Synthetic sample data generated by `plusalpha sample-data`: not market data. "
            "Real tickers carry approximate public facts; their prices are simulated."
        ),
        "generator": "service.engine.sample",
        "seed": SEED,
    }
    return MarketData(securities=securities, prices=prices, metadata=metadata)


def factor_paths(days: pd.DatetimeIndex, rng: np.random.Generator) -> pd.DataFrame:
    """Daily factor levels: anchors joined by Brownian bridges with correlated, stressed noise.

    Returns a frame of shape (n_days, n_factors) with columns ``FACTORS``.
    """
    stress = np.ones(len(days))
    for start, end, multiple in STRESS:
        stress[(days >= start) & (days <= end)] = multiple
    chol = np.linalg.cholesky(FACTOR_CORR)
    shocks = (rng.standard_normal((len(days), len(FACTORS))) @ chol.T) * FACTOR_VOL
    walks = np.cumsum(shocks * stress[:, None], axis=0)
    position = np.arange(len(days), dtype=float)
    columns = {}
    for j, name in enumerate(FACTORS):
        dates, values = zip(*ANCHORS[name], strict=True)
        at = days.get_indexer(pd.DatetimeIndex(dates), method="bfill")
        anchor_path = np.interp(position, at, values)
        bridge = walks[:, j] - np.interp(position, at, walks[at, j])
        columns[name] = anchor_path + bridge
    return pd.DataFrame(columns, index=days)


def curve_yield_change(factors: pd.DataFrame, duration: float) -> tuple[np.ndarray, np.ndarray]:
    """The yield and its daily change at one point of the Treasury curve.

    The curve is the 3-month bill for durations under 0.25, the 2-year (level minus slope) at 1.9,
    the 10-year (level) at 8.5, and a little steeper beyond; linear in between.
    """
    level, slope, short = (factors[c].to_numpy() for c in ("level", "slope", "short"))
    two_year = level - slope
    if duration <= 1.9:
        share = max(duration - 0.25, 0.0) / 1.65
        y = short + (two_year - short) * share
    elif duration <= 8.5:
        y = two_year + slope * (duration - 1.9) / 6.6
    else:
        y = level + 0.25 * slope * (duration - 8.5) / 8.5
    return y, np.diff(y, prepend=y[0])


def sector_returns(sector: Sector, duration: float, factors: pd.DataFrame) -> np.ndarray:
    """Gross daily returns (before fees and noise) of a bond of one sector and duration."""
    y, dy = curve_yield_change(factors, duration)
    carry = y * sector.rates + (1 - sector.rates) * factors["short"].to_numpy() - sector.loss
    price = -duration * sector.rates * dy
    if sector.breakeven:
        # TIPS earn the real yield plus realized inflation, about the nominal yield: only the
        # price moves with breakevens.
        breakeven = factors["breakeven"].to_numpy()
        price = price + duration * np.diff(breakeven, prepend=breakeven[0])
    if sector.spread:
        spread = factors[sector.spread].to_numpy()
        carry = carry + sector.spread_multiple * spread
        spread_duration = (
            duration * sector.spread_duration if sector.rates else sector.spread_duration
        )
        price = price - spread_duration * np.diff(spread, prepend=spread[0])
    if sector.fx:
        dollar = factors["dollar"].to_numpy()
        price = price - sector.fx * np.diff(dollar, prepend=dollar[0])
    return carry / DAYS_PER_YEAR + price


# The raw passive indices, as sector mixes: index ticker -> [(sector, duration, weight)].
# fmt: off
INDEX_MIXES = {
    "US-TREASURY": [("treasury_1_3y", 1.9, 0.3), ("treasury_3_7y", 4.8, 0.35),
                    ("treasury_7_10y", 7.3, 0.15), ("treasury_20y_plus", 16.0, 0.2)],
    "GOVT-RELATED": [("agency", 4.0, 0.5), ("em_usd_sovereign", 7.0, 0.15),
                     ("treasury_7_10y", 7.0, 0.35)],
    "CORPORATE": [("ig_corp_short", 2.6, 0.3), ("ig_corp_intermediate", 6.2, 0.4),
                  ("ig_corp_long", 13.0, 0.3)],
    "SECURITIZED": [("mbs", 5.8, 0.9), ("cmbs", 4.5, 0.07), ("abs", 2.5, 0.03)],
    "MBS": [("mbs", 5.9, 1.0)],
    "HIGH-YIELD": [("high_yield", 3.2, 1.0)],
}
# fmt: on
AGG_MIX = {"US-TREASURY": 0.42, "GOVT-RELATED": 0.05, "CORPORATE": 0.25, "SECURITIZED": 0.28}
# Sector and duration that the index rows of securities.csv carry.
INDEX_SECTORS = {
    "AGG-INDEX": ("aggregate", 6.1),
    "US-TREASURY": ("treasury_broad", 5.9),
    "GOVT-RELATED": ("agency", 5.2),
    "CORPORATE": ("ig_corp_broad", 6.9),
    "SECURITIZED": ("mbs", 5.8),
    "MBS": ("mbs", 5.9),
    "HIGH-YIELD": ("high_yield", 3.2),
}


def benchmark_index_returns(factors: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Daily returns of the seven passive benchmark indices, calibrated to the seed table.

    Each index starts as a mix of sector returns; the Agg Index is a mix of those. Then each is
    rescaled, blended with the Agg and given noise so that its beta and correlation to the Agg
    match the published figures, and its drift is adjusted within each of the newsletter's six
    disjoint periods so that every published cumulative return holds exactly.
    """
    raw = {
        ticker: sum(weight * sector_returns(SECTORS[s], d, factors) for s, d, weight in mix)
        for ticker, mix in INDEX_MIXES.items()
    }
    raw[AGG_INDEX] = sum(weight * raw[t] for t, weight in AGG_MIX.items())
    days = factors.index
    months = days.to_series().groupby(days.to_period("M")).max()
    itd_month_ends = days.get_indexer(months[ITD_START - 1 :].to_numpy())
    targets = passive_targets()
    agg = match_period_returns(raw[AGG_INDEX], period_pieces(days, targets[AGG_INDEX]))
    agg_monthly = monthly_from_daily(agg, itd_month_ends)
    calibrated = {AGG_INDEX: agg}
    for ticker, series in raw.items():
        if ticker != AGG_INDEX:
            noise = rng.standard_normal(len(days)) * 0.001
            pieces = period_pieces(days, targets[ticker])
            candidates = (series, agg, noise)
            calibrated[ticker] = calibrate_to_agg(
                candidates, pieces, agg_monthly, itd_month_ends, targets[ticker]
            )
    tickers = [b.ticker for b in PASSIVE_BENCHMARKS.values()]
    return pd.DataFrame(calibrated, index=days)[tickers]


def monthly_from_daily(returns: np.ndarray, month_ends: np.ndarray) -> np.ndarray:
    """Month-end to month-end returns of daily returns, given the month-end positions."""
    levels = np.cumprod(1 + returns)[month_ends]
    return levels[1:] / levels[:-1] - 1


def period_pieces(days: pd.DatetimeIndex, target: dict) -> list[tuple[np.ndarray, float]]:
    """Split nested period returns (month within YTD within 1 year ...) into disjoint pieces.

    Returns, for each piece, a mask of its days and its gross return.
    """
    starts = {c: period_months(c, SEED_AS_OF)[0] - 1 for c in PERIOD_COLUMNS}
    pieces = []
    inner_start, inner_gross = SEED_AS_OF, 1.0
    for column in sorted(PERIOD_COLUMNS, key=starts.get, reverse=True):
        gross = 1 + target[column]
        inside = (days > starts[column].end_time) & (days <= inner_start.end_time)
        pieces.append((inside, gross / inner_gross))
        inner_start, inner_gross = starts[column], gross
    return pieces


def match_period_returns(returns: np.ndarray, pieces: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """Scale daily gross returns within each piece so that its gross return is the target."""
    adjusted = returns.copy()
    for inside, gross in pieces:
        growth = 1 + returns[inside]
        adjusted[inside] = growth * (gross / growth.prod()) ** (1 / inside.sum()) - 1
    return adjusted


def calibrate_to_agg(
    candidates: tuple[np.ndarray, np.ndarray, np.ndarray],
    pieces: list[tuple[np.ndarray, float]],
    agg_monthly: np.ndarray,
    month_ends: np.ndarray,
    target: dict,
) -> np.ndarray:
    """Fit ``scale * raw + blend * agg + loud * noise`` to the target beta and correlation."""
    raw, agg, noise = candidates

    def build(params: np.ndarray) -> np.ndarray:
        scale, blend, loud = params
        return match_period_returns(scale * raw + blend * agg + loud * noise, pieces)

    def residuals(params: np.ndarray) -> np.ndarray:
        monthly = monthly_from_daily(build(params), month_ends)
        corr = np.corrcoef(monthly, agg_monthly)[0, 1]
        beta = corr * monthly.std() / agg_monthly.std()
        scale, blend, loud = params
        return np.array(
            [
                beta - target["beta_agg"],
                corr - target["corr_agg"],
                0.01 * (scale - 1),
                0.01 * blend,
                0.01 * loud,
            ]
        )

    fit = least_squares(residuals, x0=[1.0, 0.0, 0.1], bounds=([0.2, -1.0, 0.0], [3.0, 1.0, 5.0]))
    return build(fit.x)


def synthetic_counts(etfs: int | None) -> dict[str, int]:
    """How many synthetic ETFs each sector gets for ``etfs`` ETFs in all (None: the default)."""
    default = {name: spec.synthetic for name, spec in SECTORS.items()}
    if etfs is None:
        return default
    fixed = len(REAL_ETFS) + len(PLATFORM_ETFS)
    wanted = etfs - fixed
    if wanted < 0:
        raise ValueError(f"the sample universe has at least {fixed} ETFs, not {etfs}")
    shares = np.array(list(default.values())) * wanted / sum(default.values())
    counts = np.floor(shares).astype(int)
    counts[np.argsort(counts - shares, kind="stable")[: wanted - counts.sum()]] += 1
    return dict(zip(default, counts.tolist(), strict=True))


def etf_table(rng: np.random.Generator, synthetic: dict[str, int]) -> pd.DataFrame:
    """Metadata of every ETF: the real ones, then ``synthetic[sector]`` synthetic ones each."""
    rows = []
    for ticker, name, sector, duration, expense, inception, aum in REAL_ETFS:
        spec = SECTORS[sector]
        rows.append(
            {
                "ticker": ticker,
                "name": name,
                "kind": "etf",
                "sector": sector,
                "ig": spec.ig,
                "duration": duration,
                "expense_ratio": expense,
                "bid_ask": real_bid_ask(aum),
                "aum": aum * 1e9,
                "inception": pd.Timestamp(inception),
            }
        )
    for sector, spec in SECTORS.items():
        for k in range(1, synthetic[sector] + 1):
            low, high = spec.durations
            rows.append(
                {
                    "ticker": f"Z{SYNTHETIC_SECTOR_CODES[sector]}{sector[:2].upper()}{k:02d}",
                    "name": f"Synthetic {spec.label} ETF {k:02d} (sample data)",
                    "kind": "etf",
                    "sector": sector,
                    "ig": spec.ig,
                    "duration": round(float(rng.uniform(low, high)), 2),
                    "expense_ratio": round(float(rng.uniform(*spec.expense)), 5),
                    "bid_ask": round(float(rng.uniform(*spec.bid_ask)), 5),
                    "aum": round(float(np.exp(rng.uniform(np.log(5e7), np.log(5e9)))), -5),
                    "inception": synthetic_inception(rng),
                }
            )
    return pd.DataFrame(rows).set_index("ticker")


def platform_table() -> pd.DataFrame:
    """Metadata of the platform's ETFs and the sample funds, after every other ETF's."""
    rows = []
    for kind, table in (("etf", PLATFORM_ETFS), ("fund", SAMPLE_FUNDS)):
        for ticker, name, sector, duration, expense, inception, aum in table:
            rows.append(
                {
                    "ticker": ticker,
                    "name": name,
                    "kind": kind,
                    "sector": sector,
                    "ig": SECTORS[sector].ig,
                    "duration": duration,
                    "expense_ratio": expense,
                    "bid_ask": real_bid_ask(aum) if kind == "etf" else 0.0,
                    "aum": aum * 1e9,
                    "inception": pd.Timestamp(inception),
                }
            )
    return pd.DataFrame(rows).set_index("ticker")


def real_bid_ask(aum_billions: float) -> float:
    """A typical quoted spread for an ETF of this size: one basis point for the largest."""
    return round(max(0.0001, 0.0006 / np.sqrt(max(aum_billions, 0.1))), 5)


def synthetic_inception(rng: np.random.Generator) -> pd.Timestamp:
    """Most synthetic ETFs predate the sample; one in four starts within it, some after 2016."""
    if rng.random() < 0.75:
        return pd.Timestamp("2003-01-02") + pd.Timedelta(days=int(rng.integers(0, 3600)))
    return pd.Timestamp("2013-06-03") + pd.Timedelta(days=int(rng.integers(0, 3650)))


def index_table() -> pd.DataFrame:
    """Metadata rows of the passive benchmark indices (``kind`` = ``index``)."""
    rows = [
        {
            "ticker": b.ticker,
            "name": b.name,
            "kind": "index",
            "sector": INDEX_SECTORS[b.ticker][0],
            "ig": INDEX_SECTORS[b.ticker][0] != "high_yield",
            "duration": INDEX_SECTORS[b.ticker][1],
            "expense_ratio": 0.0,
            "bid_ask": 0.0,
            "aum": 0.0,
            "inception": pd.Timestamp("1976-01-01"),
        }
        for b in PASSIVE_BENCHMARKS.values()
    ]
    return pd.DataFrame(rows).set_index("ticker")


def passive_targets() -> dict[str, dict]:
    """The seed table's passive rows, keyed by the index tickers of the data."""
    table = seed_table()
    return {b.ticker: table.loc[b.id].to_dict() for b in PASSIVE_BENCHMARKS.values()}


def etf_daily_returns(
    etfs: pd.DataFrame, factors: pd.DataFrame, indices: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Daily net returns of every ETF, shape (n_days, n_etfs).

    Each ETF is its sector's factor exposure at its own duration, plus a shock common to the
    sector and its own noise, less its expense ratio. Trackers follow their index instead.
    """
    n_days = len(factors)
    sector_shocks = {s: rng.standard_normal(n_days) for s in SECTORS}
    columns = {}
    for ticker, row in etfs.iterrows():
        spec = SECTORS[row["sector"]]
        if ticker in TRACKERS:
            index, tracking = TRACKERS[ticker]
            gross = indices[index].to_numpy() + tracking * rng.standard_normal(n_days)
        else:
            gross = sector_returns(spec, row["duration"], factors) + spec.idio * (
                sector_shocks[row["sector"]] + rng.standard_normal(n_days)
            )
        columns[ticker] = gross - row["expense_ratio"] / DAYS_PER_YEAR
    return pd.DataFrame(columns, index=factors.index)


def levels_from_returns(returns: pd.DataFrame, inception: pd.Series) -> pd.DataFrame:
    """Total-return index levels starting at 100 on each series' first day, NaN before it."""
    started = returns.index.to_numpy()[:, None] >= inception.reindex(returns.columns).to_numpy()
    first = started & ~np.vstack([np.zeros((1, started.shape[1]), bool), started[:-1]])
    growth = np.where(started & ~first, 1 + returns.to_numpy(), 1.0)
    levels = 100 * np.cumprod(growth, axis=0)
    return pd.DataFrame(
        np.where(started, levels, np.nan), index=returns.index, columns=returns.columns
    )


def data_or_sample(data_dir: str | os.PathLike | None) -> MarketData:
    """The data directory's market data, or the sample universe when there is none."""
    return sample_data() if data_dir is None else load_data(data_dir)
