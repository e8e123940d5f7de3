"""What a reader sees of a page, read with the standard library's HTML parser."""

from __future__ import annotations

from html.parser import HTMLParser

SECTIONS = [
    "Model facts",
    "Growth of $10,000",
    "Trailing returns",
    "Calendar-year returns",
    "Risk",
    "Portfolio today",
    "Disclosures",
]
"""The sections of a fact sheet, in the order the issue gives them."""


class Page(HTMLParser):
    """The text, headings, table rows (by ``data-model-id``), cells (by ``data-column`` or
    ``data-figure``), links of those rows and the as-of options of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.lang = None
        self.h1: list[str] = []
        self.row_ids: list[str] = []
        self.rows: dict[str, list[str]] = {}
        self.figures: dict[str, list[str]] = {}
        self.links: dict[str, str] = {}
        self.options: list[str] = []
        self.chunks: list[str] = []
        self._row = None
        self._cell = None
        self._in_h1 = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang")
        elif tag == "h1":
            self._in_h1 = True
            self.h1.append("")
        elif tag == "tr" and "data-model-id" in attrs:
            self._row = attrs["data-model-id"]
            self.row_ids.append(self._row)
            self.rows[self._row] = []
        elif tag == "td":
            self._cell = [attrs.get("data-column"), attrs.get("data-figure"), ""]
        elif tag == "a" and self._row:
            self.links[self._row] = attrs["href"]
        elif tag == "option":
            self.options.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag == "h1":
            self._in_h1 = False
        elif tag == "tr":
            self._row = None
        elif tag == "td" and self._cell:
            column, name, text = self._cell
            if self._row and column:
                self.rows[self._row].append(text.strip())
            if name:
                self.figures.setdefault(name, []).append(text.strip())
            self._cell = None

    def handle_data(self, data):
        self.chunks.append(data)
        if self._in_h1:
            self.h1[-1] += data.strip()
        if self._cell:
            self._cell[2] += data

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.chunks).split())

    def row_cells(self, model_id: str) -> list[str]:
        return self.rows[model_id]

    def cells(self, name: str) -> list[str]:
        return self.figures.get(name, [])


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page
