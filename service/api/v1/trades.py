"""What a rebalance changed: the trades from one version of a model to another."""

from __future__ import annotations

from flask.views import MethodView

from schemas.trades import TradesQuerySchema, TradesSchema

from ..auth import require
from ..blueprint import Blueprint
from ..conditional import conditional
from ..errors import fail
from ..extensions import get_session
from .models import licensed_definition

UNCHANGED = 1e-12
"""Weight changes no larger than this are float noise: the ticker is not traded."""

blp = Blueprint("trades", __name__, url_prefix="/v1", description="Trades between versions")


@blp.route("/models/<model_id>/trades")
class Trades(MethodView):
    @require("models:read")
    @conditional
    @blp.conditional_doc
    @blp.arguments(TradesQuerySchema, location="query")
    @blp.response(200, TradesSchema)
    def get(self, query: dict, model_id: str):
        """The trades from one version to another

        By default the latest version against the one before; the first version is bought
        from cash (``from_version`` null). Tickers whose weight did not change are left out.
        """
        licensed_definition(model_id)
        target = target_version(model_id, query.get("to_version"))
        start = query.get("from_version", target.version - 1)
        if start >= target.version:
            fail(
                422,
                f"from ({start}) must be below to ({target.version})",
                field="from",
            )
        source = version_row(model_id, start, "from") if start else None
        return {
            "model_id": model_id,
            "from_version": source.version if source else None,
            "to_version": target.version,
            "trades": trades(source.weights_by_ticker if source else {}, target.weights_by_ticker),
        }


def target_version(model_id: str, version: int | None):
    """The version traded to: the one asked for, else the latest; 404 when there is none."""
    from ...ledger import latest_rebalance

    if version is not None:
        return version_row(model_id, version, "to")
    latest = latest_rebalance(get_session(), model_id)
    if latest is None:
        fail(404, f"{model_id} has no version yet")
    return latest


def version_row(model_id: str, version: int, field: str):
    from ...ledger import get_rebalance

    row = get_rebalance(get_session(), model_id, version)
    if row is None:
        fail(404, f"{model_id} has no version {version}", field=field)
    return row


def trades(before: dict[str, float], after: dict[str, float]) -> list[dict]:
    """The changed weights, by ticker: bought when the weight rose, else sold."""
    result = []
    for ticker in sorted(before.keys() | after.keys()):
        old, new = before.get(ticker, 0.0), after.get(ticker, 0.0)
        change = new - old
        if abs(change) > UNCHANGED:
            result.append(
                {
                    "ticker": ticker,
                    "from_weight": old,
                    "to_weight": new,
                    "change": change,
                    "action": "buy" if change > 0 else "sell",
                }
            )
    return result
