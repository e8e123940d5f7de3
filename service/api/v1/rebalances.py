"""A model's versions: the list, newest first with a cursor, and one version."""

from __future__ import annotations

from flask.views import MethodView

from schemas.models import RebalanceListSchema, RebalancePageQuerySchema, RebalanceSchema

from ...auth import require
from ...errors import fail
from ...extensions import get_session
from ...ledger import get_rebalance, list_rebalances
from ..blueprint import Blueprint
from .models import licensed_definition

blp = Blueprint("rebalances", __name__, url_prefix="/v1/models", description="Versions of a model")


def cursor_version(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit():
        fail(422, f"cursor {cursor!r} is not one this API gave", field="cursor")
    return int(cursor)


@blp.route("/<model_id>/rebalances")
class Rebalances(MethodView):
    @require("models:read")
    @blp.arguments(RebalancePageQuerySchema, location="query")
    @blp.response(200, RebalanceListSchema)
    def get(self, query: dict, model_id: str):
        """The model's versions, newest first"""
        licensed_definition(model_id)
        limit = query["limit"]
        rows = list_rebalances(
            get_session(),
            model_id,
            before_version=cursor_version(query.get("cursor")),
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return {"data": rows, "next_cursor": str(rows[-1].version) if more else None}


@blp.route("/<model_id>/rebalances/<int:version>")
class Rebalance(MethodView):
    @require("models:read")
    @blp.response(200, RebalanceSchema)
    def get(self, model_id: str, version: int):
        """One version of the model"""
        licensed_definition(model_id)
        row = get_rebalance(get_session(), model_id, version)
        if row is None:
            fail(404, f"{model_id} has no version {version}", field="version", location="path")
        return row
