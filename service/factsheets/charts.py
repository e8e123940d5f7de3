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
import textwrap
from html import escape

from .text import percent, sector_name, series_labels, year_label

COLORS = {"model": "#1b4f72", "benchmark": "#b9770e", "agg": "#7f8c8d"}
WIDTH = 4.6
"""Inches: a chart fills half a page (a column), its text then 7 to 11 points high."""
FONT_SIZE = 9
"""Points, every text of every chart: a chart 4.6 inches wide drawn across a 375 px phone
(347 px inside the page's margins) writes it at 9.4 px, the smallest text we let a page show;
at 8 it was 8.4 px, and the sectors' 7-point weights 7.3 px."""
STYLE_ATTRIBUTE = re.compile(r' style="([^"]*)"')
PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)
METADATA = re.compile(r"\s*<metadata>.*?</metadata>|\s*<style[^>]*>.*?</style>", re.S)
IDS = re.compile(r'(id="|url\(#|href="#)')
SIZE = re.compile(r' width="[^"]*" height="[^"]*"')
DIGITS = re.compile(r"(\d\.\d\d)\d+")
"""Coordinates to a hundredth of a point: a third of the bytes, nothing a reader could see."""
FONT_STACK = "DejaVu Sans, Verdana, Arial, sans-serif"
LEGEND_LINE = 28
"""Characters a line of a legend: the longest of the nine's names (27) fits on one."""


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
            "font.size": FONT_SIZE,
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
        fit(figure, ax)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return inline(buffer.getvalue(), name, title, description)


def fit(figure, ax) -> None:
    """Margins that just hold the tick labels and the legend, as ``tight_layout(pad=0.4)``
    gives a figure of one axes, measured from the labels' text alone. The legend, above the
    axes, gets as many columns as the figure's width holds.

    ``tight_layout`` measures by laying out every tick (each a Tick of five artists), which the
    drawing then does again: it was 0.15 s of a fact sheet's 0.48 s of charts. This takes the
    tick labels from the axes' locators and formatters and measures their text with the
    renderer ``tight_layout`` uses. The margins are ``tight_layout``'s to a quarter of a point,
    but where a legend is wider than the axes (``tight_layout`` then narrows the axes for no
    gain: the legend starts at their left) or where the axes' new size changes their ticks
    (measured again here). ``test_render`` checks that every label and the legend are inside
    the chart, a pad from its edges.
    """
    from matplotlib import rcParams
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    width, height = figure.get_size_inches() * figure.dpi  # pixels, as everything below
    renderer = RendererAgg(width, height, figure.dpi)
    font = FontProperties(size=rcParams["font.size"])
    _, line, descent = renderer.get_text_width_height_descent("lp", font, ismath=False)
    above = (line - descent) / 2  # a y label's half height over its tick ("center_baseline")
    points = renderer.points_to_pixels
    reach = points(rcParams["xtick.major.size"] + rcParams["xtick.major.pad"])  # tick and gap
    pad = points(0.4 * rcParams["font.size"])
    entries = len(ax.get_legend().texts) if ax.get_legend() else 0
    for _ in range(2):  # again at the axes' new size, where the locators may choose other ticks
        box = ax.get_position()
        across, up = box.width * width, box.height * height
        left = right = bottom = top = 0.0  # how far the labels reach beyond the axes
        for where, text in tick_labels(ax.xaxis, ax.get_xlim()):
            half = renderer.get_text_width_height_descent(text, font, ismath=False)[0] / 2
            left = max(left, half - where * across)
            right = max(right, where * across + half - across)
            bottom = max(bottom, reach + label_height(figure, font, renderer, text))
        for where, text in tick_labels(ax.yaxis, ax.get_ylim()):
            text_width = renderer.get_text_width_height_descent(text, font, ismath=False)[0]
            left = max(left, reach + text_width)
            bottom = max(bottom, line - above - where * up)
            top = max(top, where * up + above - up)
        if entries:  # the legend, above the axes from their left, in as many columns as fit
            gap = points(rcParams["legend.borderaxespad"] * rcParams["font.size"])
            for columns in range(entries, 0, -1):
                extent = legend_above(ax, columns).get_tightbbox(renderer)
                if pad + left + gap + extent.width <= width - pad:
                    break
            top = max(top, gap + extent.height)
        figure.subplots_adjust(
            left=(pad + left) / width,
            right=1 - (pad + right) / width,
            bottom=(pad + bottom) / height,
            top=1 - (pad + top) / height,
        )


def label_height(figure, font, renderer, text: str) -> float:
    """The height matplotlib gives a label (pixels): its text's or the font's ascent and
    descent (matplotlib 3.11), whichever is larger; the renderer's ``lp`` is a point too tall
    for a label of digits at 9 points."""
    from matplotlib.text import Text

    probe = Text(0, 0, text, fontproperties=font)
    probe.set_figure(figure)
    return probe.get_window_extent(renderer).height


def tick_labels(axis, limits) -> list[tuple[float, str]]:
    """The labels of the axis's major ticks within ``limits`` as they will be drawn: each with
    where it is along the axis (0 to 1)."""
    low, high = limits
    locations = axis.get_majorticklocs()
    labels = axis.get_major_formatter().format_ticks(locations)
    ends = sorted(limits)
    slack = (ends[1] - ends[0]) * 1e-9
    return [
        ((x - low) / (high - low), text)
        for x, text in zip(locations, labels, strict=True)
        if text and ends[0] - slack <= x <= ends[1] + slack
    ]


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


def legend_above(ax, columns: int = 1):
    """The axes' legend over them, from their left (:func:`fit` sets its columns)."""
    return ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0, 1), ncols=columns)


def legend_label(text: str) -> str:
    """A series' name in a legend, on lines of at most :data:`LEGEND_LINE` characters: a
    licensee's long variant name stays inside the chart (the nine's names fit on one)."""
    return textwrap.fill(text, LEGEND_LINE)


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
                label=legend_label(label),
            )
        ax.yaxis.set_major_formatter(lambda v, _: f"${v:,.0f}")
        legend_above(ax)
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
            label=legend_label(figures["name"]),
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
        legend_above(ax)
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
