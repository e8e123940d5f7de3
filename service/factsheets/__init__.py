"""Fact sheets and the performance page, rendered from the figures ``/v1/performance`` serves.

Shared by the worker (which renders every model's latest fact sheet when it publishes the
performance figures, into the cache), the API and the public site (which serve them, and render
an older month on demand) and the CLI (``plusalpha factsheet``). The figures are
:func:`service.engine.factsheet.factsheet_figures`; the charts (:mod:`.charts`, matplotlib) and
the PDF (:mod:`.pages`, WeasyPrint) import their libraries only when they render, and a fact
sheet is built from the engine's figures in :mod:`.build`: this module holds only the names of
the documents, so that the app imports no engine to serve them.

Cache documents (``service.cache.put_document``), written with the performance documents in
one transaction:

- ``factsheet.{model_id}.site.html``: the public site's page (links to ``/`` and its PDF);
- ``factsheet.{model_id}.api.html``: the API's (links to ``/v1/performance?format=html``);
- ``factsheet.{model_id}.pdf``: the PDF.
"""

from __future__ import annotations

from ..engine.models import MODELS

FORMATS = {"html": "text/html", "pdf": "application/pdf"}
VARIANTS = ("site", "api")


def document_name(model_id: str, fmt: str, variant: str = "site") -> str:
    """The cache document of a model's latest fact sheet in ``fmt`` (``html``: per variant)."""
    return f"factsheet.{model_id}.pdf" if fmt == "pdf" else f"factsheet.{model_id}.{variant}.html"


def document_names(model_ids=None) -> list[str]:
    """Every fact sheet document of the models (all of them by default)."""
    ids = MODELS if model_ids is None else model_ids
    names = []
    for model_id in ids:
        names += [document_name(model_id, "html", v) for v in VARIANTS]
        names.append(document_name(model_id, "pdf"))
    return names
