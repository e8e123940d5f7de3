"""The performance page and the fact sheets in a real browser (Debian's Chromium).

What a reader would check: the pages load with no console error and no failed request (a
Content-Security-Policy violation is a console error), each chart is drawn, every figure of the
performance page is the JSON's of ``/v1/performance`` at the page's rounding, each row's link
opens its fact sheet with every section, and the pages fit a 375 px phone without horizontal
scrolling. Screenshots of each page at 1,400 and 375 px go to ``var/screenshots/``.
"""

from __future__ import annotations

import io
from contextlib import contextmanager

import pytest
import requests
from PIL import Image, ImageStat

from service.engine.models import MODELS
from service.factsheets.pages import COLUMNS
from tests.factsheets.html import SECTIONS

from .conftest import MODELS_RUN

WIDTHS = {"wide": 1400, "phone": 375}
CHARTS = 4
SMALLEST_TEXT = 9  # CSS pixels
RENDERED_FONT_SIZES = """
Array.from(document.querySelectorAll("svg.chart text"), (text) => {
  const m = text.getScreenCTM();
  return parseFloat(getComputedStyle(text).fontSize) * Math.hypot(m.a, m.b);
})
"""
"""The size at which each chart text is drawn: its font size scaled as the SVG is on the page."""


@contextmanager
def opened(browser, url: str, width: int, key: str | None = None):
    """A page of ``url`` at ``width`` (read with ``key``: its requests carry it); fails on any
    console error or failed request."""
    headers = {"Authorization": f"Bearer {key}"} if key else None
    context = browser.new_context(
        viewport={"width": width, "height": 900}, extra_http_headers=headers
    )
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}"))
    page.on("response", lambda r: problems.append(f"{r.url}: {r.status}") if r.status >= 400 else 0)
    try:
        response = page.goto(url)
        assert response.status == 200, url
        page.wait_for_load_state("networkidle")
        yield page
        assert problems == [], url
    finally:
        context.close()


def shows(text: str, value: float | None, column) -> bool:
    """Whether a cell's text is the JSON's figure at the page's rounding (a dash when null)."""
    if value is None:
        return text == "–"
    scale = 100 if column.kind == "percent" else 1
    shown = float(text.removesuffix("%"))
    return abs(shown - value * scale) <= 0.5 * 10**-column.decimals + 1e-9


def fits(page, width: int) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_performance_page_shows_the_jsons_figures(browser, site, screenshots):
    table = requests.get(
        f"{site.base}/v1/performance",
        headers={"Authorization": f"Bearer {site.keys['reader']}"},
        timeout=30,
    ).json()
    for name, width in WIDTHS.items():
        with opened(browser, f"{site.base}/", width) as page:
            assert page.evaluate("document.documentElement.lang") == "en"
            for row in table["rows"]:
                cells = page.locator(f'tr[data-model-id="{row["model_id"]}"] td')
                texts = cells.all_inner_texts()
                assert len(texts) == len(COLUMNS)
                for text, column in zip(texts, COLUMNS, strict=True):
                    assert shows(text, row[column.key], column), (row["model_id"], column, text)
            assert fits(page, width), f"the performance page scrolls sideways at {width}px"
            page.screenshot(path=screenshots / f"performance-{name}.png", full_page=True)


def test_each_rows_link_opens_its_fact_sheet(browser, site):
    with opened(browser, f"{site.base}/", WIDTHS["wide"]) as page:
        links = page.locator("tr[data-model-id] th a")
        assert links.count() == len(MODELS_RUN)
        for i in range(links.count()):
            link = links.nth(i)
            model_id = link.locator("xpath=ancestor::tr").get_attribute("data-model-id")
            link.click()
            page.wait_for_load_state("networkidle")
            assert page.url == f"{site.base}/models/{model_id}"
            assert page.locator("h1").inner_text() == MODELS[model_id].name
            assert page.locator("h2").all_inner_texts() == [s.upper() for s in SECTIONS]
            page.go_back()


@pytest.mark.parametrize("model_id", MODELS_RUN)
def test_a_fact_sheet_draws_every_chart_and_fits_a_phone(browser, site, screenshots, model_id):
    for name, width in WIDTHS.items():
        with opened(browser, f"{site.base}/models/{model_id}", width) as page:
            charts = page.locator("svg.chart")
            assert charts.count() == CHARTS
            for i in range(CHARTS):
                chart = charts.nth(i)
                box = chart.bounding_box()
                assert box["width"] > 100 and box["height"] > 50, i
                assert chart.get_attribute("role") == "img"
                assert chart.locator("title").text_content()
                assert chart.locator("desc").text_content()
            assert page.locator("table th[scope]").count() > 10
            assert fits(page, width), f"{model_id} scrolls sideways at {width}px"
            page.screenshot(path=screenshots / f"factsheet-{model_id}-{name}.png", full_page=True)


@pytest.mark.parametrize("model_id", MODELS_RUN)
def test_no_chart_text_is_smaller_than_9px_on_a_phone(browser, site, model_id):
    with opened(browser, f"{site.base}/models/{model_id}", WIDTHS["phone"]) as page:
        sizes = page.evaluate(RENDERED_FONT_SIZES)
        assert len(sizes) > 40  # every tick label, legend entry and value
        assert min(sizes) >= SMALLEST_TEXT, sorted(sizes)[:5]
        heights = page.evaluate(
            """Array.from(document.querySelectorAll("svg.chart text"),
                (t) => t.getBoundingClientRect().height).filter((h) => h > 0)"""
        )
        assert min(heights) >= SMALLEST_TEXT  # what the reader sees: each text's box


def right_edge_brightness(scroll) -> float:
    """The mean brightness (0 to 255) of the right 3 px of a scrolling box, as drawn."""
    image = Image.open(io.BytesIO(scroll.screenshot())).convert("L")
    width, height = image.size
    strip = image.crop((width - 3, 0, width, height))
    return ImageStat.Stat(strip).mean[0]


@pytest.mark.parametrize(
    ("path", "box"),
    [(f"/models/{MODELS_RUN[0]}", "section.trailing .scroll"), ("/", ".scroll")],
)
def test_a_table_wider_than_a_phone_shows_that_it_scrolls(browser, site, path, box):
    """On a phone the table scrolls in its box: a shadow on the right edge says there is more
    to see (gone at its end), and the row headers stay in view while it scrolls."""
    with opened(browser, f"{site.base}{path}", WIDTHS["phone"]) as page:
        scroll = page.locator(box).first
        assert scroll.evaluate("(e) => e.scrollWidth > e.clientWidth"), "the table fits"
        shadowed = right_edge_brightness(scroll)
        scroll.evaluate("(e) => { e.scrollLeft = e.scrollWidth; }")
        at_end = right_edge_brightness(scroll)
        assert shadowed < at_end - 20, (shadowed, at_end)
        header = scroll.locator('th[scope="row"]').first.bounding_box()
        assert abs(header["x"] - scroll.bounding_box()["x"]) < 1  # held at the left
        assert fits(page, WIDTHS["phone"])


def test_the_api_pages_load_everything_with_the_site_off(browser, site_off):
    for path in (f"/v1/models/{MODELS_RUN[0]}/factsheet", "/v1/performance?format=html"):
        for width in WIDTHS.values():
            with opened(browser, f"{site_off.base}{path}", width, site_off.keys["reader"]) as page:
                styled = page.evaluate("getComputedStyle(document.querySelector('h1')).color")
                assert styled == "rgb(27, 79, 114)", path  # the stylesheet's accent: it loaded
