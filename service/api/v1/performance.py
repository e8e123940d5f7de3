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
from redis.exceptions import RedisError

from schemas.performance import (
    ModelPerformanceSchema,
    PerformanceQuerySchema,
    PerformanceTableSchema,
)

from ...cache import get_document
from ...worker.handles import PERFORMANCE_DOCUMENT, model_performance_document
from ..auth import licensed, require
from ..blueprint import Blueprint
from ..conditional import conditional
from ..errors import Problem
from ..extensions import get_redis
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
    def get(self, query: dict):
        """The performance table: the licensed models and every passive benchmark

        With ``format=csv``, the csv of ``plusalpha performance --format csv`` (the same
        columns in the same order) holding the same rows.
        """
        document = cached_document(PERFORMANCE_DOCUMENT)
        rows = [
            row for row in document["rows"] if row["group"] == PASSIVE or licensed(row["model_id"])
        ]
        if query.get("format") == "csv":
            return Response(table_csv(rows), mimetype="text/csv")
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
    """The document from the cache; 503 with Retry-After when it is missing or Redis is down."""
    try:
        body = get_document(get_redis(), name)
    except RedisError:
        current_app.logger.warning("redis unavailable: no performance document %s", name)
        body = None
    if body is None:
        raise Problem(
            503,
            "the performance figures are not computed yet; retry later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return json.loads(body)


def table_csv(rows: list[dict]) -> str:
    """The rows as ``plusalpha performance --format csv`` writes the table."""
    import pandas as pd  # here, not at start-up: only this answer needs it

    from ...engine.performance import TABLE_COLUMNS

    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    return table.to_csv(index=False, float_format=CSV_FLOAT_FORMAT)
