"""The performance table and each model's statistics and monthly returns.

They are derived from the backtests, not kept in the ledger, and take the engine long to
compute: the worker computes them (``run_due``) and stores them as cache documents, which these
views only read. While a document is missing (the worker has not run yet, or the cache was
lost: ``plusalpha worker --once`` restores it) the answer is 503 with ``Retry-After``.
"""

from __future__ import annotations

import json

from flask import Response, current_app
from flask.views import MethodView

from schemas.performance import (
    ModelPerformanceSchema,
    PerformanceQuerySchema,
    PerformanceTableSchema,
)

from ...factsheets.pages import performance_html
from ...worker.handles import HISTORY_DOCUMENT, PERFORMANCE_DOCUMENT, model_performance_document
from ..auth import licensed, require
from ..blueprint import Blueprint
from ..conditional import conditional
from ..errors import Problem, fail
from ..extensions import get_redis
from ..pages import page
from .models import licensed_definition

RETRY_AFTER_SECONDS = 60
PASSIVE = "passive_benchmark"
CSV_FLOAT_FORMAT = "%.6f"
"""As ``plusalpha performance --format csv`` writes its figures."""

blp = Blueprint(
    "performance", __name__, url_prefix="/v1", description="Performance of models and benchmarks"
)


@blp.route("/performance")
class Performance(MethodView):
    @require("performance:read")
    @conditional
    @blp.conditional_doc
    @blp.arguments(PerformanceQuerySchema, location="query")
    @blp.response(200, PerformanceTableSchema, description="JSON; text/csv with format=csv")
    @blp.alt_response(
        200,
        schema={"type": "string"},
        content_type="text/csv",
        description="JSON; text/csv with format=csv",
        success=True,
    )
    @blp.alt_response(
        200,
        schema={"type": "string"},
        content_type="text/html",
        description="The performance page with format=html",
        success=True,
    )
    def get(self, query: dict):
        """The performance table: the licensed models and every passive benchmark

        With ``format=csv``, the csv of ``plusalpha performance --format csv`` (the same
        columns in the same order) holding the same rows; with ``format=html``, the performance
        page, each model's row linking to its fact sheet. ``as_of`` gives the table an earlier
        month would have shown.
        """
        document = table_of(query.get("as_of"))
        rows = [
            row for row in document["rows"] if row["group"] == PASSIVE or licensed(row["model_id"])
        ]
        if query.get("format") == "csv":
            return Response(table_csv(rows), mimetype="text/csv")
        if query.get("format") == "html":
            return performance_page(document["as_of"], rows, query.get("as_of"))
        return {"as_of": document["as_of"], "rows": rows}


@blp.route("/models/<model_id>/performance")
class ModelPerformance(MethodView):
    @require("performance:read")
    @conditional
    @blp.conditional_doc
    @blp.response(200, ModelPerformanceSchema)
    def get(self, model_id: str):
        """A model's statistics and its monthly net returns"""
        licensed_definition(model_id)
        return cached_document(model_performance_document(model_id))


def cached_document(name: str) -> dict:
    """The JSON document from the cache (see :func:`cached_body`)."""
    return json.loads(cached_body(name))


def cached_body(name: str) -> bytes:
    """The document from the cache; 503 with Retry-After when it is missing or Redis is down."""
    from redis.exceptions import RedisError

    from ...cache import get_document

    try:
        body = get_document(get_redis(), name)
    except RedisError:
        current_app.logger.warning("redis unavailable: no performance document %s", name)
        body = None
    if body is None:
        not_computed()
    return body


def not_computed():
    """Raise the 503 of figures the worker has not computed yet."""
    raise Problem(
        503,
        "the performance figures are not computed yet; retry later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def table_of(as_of: str | None) -> dict:
    """The table document of ``as_of`` (the latest when None); 422 naming ``as_of`` for a month
    without figures."""
    latest = cached_document(PERFORMANCE_DOCUMENT)
    if as_of is None or as_of == latest["as_of"]:
        return latest
    return {"as_of": as_of, "rows": month_of(as_of)["rows"]}


def month_of(as_of: str) -> dict:
    """The history's month ``as_of`` (its rows and holdings); 422 naming ``as_of`` if none."""
    months = cached_document(HISTORY_DOCUMENT)["months"]
    if as_of not in months:
        first, last = min(months), max(months)
        fail(422, f"no figures for {as_of}: the months are {first} to {last}", field="as_of")
    return months[as_of]


def performance_page(as_of: str, rows: list[dict], asked: str | None) -> Response:
    """The performance page of the API: its rows link to the API's fact sheets."""
    month = f"&as_of={asked}" if asked else ""
    links = {
        row["model_id"]: f"/v1/models/{row['model_id']}/factsheet?format=html{month}"
        for row in rows
        if row["group"] != PASSIVE
    }
    history = cached_document(HISTORY_DOCUMENT)
    months = sorted(history["months"], reverse=True)
    table = {"as_of": as_of, "rows": rows}
    html = performance_html(table, links, history["sample"], months, pages="api")
    return page(html.encode("utf-8"), "text/html")


def table_csv(rows: list[dict]) -> str:
    """The rows as ``plusalpha performance --format csv`` writes the table."""
    import pandas as pd  # here, not at start-up: only this answer needs it

    from ...engine.performance import TABLE_COLUMNS

    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    return table.to_csv(index=False, float_format=CSV_FLOAT_FORMAT)
