"""Account trade lists (scope ``trades:write``): the trades that bring an account to a model.

The API computes and stores nothing: the account, its prices and the options come in, the
trades, the account after them, its drift and the warnings go out (``service.engine.trades``).
The model's weights are those in force today; prices default to the latest close in our data.
"""

from __future__ import annotations

import json
from datetime import date
from http import HTTPStatus

from flask import Response, current_app

from schemas.accounts import (
    MAX_ACCOUNT_VALUE,
    MAX_BATCH,
    AccountTradesRequestSchema,
    BatchTradeListSchema,
    BatchTradesRequestSchema,
    JobSchema,
    TradeListSchema,
)

from ...engine.models import MODELS
from ...worker.handles import QUEUE
from ..auth import current_key, require
from ..blueprint import Blueprint
from ..errors import Problem, fail
from ..extensions import get_redis, get_session
from .jobs import JOB_RESULT_TTL_SECONDS, job_view
from .models import licensed_definition

ACCEPTED = HTTPStatus.ACCEPTED
JSON = "application/json"
# The trade engine (numpy), the worker's jobs and RQ are imported in the views that use them:
# every process that creates the app (each CLI command too) would pay for importing them.

blp = Blueprint("accounts", __name__, url_prefix="/v1/models", description="Account trade lists")


def trading_context(model_id: str, body: dict):
    """The version traded to, its weights, the prices and the options; 404 or 422 as needed."""
    from ...engine.trades import model_options
    from ...ledger import base_model_id, latest_rebalance
    from ...publishing import latest_closes

    licensed_definition(model_id)
    rebalance_row = latest_rebalance(get_session(), model_id, date.today())
    if rebalance_row is None:
        fail(404, f"{model_id} has no version in force today", field="model_id", location="path")
    closes = latest_closes(current_app.config["DATA_DIR"])
    prices = {**closes, **body["prices"]}
    unknown = sorted(set(body["prices"]) - set(closes))
    if unknown:
        fail(
            422,
            f"unknown tickers {', '.join(unknown)}",
            field=f"prices.{unknown[0]}",
            location="json",
        )
    options = model_options(MODELS[base_model_id(model_id)], body["options"])  # a variant's bands
    # are its base model's
    return rebalance_row, prices, options, frozenset(closes)


def too_large(accounts: list[dict], prices: dict[str, float], where: str = "") -> None:
    """422 for an account worth more than MAX_ACCOUNT_VALUE (most likely a unit error)."""
    for k, account in enumerate(accounts):
        value = account["cash"] + sum(
            holding["quantity"] * prices.get(holding["ticker"], 0.0)
            for holding in account["holdings"]
        )
        if value > MAX_ACCOUNT_VALUE:
            field = f"{where.format(k)}holdings"
            detail = f"the account is worth {value:.3g}, over {MAX_ACCOUNT_VALUE:g}"
            fail(422, detail, field=field, location="json")


@blp.route("/<model_id>/accounts/trades", methods=["POST"])
@require("trades:write")
@blp.arguments(AccountTradesRequestSchema)
@blp.response(200, TradeListSchema)
def account_trades(body: dict, model_id: str):
    """The trades that bring one account to the model

    Modes ``full``, ``band``, ``buy_only`` and ``sell_only``; tolerance bands (the model's by
    default), ``min_trade``, ``cash_target``, whole or fractional shares, restricted and locked
    tickers. Holdings outside the model are sold unless locked. Nothing is stored.
    """
    from ...engine.trades import TradeInputError, rebalance

    row, prices, options, known = trading_context(model_id, body)
    too_large([body], prices)
    try:
        result = rebalance(
            body["holdings"], body["cash"], prices, row.weights_by_ticker, options, known=known
        )
    except TradeInputError as error:
        fail(422, error.message, field=error.field, location="json")
    return {"model_id": model_id, "version": row.version, **result.as_dict()}


@blp.route("/<model_id>/accounts/trades:batch", methods=["POST"])
@require("trades:write")
@blp.arguments(BatchTradesRequestSchema)
@blp.response(200, BatchTradeListSchema)
@blp.alt_response(
    ACCEPTED,
    schema=JobSchema,
    description=f"Over {MAX_BATCH:,} accounts: the batch runs as a job; poll its status URL",
    headers={"Location": {"description": "The job's status URL", "schema": {"type": "string"}}},
)
def batch_trades(body: dict, model_id: str):
    """The trades that bring each account of a batch to the model

    The accounts share the prices and the options; the answer lists them in the same order.
    Up to 1,000 accounts are answered at once; a larger batch (up to 100,000) is queued as a
    job, answered 202 with the URL of its status, where its result appears when finished.
    """
    row, prices, options, known = trading_context(model_id, body)
    too_large(body["accounts"], prices, "accounts[{}].")
    args = (model_id, row.version, row.weights_by_ticker, body["accounts"], prices, options, known)
    if len(body["accounts"]) > MAX_BATCH:
        return queue_batch(args)
    from ...engine.trades import TradeInputError
    from ...worker.jobs import trade_batch

    try:
        return trade_batch(*args)
    except TradeInputError as error:
        fail(422, error.message, field=error.field, location="json")


def queue_batch(args: tuple) -> Response:
    """Queue ``trade_batch(*args)`` for the RQ worker; 202 with its status URL (503: no Redis)."""
    from redis.exceptions import RedisError
    from rq import Queue

    from ...worker.jobs import trade_batch

    try:
        job = Queue(QUEUE, connection=get_redis()).enqueue(
            trade_batch,
            *args,
            result_ttl=JOB_RESULT_TTL_SECONDS,
            failure_ttl=JOB_RESULT_TTL_SECONDS,
            meta={"key_id": current_key().id},
            # RQ logs a job's description; its default lists the arguments: a client's accounts.
            description=f"trade lists of {len(args[3]):,} accounts for {args[0]} v{args[1]}",
        )
    except RedisError:
        raise Problem(503, "the job queue is unavailable", headers={"Retry-After": "30"}) from None
    status = job_view(job)
    response = Response(json.dumps(JobSchema().dump(status)), ACCEPTED, mimetype=JSON)
    response.headers["Location"] = status["status_url"]
    return response
