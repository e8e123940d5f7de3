"""How the pages write figures: one place for the charts, the templates and their tests."""

from __future__ import annotations

from datetime import datetime

MISSING = "–"
SECTOR_NAMES = {
    "abs": "ABS",
    "agency": "Agency",
    "aggregate": "Aggregate",
    "bank_loans": "Bank loans",
    "cash_like": "Cash-like",
    "clo": "CLO",
    "cmbs": "CMBS",
    "convertible": "Convertibles",
    "em_local": "EM local currency",
    "em_usd_corporate": "EM USD corporate",
    "em_usd_sovereign": "EM USD sovereign",
    "high_yield": "High yield",
    "ig_corp_broad": "IG corporate",
    "ig_corp_intermediate": "IG corporate intermediate",
    "ig_corp_long": "IG corporate long",
    "ig_corp_short": "IG corporate short",
    "intl_hedged": "International hedged",
    "intl_unhedged": "International unhedged",
    "mbs": "MBS",
    "muni": "Municipal",
    "preferred": "Preferreds",
    "tips": "TIPS",
    "treasury_10_20y": "Treasury 10-20y",
    "treasury_1_3y": "Treasury 1-3y",
    "treasury_20y_plus": "Treasury 20y+",
    "treasury_3_7y": "Treasury 3-7y",
    "treasury_7_10y": "Treasury 7-10y",
    "treasury_broad": "Treasury",
    "ultra_short": "Ultra-short",
}


def percent(value: float | None, decimals: int = 1) -> str:
    """``0.2404`` as ``24.0%`` (the newsletter's one decimal); a dash when missing."""
    return MISSING if value is None else f"{unsigned_zero(value * 100, decimals):.{decimals}f}%"


def number(value: float | None, decimals: int = 2) -> str:
    return MISSING if value is None else f"{unsigned_zero(value, decimals):.{decimals}f}"


def unsigned_zero(value: float, decimals: int) -> float:
    """``value``, or 0.0 when it rounds to zero: ``-0.0%`` reads as a loss that is not one."""
    return 0.0 if round(value, decimals) == 0 else value


def sector_name(sector: str) -> str:
    """A sector's name for a reader (its id, spaced, when it has none)."""
    return SECTOR_NAMES.get(sector, sector.replace("_", " ").capitalize())


def month_name(month: str) -> str:
    """``2024-09`` as ``September 2024``."""
    return datetime.strptime(month, "%Y-%m").strftime("%B %Y")


def month_abbr(month: str) -> str:
    """``2024-09`` as ``Sep 2024`` (the newsletter's column)."""
    return datetime.strptime(month, "%Y-%m").strftime("%b %Y")


def year_label(year: dict) -> str:
    """A calendar year's column: ``2023``, or ``YTD 2024`` for the as-of year."""
    return f"YTD {year['year']}" if year["partial"] else str(year["year"])


def dollars(value: float) -> str:
    return f"${value:,.0f}"


def series_labels(figures: dict) -> list[tuple[str, str]]:
    """The fact sheet's three series, by key: the model, its benchmark ETF and the Agg Index."""
    return [
        ("model", figures["name"]),
        ("benchmark", f"{figures['facts']['benchmark']} ETF"),
        ("agg", "Agg Index"),
    ]
