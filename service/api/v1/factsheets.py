"""A model's fact sheet, as HTML or PDF, for a key with ``performance:read``.

The latest month's are rendered by the worker when it publishes the performance figures and
read from the cache with the key, in one round trip; an earlier ``as_of`` is rendered on demand
from the worker's monthly figures (the expensive path: it takes a key and counts against its
rate limit like any request).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, g, request
from flask.views import MethodView

from schemas.factsheets import FactsheetQuerySchema

from ...engine.models import MODELS
from ...factsheets import FORMATS, document_name
from ...worker.handles import PERFORMANCE_DOCUMENT, model_performance_document
from ..auth import ensure_licensed, require
from ..blueprint import Blueprint
from ..conditional import conditional
from ..errors import fail
from ..pages import page
from .performance import cached_body, cached_document, month_of, not_computed

if TYPE_CHECKING:
    from ...cache import Window

blp = Blueprint(
    "factsheets", __name__, url_prefix="/v1/models", description="Fact sheets of the models"
)
PAGE_DESCRIPTION = "text/html by default (format=html or Accept), application/pdf for pdf"


def wanted_format(fmt: str | None, accept: str | None) -> str | None:
    """``html`` or ``pdf``: the ``format`` parameter, else the Accept header (html when there is
    none); None when the header accepts neither."""
    if fmt:
        return fmt
    if not accept:
        return "html"
    match = request.accept_mimetypes.best_match(list(FORMATS.values()))
    return {media: name for name, media in FORMATS.items()}.get(match)


def prefetch_factsheet(redis, digest: str, window: Window, model_id: str):
    """The key and the latest fact sheet it asks for, in one round trip (``require``'s
    prefetch): ``(KeyRead, (format, body or None))``, or no sheet for any other request."""
    from ...cache import read_api_key
    from ...cache.keys import document_key
    from ...cache.store import read_api_key_and

    fmt = wanted_format(request.args.get("format"), request.headers.get("Accept"))
    if "as_of" in request.args or model_id not in MODELS or fmt not in FORMATS:
        return read_api_key(redis, digest, window), None
    name = document_key(document_name(model_id, fmt, "api"))
    key, body = read_api_key_and(redis, digest, window, name)
    return key, (fmt, body)


@blp.route("/<model_id>/factsheet")
class Factsheet(MethodView):
    @require("performance:read", prefetch=prefetch_factsheet)
    @conditional
    @blp.conditional_doc
    @blp.arguments(FactsheetQuerySchema, location="query")
    @blp.response(200, {"type": "string"}, content_type="text/html", description=PAGE_DESCRIPTION)
    @blp.alt_response(
        200,
        schema={"type": "string", "format": "binary"},
        content_type="application/pdf",
        description=PAGE_DESCRIPTION,
        success=True,
    )
    @blp.alt_response(406, "NOT_ACCEPTABLE")
    def get(self, query: dict, model_id: str):
        """A model's fact sheet, as HTML or PDF

        One page, two at most when printed: the model's facts, the growth of $10,000, trailing
        and calendar-year returns, risk, today's portfolio and the disclosures, from the same
        figures as ``/v1/performance``.
        """
        from ...ledger import is_variant_id

        ensure_licensed(model_id, model_id in MODELS or is_variant_id(model_id))
        prefetched = g.pop("prefetched", None)
        fmt = wanted_format(query.get("format"), request.headers.get("Accept"))
        if fmt is None:
            fail(
                406,
                "the fact sheet is text/html or application/pdf",
                field="Accept",
                location="headers",
            )
        as_of = query.get("as_of")
        if as_of is None or as_of == cached_document(PERFORMANCE_DOCUMENT)["as_of"]:
            body = prefetched[1] if prefetched and prefetched[1] else None
            body = body or cached_body(document_name(model_id, fmt, "api"))
        elif is_variant_id(model_id):
            detail = "a variant's fact sheet is of the latest month only (the worker's history of "
            fail(422, detail + "earlier months holds the nine models)", field="as_of")
        else:
            body = render_month(model_id, as_of, fmt)
        month = as_of or "latest"
        filename = f"{model_id}-{month}.pdf" if fmt == "pdf" else None
        return page(body, FORMATS[fmt], filename=filename)


def render_month(model_id: str, as_of: str, fmt: str) -> bytes:
    """The fact sheet of an earlier month, rendered now from the worker's figures of it."""
    import pandas as pd  # the engine and its renders only here: the app starts without them

    from ...factsheets.build import figures_from_rows, market_data, render

    month = month_of(as_of)
    returns = cached_document(model_performance_document(model_id))["returns"]
    series = pd.Series(
        [r["return"] for r in returns],
        index=pd.PeriodIndex([r["month"] for r in returns], freq="M"),
    )
    if model_id not in month["holdings"]:  # the worker has not run this model yet
        not_computed()
    holdings = pd.Series(month["holdings"][model_id], dtype=float)
    data = market_data(current_app.config["DATA_DIR"])
    figures = figures_from_rows(
        data, model_id, series, holdings, month["rows"], pd.Period(as_of, "M")
    )
    return render(figures, fmt, "api", as_of)
