"""Publication formats of a model-portfolio version: renderers, registry and negotiation.

A pure library (standard library only); it imports nothing else from the service. Each
renderer turns a published model document into the exact body to serve; `FORMATS` maps a
format name to its `Format` (name, served media type, extension, renderer, plus the media type
that selects it in an Accept header and the renderer's option names); `negotiate` picks one
from a ``?format=`` parameter or an Accept header; `percent_allocation` turns weights into
two-decimal percentages that sum to exactly 100 (largest remainder on basis points).
"""

from .allocation import CASH, percent_allocation
from .registry import FORMATS, Format, NotAcceptable, UnknownFormat, negotiate
from .render import (
    IREBAL_HEADER,
    is_residue,
    render_csv,
    render_irebal,
    render_json,
    render_orion,
    tolerance_band,
    without_residue,
)

__all__ = [
    "CASH",
    "FORMATS",
    "IREBAL_HEADER",
    "Format",
    "NotAcceptable",
    "UnknownFormat",
    "is_residue",
    "negotiate",
    "percent_allocation",
    "render_csv",
    "render_irebal",
    "render_json",
    "render_orion",
    "tolerance_band",
    "without_residue",
]
