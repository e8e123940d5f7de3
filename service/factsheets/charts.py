"""The fact sheet's charts: SVG drawn by matplotlib on the server, inlined in the page and PDF.

Each chart is an ``<svg>`` element ready to inline: a ``role="img"`` with a ``<title>`` and a
``<desc>`` (its text alternative), its ids prefixed with the chart's name (several charts share a
page), no XML prologue, and no ``style`` attribute or element: matplotlib's inline styles become
presentation attributes, so the pages' ``Content-Security-Policy: default-src 'self'`` needs no
``'unsafe-inline'``. The output is deterministic (fixed hash salt, no date), so the same figures
give the same bytes and the same ETag.

matplotlib is imported inside :func:`draw`, not at import time: the CLI and the app start
without it.
"""

from __future__ import annotations

import io
import re
from html import escape

from .text import percent, sector_name, series_labels, year_label

COLORS = {"model": "#1b4f72", "benchmark": "#b9770e", "agg": "#7f8c8d"}
WIDTH = 4.6
"""Inches: a chart fills half a page (a column), its text then 6 to 10 points high."""
STYLE_ATTRIBUTE = re.compile(r' style="([^"]*)"')
PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)
METADATA = re.compile(r"\s*<metadata>.*?</metadata>|\s*<style[^>]*>.*?</style>", re.S)
IDS = re.compile(r'(id="|url\(#|href="#)')
SIZE = re.compile(r' width="[^"]*" height="[^"]*"')
DIGITS = re.compile(r"(\d\.\d\d)\d+")
"""Coordinates to a hundredth of a point: a third of the bytes, nothing a reader could see."""
FONT_STACK = "DejaVu Sans, Verdana, Arial, sans-serif"


def draw(plot, name: str, title: str, description: str, height: float, width: float = WIDTH) -> str:
    """``plot(ax)`` drawn on a new figure, as an accessible inline ``<svg>``."""
    import matplotlib

    matplotlib.use("svg")
    from matplotlib.figure import Figure

    with matplotlib.rc_context(
        {
            "svg.hashsalt": "plusalpha",
            "svg.fonttype": "none",  # text as text: searchable, read by screen readers, small
            "font.family": "DejaVu Sans",
            "font.size": 8,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": "#dddddd",
            "grid.linewidth": 0.5,
        }
    ):
        figure = Figure(figsize=(width, height))
        ax = figure.subplots()
        plot(ax)
        figure.tight_layout(pad=0.4)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return inline(buffer.getvalue(), name, title, description)


def inline(svg: str, name: str, title: str, description: str) -> str:
    """matplotlib's SVG document as an element to inline (see the module doc)."""
    svg = METADATA.sub("", PROLOGUE.sub("", svg, count=1))
    svg = DIGITS.sub(r"\1", svg)
    svg = STYLE_ATTRIBUTE.sub(lambda m: presentation_attributes(m.group(1)), svg)
    svg = IDS.sub(lambda m: f"{m.group(1)}{name}-", svg)
    svg = SIZE.sub("", svg, count=1)
    head = (
        f'<svg class="chart" role="img" aria-labelledby="{name}-title {name}-desc" '
        'stroke-linejoin="round" stroke-linecap="butt" '
    )
    svg = svg.replace("<svg ", head, 1)
    label = f'<title id="{name}-title">{escape(title)}</title><desc id="{name}-desc">'
    label += f"{escape(description)}</desc>"
    return re.sub(r"(<svg[^>]*>)", lambda m: m.group(1) + label, svg, count=1)


def presentation_attributes(style: str) -> str:
    """``fill: #fff; stroke-width: 0.8`` as `` fill="#fff" stroke-width="0.8"``."""
    pairs = (part.split(":", 1) for part in style.split(";") if ":" in part)
    attributes = {key.strip(): value.strip() for key, value in pairs}
    if "font-family" in attributes:
        attributes["font-family"] = FONT_STACK
    return "".join(f' {key}="{escape(value)}"' for key, value in attributes.items())


def date_axis(ax) -> None:
    """Month-end dates, a few ticks however long the history."""
    from matplotlib import dates

    locator = dates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, show_offset=False))


def percent_axis(ax, decimals: int = 0) -> None:
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))


def growth_chart(figures: dict) -> str:
    """The growth of $10,000 of the model, its benchmark ETF and the Agg Index."""
    import pandas as pd

    series = figures["growth"]
    months = pd.PeriodIndex(series["months"], freq="M").to_timestamp(how="end")
    lines = series_labels(figures)

    def plot(ax):
        for key, label in lines:
            ax.plot(
                months,
                series[key],
                color=COLORS[key],
                linewidth=1.6 if key == "model" else 1.1,
                label=label,
            )
        ax.yaxis.set_major_formatter(lambda v, _: f"${v:,.0f}")
        ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0, 1), ncols=3)
        ax.margins(x=0)
        date_axis(ax)

    ends = "; ".join(f"{label} ${series[key][-1]:,.0f}" for key, label in lines)
    return draw(
        plot,
        "growth",
        f"Growth of $10,000 since {figures['growth']['months'][1]}",
        f"Value at {figures['as_of']} of $10,000 invested at inception: {ends}.",
        height=3.0,
    )


def calendar_chart(figures: dict) -> str:
    """Calendar-year returns of the model and the Agg Index, side by side."""
    model, agg = figures["calendar"]["model"], figures["calendar"]["agg"]
    labels = [year_label(y) for y in model]

    def plot(ax):
        positions = range(len(labels))
        ax.bar(
            [p - 0.2 for p in positions],
            [value(y) for y in model],
            0.4,
            color=COLORS["model"],
            label=figures["name"],
        )
        ax.bar(
            [p + 0.2 for p in positions],
            [value(y) for y in agg],
            0.4,
            color=COLORS["agg"],
            label="Agg Index",
        )
        short = ["YTD" if y["partial"] else f"'{y['year'] % 100:02d}" for y in model]
        ax.set_xticks(list(positions), short)
        ax.axhline(0, color="#555555", linewidth=0.6)
        percent_axis(ax)
        ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0, 1), ncols=1)
        ax.grid(axis="x", visible=False)

    pairs = "; ".join(
        f"{label}: {percent(m['return'])} vs {percent(a['return'])}"
        for label, m, a in zip(labels, model, agg, strict=True)
    )
    return draw(
        plot,
        "calendar",
        "Calendar-year returns",
        f"{figures['name']} vs the Agg Index by year: {pairs}.",
        height=2.9,
        width=3.0,
    )


def rolling_beta_chart(figures: dict) -> str:
    """The rolling 12-month beta to the Agg Index."""
    import pandas as pd

    series = figures["rolling_beta"]
    months = pd.PeriodIndex(series["months"], freq="M").to_timestamp(how="end")
    beta_volatility = figures["statistics"].get("beta_volatility")

    def plot(ax):
        ax.plot(months, series["beta"], color=COLORS["model"], linewidth=1.3)
        ax.axhline(1.0, color=COLORS["agg"], linewidth=0.8, linestyle="--")
        ax.margins(x=0)
        date_axis(ax)

    if series["beta"]:
        low, high = min(series["beta"]), max(series["beta"])
        text = f"The beta moved between {low:.2f} and {high:.2f}"
        if beta_volatility is not None:
            text += f", a standard deviation of {beta_volatility:.2f}"
        text += "; "
    else:  # a model with less than a year of returns has no rolling beta yet
        text = "There are fewer than 12 months of returns, so no rolling beta yet; "
    return draw(
        plot,
        "beta",
        "Rolling 12-month beta to the Agg Index",
        text + "the dashed line is a beta of 1.",
        height=1.8,
    )


def sector_chart(figures: dict) -> str:
    """The allocation by sector, largest first."""
    sectors = figures["portfolio"]["sectors"]
    names = [sector_name(s["sector"]) for s in sectors]
    weights = [s["weight"] for s in sectors]

    def plot(ax):
        ax.barh(range(len(names)), weights, color=COLORS["model"])
        ax.set_yticks(range(len(names)), names)
        ax.invert_yaxis()
        ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.grid(axis="y", visible=False)
        for i, w in enumerate(weights):
            ax.annotate(
                f"{w:.1%}",
                (w, i),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
        ax.set_xlim(0, max(weights) * 1.2)

    text = "; ".join(f"{n} {w:.1%}" for n, w in zip(names, weights, strict=True))
    return draw(
        plot,
        "sectors",
        "Allocation by sector",
        f"Weights by sector: {text}.",
        height=0.2 * len(names) + 0.45,
    )


def value(year: dict) -> float:
    """A bar's height: a missing year draws no bar."""
    return 0.0 if year["return"] is None else year["return"]


def charts(figures: dict) -> dict[str, str]:
    """Every chart of the fact sheet, by name."""
    return {
        "growth": growth_chart(figures),
        "calendar": calendar_chart(figures),
        "beta": rolling_beta_chart(figures),
        "sectors": sector_chart(figures),
    }
