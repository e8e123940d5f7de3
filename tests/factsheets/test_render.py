"""A fact sheet's figures, charts and pages, from one short backtest (to 2018-12)."""

from __future__ import annotations

import base64
import io
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from service.engine.backtest import run_backtests
from service.engine.models import MODELS
from service.engine.performance import assemble_table, truncate
from service.engine.variants import Customization, derive_spec
from service.factsheets import charts as chart_module
from service.factsheets.build import figures_from_rows, render
from service.factsheets.charts import FONT_SIZE, charts, fit
from service.factsheets.pages import factsheet_html, pdf, performance_html
from service.factsheets.text import percent
from service.worker.jobs import json_rows
from tests.factsheets.html import SECTIONS, header_columns, parse

MODEL = "agg-plus-baseline"
AS_OF = pd.Period("2018-12", "M")
VARIANT = "agg-plus-baseline.acme-schwab-shelf"
CHART_IMAGE = re.compile(r'<img class="chart" [^>]*src="data:image/svg\+xml;base64,([^"]+)">')


@pytest.fixture(scope="module")
def run(small_sample):
    short = truncate(small_sample, AS_OF)
    backtest = run_backtests(short, [MODEL])[MODEL]
    rows = json_rows(assemble_table(short, {MODEL: backtest}, AS_OF))
    return short, backtest, rows


@pytest.fixture(scope="module")
def figures(run):
    short, backtest, rows = run
    holdings = backtest.rebalances[-1].weights
    return figures_from_rows(short, MODEL, backtest.returns, holdings, rows, AS_OF)


def test_the_figures_are_the_performance_tables(figures, run):
    _, _, rows = run
    row = next(r for r in rows if r["model_id"] == MODEL)
    agg = next(r for r in rows if r["model_id"] == "agg-index")
    for column in ("month", "ytd", "one_year", "three_year", "itd"):
        assert figures["trailing"]["model"][column] == row[column]
        assert figures["trailing"]["agg"][column] == agg[column]
    assert {k: v for k, v in row.items() if k not in ("model_id", "name", "group")} == figures[
        "statistics"
    ]
    assert figures["agg_positive_months"] == agg["positive_months"]


def test_annualized_calendar_and_growth_agree_with_the_cumulative_returns(figures):
    model = figures["trailing"]["model"]
    assert model["itd_annualized"] == pytest.approx((1 + model["itd"]) ** (12 / 36) - 1)
    assert model["three_year_annualized"] == pytest.approx(model["itd_annualized"])
    assert model["five_year"] is None and model["five_year_annualized"] is None
    years = figures["calendar"]["model"]
    assert [y["year"] for y in years] == [2016, 2017, 2018] and years[-1]["partial"]
    assert np.prod([1 + y["return"] for y in years]) - 1 == pytest.approx(model["itd"])
    assert figures["growth"]["model"][-1] == pytest.approx(10_000 * (1 + model["itd"]))
    assert len(figures["growth"]["months"]) == 37 and figures["growth"]["months"][0] == "2015-12"
    assert math.isclose(sum(s["weight"] for s in figures["portfolio"]["sectors"]), 1.0)
    json.dumps(figures, allow_nan=False)  # plain JSON


def test_charts_are_accessible_inline_svg_without_inline_styles(figures):
    drawn = charts(figures)
    assert set(drawn) == {"growth", "calendar", "beta", "sectors"}
    for name, svg in drawn.items():
        assert svg.startswith('<svg class="chart" role="img"')
        assert f'<title id="{name}-title">' in svg and f'<desc id="{name}-desc">' in svg
        assert "style=" not in svg and "<style" not in svg and "<script" not in svg
        ids = re.findall(r' id="([^"]+)"', svg)
        assert all(i.startswith(f"{name}-") for i in ids), name
    assert charts(figures) == drawn  # deterministic: the same figures, the same ETag


@pytest.mark.parametrize("name", ["AGG+ Aggressive-Diversified", "Acme core bond, no HY " * 9])
def test_every_label_and_the_legend_are_inside_each_chart_a_pad_from_its_edges(
    figures, name, monkeypatch
):
    """``charts.fit`` sets each chart's margins from its labels' text: nothing is cut, and
    nothing floats away from the edges (a pad of 0.4 of the font size, as
    ``tight_layout(pad=0.4)``). A
    long variant name is wrapped in the legends, whose columns are as many as fit."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    edges = []

    def fit_then_measure(figure, ax):
        fit(figure, ax)
        renderer = FigureCanvasAgg(figure).get_renderer()
        box = ax.get_tightbbox(renderer)  # tick labels, legend and the axes themselves
        width, height = figure.get_size_inches() * figure.dpi
        pixels = figure.dpi / 72  # a point
        edges.append(np.array([box.x0, width - box.x1, box.y0, height - box.y1]) / pixels)

    monkeypatch.setattr(chart_module, "fit", fit_then_measure)
    charts({**figures, "name": name})
    assert len(edges) == 4
    pad = 0.4 * FONT_SIZE
    for chart in edges:
        assert all(abs(edge - pad) < 0.5 for edge in chart), chart  # left, right, bottom, top


def test_the_page_has_every_section_in_order(figures):
    html = render(figures, "html", "site").decode()
    assert html.startswith("<!DOCTYPE html>") and '<html lang="en">' in html
    headings = re.findall(r'<h2 id="[a-z]+-h">([^<]+)</h2>', html)
    assert headings == SECTIONS
    assert 'href="/assets/factsheet.css"' in html and "<script" not in html
    api = render(figures, "html", "api").decode()  # its stylesheets whatever the site's setting
    assert 'href="/v1/assets/factsheet.css"' in api and 'href="/assets/' not in api
    assert "Sample data" in html
    standalone = render(figures, "html", "file").decode()
    assert "<style>" in standalone and "/assets/" not in standalone


def test_the_pdf_has_at_most_two_pages_the_name_the_itd_and_the_disclosures(figures):
    pdf = PdfReader(io.BytesIO(render(figures, "pdf")))
    assert 1 <= len(pdf.pages) <= 2
    text = " ".join(" ".join(page.extract_text().split()) for page in pdf.pages)
    assert "AGG+ Baseline" in text
    assert f"{figures['trailing']['model']['itd']:.1%}" in text
    assert "hypothetical and backtested" in text
    assert "Past performance is not indicative of future results." in text


def test_the_pdf_is_printed_from_the_charts_as_images_and_is_that_of_the_inline_charts(figures):
    """WeasyPrint prints each chart as an ``<img>`` of its SVG, the faster way: the PDF must be
    the one the page with the charts inline gives, to the byte."""
    drawn = charts(figures)
    printed = factsheet_html(figures, drawn, None, standalone="print")
    images = [base64.b64decode(image).decode() for image in CHART_IMAGE.findall(printed)]
    assert images == [drawn[name] for name in ("growth", "calendar", "beta", "sectors")]
    assert "<svg" not in printed
    inline = CHART_IMAGE.sub(lambda image: base64.b64decode(image[1]).decode(), printed)
    assert "<img" not in inline and inline.count('<svg class="chart"') == 4
    assert pdf(printed) == pdf(inline)


def test_a_model_with_less_than_a_year_of_returns_gets_its_fact_sheet(small_sample):
    as_of = pd.Period("2016-06", "M")
    short = truncate(small_sample, as_of)
    backtest = run_backtests(short, [MODEL])[MODEL]
    rows = json_rows(assemble_table(short, {MODEL: backtest}, as_of))
    young = figures_from_rows(
        short, MODEL, backtest.returns, backtest.rebalances[-1].weights, rows, as_of
    )
    assert young["rolling_beta"]["beta"] == []
    html = render(young, "html").decode()
    assert "fewer than 12 months of returns" in html
    assert "AGG+ Baseline" in html


def pdf_text(body: bytes) -> str:
    return " ".join(
        " ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(body)).pages
    )


def test_a_variants_sheet_is_titled_with_its_base_model_and_its_name(run):
    short, _, _ = run
    spec = derive_spec(
        MODELS[MODEL],
        Customization(max_position=0.3),
        short,
        variant_id=VARIANT,
        name="Schwab shelf",
    )
    backtest = run_backtests(short, [spec])[VARIANT]
    rows = json_rows(assemble_table(short, {VARIANT: backtest}, AS_OF))
    holdings = backtest.rebalances[-1].weights
    figures = figures_from_rows(short, VARIANT, backtest.returns, holdings, rows, AS_OF, spec)
    title = "AGG+ Baseline\u00a0· Schwab shelf"  # the space that does not break: read as one
    for variant in ("site", "api"):
        html = render(figures, "html", variant).decode()
        assert parse(html).h1 == [title]
        assert f"<title>{title} fact sheet, December 2018 · PlusAlpha</title>" in html
    assert "AGG+ Baseline · Schwab shelf" in pdf_text(render(figures, "pdf"))


def trailing_row(html: str, key: str = "model") -> list[str]:
    """The texts of a series' row of the trailing returns (``model``: the model's)."""
    section = html[
        html.index('id="trailing-h"') : html.index("</section>", html.index('id="trailing-h"'))
    ]
    row = re.search(rf'<tr class="{key}">(.*?)</tr>', section, re.S).group(1)
    return re.findall(r"<td[^>]*>([^<]*)</td>", row)


def test_every_trailing_return_says_whether_it_is_cumulative_or_annualized(figures):
    html = render(figures, "html", "site").decode()
    assert header_columns(html) == [
        [],
        ["Cumulative", "Month"],
        ["Cumulative", "YTD"],
        ["Cumulative", "1 year"],
        ["Annualized", "3 years"],
        ["Annualized", "5 years"],
        ["Annualized", "Since 1/2016"],
        ["Cumulative", "Since 1/2016"],
    ]
    model = figures["trailing"]["model"]
    keys = ("month", "ytd", "one_year", "three_year_annualized", "five_year_annualized")
    keys += ("itd_annualized", "itd")
    assert trailing_row(html) == [percent(model[key]) for key in keys]
    assert model["itd"] != model["itd_annualized"]
    text = pdf_text(render(figures, "pdf"))
    assert "Cumulative" in text and "Annualized" in text


def test_the_performance_pages_returns_are_headed_cumulative(run):
    _, _, rows = run
    html = performance_html({"as_of": "2018-12", "rows": rows}, {}, sample=True)
    columns = header_columns(html)
    assert columns[0] == ["Model or index"]
    group = "Cumulative returns, not annualized"
    periods = ["Dec 2018", "YTD 2018", "1-year", "3-year", "5-year", "ITD 1/2016"]
    assert columns[1:7] == [[group, period] for period in periods]
    assert all(group not in column for column in columns[7:])
