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


class Headers(HTMLParser):
    """The header rows of each table of a page: per row, its cells as ``(text, colspan,
    rowspan)``."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[tuple[str, int, int]]]] = []
        self._in_head = False
        self._cell: list | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._in_head:
            self.tables[-1].append([])
        elif tag in ("th", "td") and self._in_head:
            self._cell = ["", int(attrs.get("colspan", 1)), int(attrs.get("rowspan", 1))]

    def handle_endtag(self, tag):
        if tag == "thead":
            self._in_head = False
        elif tag in ("th", "td") and self._cell is not None:
            text, colspan, rowspan = self._cell
            self.tables[-1][-1].append((" ".join(text.split()), colspan, rowspan))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data


def header_columns(html: str) -> list[list[str]]:
    """The header of the page's first table that has one, as a reader reads it: for each column,
    the texts of the header cells above it from the top (a cell spanning several columns or rows
    is read over each; an empty cell is left out)."""
    parser = Headers()
    parser.feed(html)
    rows = next(rows for rows in parser.tables if rows)
    grid: dict[tuple[int, int], tuple[int, str]] = {}  # a position: its cell, as (number, text)
    number = 0
    for r, cells in enumerate(rows):
        c = 0
        for text, colspan, rowspan in cells:
            while (r, c) in grid:
                c += 1
            number += 1
            for dr in range(rowspan):
                for dc in range(colspan):
                    grid[(r + dr, c + dc)] = (number, text)
            c += colspan
    width = max(c for _, c in grid) + 1
    columns = []
    for c in range(width):
        cells = dict(grid[(r, c)] for r in range(len(rows)) if (r, c) in grid)
        columns.append([text for text in cells.values() if text])
    return columns
