"""The format registry and content negotiation.

`negotiate` picks the format of a response:

1. A ``?format=`` parameter wins over the Accept header. It is matched case-insensitively
   after trimming blanks; an unknown (or empty) name raises `UnknownFormat`, whose message lists
   the valid names.
2. Otherwise the Accept header decides (RFC 9110, section 12.5.1). Each format is matched by its
   `Format.accept_type` (``application/json``, ``text/csv``,
   ``application/vnd.plusalpha.irebal+csv``, ``application/vnd.plusalpha.orion+json``), not by
   the ``Content-Type`` it is served with: iRebal files are served as ``text/csv`` but
   ``Accept: text/csv`` means the plain csv format. For each format, the most specific matching
   media range (``type/subtype`` over ``type/*`` over ``*/*``) gives its quality; among equally
   specific ranges the highest ``q``. Media-range parameters other than ``q`` are ignored. The
   format with the highest quality above 0 wins; ties go to the format matched by the more
   specific range, then by the range listed first, then to the registry order (json, csv,
   irebal, orion). So ``*/*`` gives json and ``application/json;q=0, */*`` gives csv.
3. A missing or blank Accept header, or one without a single well-formed media range, counts
   as ``*/*`` (json). A malformed range (no ``/``, or ``q`` outside 0 to 1 with at most three
   decimals) is skipped. If no format has a quality above 0, `NotAcceptable` is raised.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from .render import render_csv, render_irebal, render_json, render_orion


@dataclass(frozen=True)
class Format:
    """A published format: its name, served Content-Type, file extension (no dot), renderer,
    the media type that selects it in an Accept header and the options its renderer takes."""

    name: str
    media_type: str
    extension: str
    render: Callable[..., str]
    accept_type: str = ""
    options: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.accept_type:
            object.__setattr__(self, "accept_type", self.media_type)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("json", "application/json", "json", render_json),
        Format("csv", "text/csv", "csv", render_csv),
        Format(
            "irebal",
            "text/csv",
            "csv",
            render_irebal,
            "application/vnd.plusalpha.irebal+csv",
            frozenset({"cash"}),
        ),
        Format(
            "orion",
            "application/json",
            "json",
            render_orion,
            "application/vnd.plusalpha.orion+json",
            frozenset({"cash", "tolerance"}),
        ),
    )
}
DEFAULT_FORMAT = "json"


class UnknownFormat(ValueError):
    """The ``format`` parameter names no format; ``valid`` holds the names that exist."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.valid = tuple(FORMATS)
        super().__init__(f"unknown format {name!r}; valid formats: {', '.join(self.valid)}")


class NotAcceptable(ValueError):
    """The Accept header admits none of the formats; ``available`` holds their media types."""

    def __init__(self, accept: str) -> None:
        self.accept = accept
        self.available = tuple(f.accept_type for f in FORMATS.values())
        super().__init__(
            f"no format is acceptable for Accept: {accept!r}; "
            f"available media types: {', '.join(self.available)}"
        )


_Q = re.compile(r"0(\.\d{0,3})?|1(\.0{0,3})?")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _media_ranges(accept: str) -> list[tuple[str, str, Decimal]]:
    """The well-formed ``(type, subtype, q)`` media ranges of an Accept header, in order."""
    ranges = []
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        kind, slash, sub = media.lower().partition("/")
        if not slash or not _TOKEN.fullmatch(kind) or not _TOKEN.fullmatch(sub):
            continue
        if kind == "*" and sub != "*":
            continue
        q = Decimal(1)
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                value = value.strip()
                q = Decimal(value) if _Q.fullmatch(value) else Decimal(-1)
                break
        if q >= 0:
            ranges.append((kind, sub, q))
    return ranges


def _specificity(kind: str, sub: str, accept_type: str) -> int:
    """2 for an exact match, 1 for ``type/*``, 0 for ``*/*``, -1 for no match."""
    target_kind, _, target_sub = accept_type.lower().partition("/")
    if kind == "*":
        return 0
    if kind != target_kind:
        return -1
    if sub == "*":
        return 1
    return 2 if sub == target_sub else -1


def negotiate(format_param: str | None, accept_header: str | None) -> Format:
    """The format to respond with (see the module doc for the rules)."""
    if format_param is not None:
        fmt = FORMATS.get(format_param.strip().lower())
        if fmt is None:
            raise UnknownFormat(format_param)
        return fmt
    ranges = _media_ranges(accept_header) if accept_header and accept_header.strip() else []
    if not ranges:
        return FORMATS[DEFAULT_FORMAT]

    best: tuple | None = None
    for order, fmt in enumerate(FORMATS.values()):
        # (specificity, q, -position) of the most specific, then highest-q, matching range.
        match = max(
            (
                (spec, q, -position)
                for position, (kind, sub, q) in enumerate(ranges)
                if (spec := _specificity(kind, sub, fmt.accept_type)) >= 0
            ),
            default=None,
        )
        if match is None or match[1] <= 0:
            continue
        spec, q, neg_position = match
        key = (q, spec, neg_position, -order)
        if best is None or key > best[0]:
            best = (key, fmt)
    if best is None:
        raise NotAcceptable(accept_header or "")
    return best[1]
