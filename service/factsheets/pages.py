"""The pages: one Jinja2 template per page for both the browser and the PDF.

A fact sheet's HTML links its stylesheet (served by us under ``ASSETS``: the public site's
pages under its own path, which is off with the site, the API's under ``/v1``); its PDF is the same
template printed by WeasyPrint with the stylesheet inlined, and so is the HTML the CLI writes to a
file (it must stand alone). WeasyPrint is imported inside :func:`pdf`: the app and the CLI start
without it.

The page WeasyPrint prints holds each chart as an ``<img>`` of its SVG (:func:`printed_chart`),
not inline: it gives the same PDF, to the byte, in two thirds of the time.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources

from jinja2 import Environment, PackageLoader, select_autoescape

from .text import (
    dollars,
    month_abbr,
    month_name,
    number,
    percent,
    series_labels,
    year_label,
)

ASSETS = {"site": "/assets", "api": "/v1/assets"}
"""Where a page finds its stylesheets and icon, by the pages that link them: the public site's,
or the API's (a key's pages keep theirs when ``PLUSALPHA_PUBLIC_MODELS=none`` turns the site
off)."""
ASSET_TYPES = {
    "factsheet.css": "text/css",
    "screen.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
GROUP_TITLES = {
    "model": "Active model portfolios (net returns)",
    "active_benchmark": "Active benchmark indices",
    "passive_benchmark": "Passive benchmark indices",
}


@dataclass(frozen=True)
class Column:
    """A column of the performance page: the table's key, and how it is written."""

    key: str
    kind: str = "percent"
    decimals: int = 1


COLUMNS = (
    Column("month"),
    Column("ytd"),
    Column("one_year"),
    Column("three_year"),
    Column("five_year"),
    Column("itd"),
    Column("alpha_agg"),
    Column("beta_agg", "number", 2),
    Column("corr_agg", "number", 2),
    Column("bid_ask", "percent", 2),
)
"""The newsletter's columns, at its rounding (percent to one decimal; beta and correlation to
two; the bid/ask spread in percent to two)."""


def figure(value: float | None, column: Column) -> str:
    """A cell of the performance page."""
    write = percent if column.kind == "percent" else number
    return write(value, column.decimals)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("service.factsheets"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        percent=percent,
        dollars=dollars,
        number=number,
        month_name=month_name,
        month_abbr=month_abbr,
        month_short=lambda month: f"{int(month[5:])}/{month[:4]}",
        year_label=year_label,
        figure=figure,
    )
    return env


def asset(name: str) -> bytes:
    """One of the files ``ASSETS`` serves (``ASSET_TYPES``); KeyError for any other name."""
    if name not in ASSET_TYPES:
        raise KeyError(name)
    return resources.files("service.factsheets").joinpath("static", name).read_bytes()


def stylesheet(*names: str) -> str:
    return "\n".join(asset(name).decode("utf-8") for name in names)


STANDALONE = {"file": ("factsheet.css", "screen.css"), "print": ("factsheet.css",)}
"""The stylesheets inlined in a page that stands alone: a file (for a browser), or the PDF's
source (WeasyPrint reads no media feature: ``screen.css`` is for browsers only)."""


def factsheet_html(
    figures: dict,
    charts: dict[str, str],
    links: dict | None,
    standalone: str | None = None,
    pages: str = "site",
) -> str:
    """The fact sheet page; ``links`` (``home``, ``pdf``) for the site's navigation,
    ``standalone`` (``file`` or ``print``) for a page with its stylesheets inlined, and
    ``pages`` (``site`` or ``api``) for where it links them (``ASSETS``)."""
    if standalone == "print":
        charts = {name: printed_chart(svg) for name, svg in charts.items()}
    return (
        environment()
        .get_template("factsheet.html")
        .render(
            figures=figures,
            charts=charts,
            lines=series_labels(figures),
            links=links,
            sample=figures["sample"],
            css=stylesheet(*STANDALONE[standalone]) if standalone else None,
            assets=ASSETS[pages],
        )
    )


def performance_html(
    table: dict,
    links: dict[str, str],
    sample: bool,
    months: list[str] | None = None,
    pages: str = "site",
) -> str:
    """The performance page of a table document (``{"as_of", "rows"}``), rows grouped as the
    newsletter's; ``links`` maps a row's model id to its fact sheet's URL, ``months`` (the
    as-of months to choose from) adds the as-of form, and ``pages`` is ``site`` or ``api``
    (where it links its stylesheets: ``ASSETS``)."""
    groups: dict[str, list[dict]] = {}
    for row in table["rows"]:
        groups.setdefault(row["group"], []).append(row)
    return (
        environment()
        .get_template("performance.html")
        .render(
            as_of=table["as_of"],
            groups=[(GROUP_TITLES[g], rows) for g, rows in groups.items()],
            columns=COLUMNS,
            links=links,
            months=months,
            sample=sample,
            css=None,
            assets=ASSETS[pages],
        )
    )


def printed_chart(svg: str) -> str:
    """A chart (an inline ``<svg>``) as the page WeasyPrint prints holds it: an ``<img>`` of it,
    laid out as ``svg.chart`` in factsheet.css lays out the inline chart.

    Inline, each of a chart's thousand elements goes through WeasyPrint's HTML parser (pure
    Python) and its cascade, the page's stylesheets matched against each; an image's SVG is
    parsed by ElementTree, and drawn the same. That is 0.13 s of a fact sheet's 0.43 s PDF.
    """
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    layout = "display: block; width: 100%; height: auto"
    return f'<img class="chart" style="{layout}" src="data:image/svg+xml;base64,{data}">'


def pdf(html: str) -> bytes:
    """The PDF of a standalone page (see :func:`factsheet_html`), printed by WeasyPrint."""
    from weasyprint import HTML

    return HTML(string=html, base_url=None).write_pdf(
        pdf_identifier=b"plusalpha-factsheet",
        uncompressed_pdf=False,
        font_config=font_configuration(),
    )


_fonts = threading.local()


def font_configuration():
    """WeasyPrint's fonts, gathered once a thread (a Pango font map is for one thread).

    Not once a PDF, WeasyPrint's default: that is 35 ms of each, its caches starting empty.
    """
    fonts = getattr(_fonts, "configuration", None)
    if fonts is None:
        from weasyprint.text.fonts import FontConfiguration

        fonts = _fonts.configuration = FontConfiguration()
    return fonts
