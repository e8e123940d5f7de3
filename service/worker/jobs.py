"""Worker jobs. Each builds its handles from the settings, so RQ can run it in any process.

Running a job twice adds nothing: a month already in the ledger (by its as-of date, for
``source='worker'``) is skipped. A run can be killed at any point and run again: each model's
new months are committed in one transaction, and every run publishes whatever versions the
ledger has and the cache lacks (:func:`publish_missing`), so a rerun finishes what a killed run
committed but had not published (or what a push recorded while Redis was down).

``run_due`` also publishes the performance figures of the backtests it ran, as cache documents
(derived data: they are not in the ledger). ``performance`` is the table of
``plusalpha performance`` (``{"as_of": "YYYY-MM", "rows": [...]}``, one row per model run and
per passive benchmark, the columns ``TABLE_COLUMNS``, NaN as null) and ``performance.{model_id}``
one model's ``{"model_id", "as_of", "statistics", "returns": [{"month", "return"}]}``.
``performance.history`` holds, for every month to the latest, the table that month would have
shown and the portfolio each model built at its end (``{"as_of", "sample", "months": {"YYYY-MM":
{"rows": [...], "holdings": {model_id: {ticker: weight}}}}}``): the pages' as-of choice. The
fact sheets are rendered from them (``service.factsheets``).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pandas as pd

from ..cache import flush_all, get_document, has_documents, put_document, versions
from ..engine.backtest import Backtest, rebalance_dates, run_backtests
from ..engine.data import MarketData
from ..engine.models import MODELS
from ..engine.performance import assemble_table, last_complete_month, monthly_tables, truncate
from ..engine.provenance import data_hashes, recipe
from ..engine.sample import data_or_sample
from ..engine.trades import rebalance_many
from ..factsheets import document_names as factsheet_document_names
from ..factsheets.build import factsheet_bodies
from ..formats import without_residue
from ..ledger import (
    add_rebalances,
    get_definition,
    is_variant_id,
    list_rebalances,
    model_definitions,
    worker_as_of_dates,
)
from ..publishing import (
    publish_definitions,
    publish_sample_shelves,
    republish,
    security_labels,
)
from .figures import record_run
from .handles import (
    HISTORY_DOCUMENT,
    PERFORMANCE_DOCUMENT,
    QUEUE,
    Handles,
    buildable_variant_ids,
    handles,
    model_performance_document,
    queue_variant_builds,
)

IDENTITY_COLUMNS = ("model_id", "name", "group")
"""The columns of a table row that name it rather than measure it."""


def effective_date(as_of: pd.Timestamp) -> datetime:
    """A rebalance built after the close of ``as_of`` is in force from the next business day."""
    return (as_of + pd.offsets.BDay(1)).date()


def run_due(
    h: Handles, model_ids=None, progress: bool = False, queue_variants: bool = True
) -> dict[str, list[int]]:
    """Backtest the models, add the months the ledger lacks, publish them; new versions.

    When nothing is due (see :func:`up_to_date`) no backtest runs. A run that ends adds itself
    to the worker's figures (:mod:`service.worker.figures`). A run of every model then queues
    the builds of the variants (``queue_variants``; RQ jobs that any worker process takes, each
    skipping what is built already: :mod:`service.worker.variants`).
    """
    ids = list(model_ids or MODELS)
    data = data_or_sample(h.data_dir)
    with h.sessions() as session:
        publish_sample_shelves(session, data)
        session.commit()
    if queue_variants and model_ids is None:
        queue_variant_builds(h.redis, buildable_variant_ids(h))
    published = 0
    if up_to_date(h, data, ids):
        with h.sessions() as session:
            for model_id in sorted(ids):
                published += publish_missing(h, session, model_id)
        record_run(h.redis, published)
        return {model_id: [] for model_id in sorted(ids)}
    dates = rebalance_dates(data.prices)
    say(progress, f"backtesting {len(ids)} model(s) at {len(dates)} month ends, all at once:")
    backtests = run_backtests(data, ids, progress=progress)
    say(progress, "recording the new versions in the ledger, publishing them to the cache")
    hashes = data_hashes(data, dates)
    added: dict[str, list[int]] = {}
    with h.sessions() as session:
        publish_definitions(session)
        session.commit()
        for model_id in sorted(ids):
            rows = record_backtest(session, model_id, backtests[model_id], hashes)
            session.commit()
            published += publish_missing(h, session, model_id)
            added[model_id] = [row.version for row in rows]
    say(progress, "publishing the performance of every month and the fact sheets")
    publish_performance(h.redis, data, backtests)
    record_run(h.redis, published)
    return added


def say(progress: bool, stage: str) -> None:
    """A stage of a run on standard error, when its progress is shown."""
    if progress:
        print(stage, file=sys.stderr, flush=True)


def publish_missing(h: Handles, session, model_id: str) -> int:
    """Publish the model's versions that the ledger has and the cache lacks; how many.

    The last in force first (:func:`service.publishing.republish`), as the versions a run adds:
    a cache filled this way holds the newest versions of a model, so while it fills a reader
    gets the version in force or, for an earlier day, a miss that the API answers from the
    ledger; never an older version.
    """
    rows = list_rebalances(session, model_id, limit=None)
    cached = set(versions(h.redis, model_id, limit=max(len(rows), 1)))
    missing = [row for row in rows if row.version not in cached]
    if not missing:
        return 0
    definition = get_definition(session, model_id)
    return republish(h.redis, definition, missing, security_labels(h.data_dir))


def record_backtest(session, model_id: str, backtest: Backtest, hashes=None) -> list:
    """Add to the ledger the backtest's rebalances of the months it lacks; the new rows.

    Only the last new version is announced to webhooks: a backfill of a hundred months is one
    ``model.rebalanced`` event, for the version in force. With ``hashes``
    (:func:`service.engine.provenance.data_hashes` of the rebalance dates) each row records its
    recipe, the definition being the ledger's.
    """
    known = worker_as_of_dates(session, model_id)
    definition = get_definition(session, model_id).definition if hashes else None
    new = [r for r in backtest.rebalances if r.date.date() not in known]
    versions = [
        {
            "as_of": r.date.date(),
            "effective_date": effective_date(r.date),
            "weights": {t: float(w) for t, w in r.weights.items()},
            "source": "worker",
            "provenance": recipe(definition, hashes[r.date]) if hashes else None,
        }
        for r in new
    ]
    return add_rebalances(session, model_id, versions)


def up_to_date(h: Handles, data: MarketData, ids: list[str]) -> bool:
    """Whether nothing is due: the ledger has every rebalance of the data's months for each
    model, and the cache this data's performance table of them (else the backtests run)."""
    document = get_document(h.redis, PERFORMANCE_DOCUMENT)
    if document is None:
        return False
    table = json.loads(document)
    covered = {row["model_id"] for row in table["rows"]}
    if table["as_of"] != str(last_complete_month(data)) or not covered >= set(ids):
        return False
    if not has_documents(h.redis, [HISTORY_DOCUMENT, *factsheet_document_names(ids)]):
        return False
    dates = {day.date() for day in rebalance_dates(data.prices)}
    with h.sessions() as session:
        return all(dates <= worker_as_of_dates(session, model_id) for model_id in ids)


# --- performance documents ---------------------------------------------------------------------


def performance_document_names(variant_ids=()) -> list[str]:
    """The names of every performance document the worker may publish (of the nine, and of
    the variants ``variant_ids``)."""
    return [
        PERFORMANCE_DOCUMENT,
        HISTORY_DOCUMENT,
        *(model_performance_document(m) for m in [*MODELS, *variant_ids]),
        *factsheet_document_names([*MODELS, *variant_ids]),
    ]


def json_rows(table: pd.DataFrame) -> list[dict]:
    """A table's rows as JSON holds them."""
    return [
        {column: json_value(value) for column, value in row.items()}
        for row in table.to_dict(orient="records")
    ]


def holdings(backtests: Mapping[str, Backtest]) -> dict[str, dict[str, float]]:
    """Each model's portfolio built at the end of the backtests' last month."""
    return {
        model_id: without_residue({t: float(w) for t, w in b.rebalances[-1].weights.items()})
        for model_id, b in backtests.items()
    }


def json_value(value):
    """A table cell as JSON holds it: NaN as None, numpy numbers as Python ones."""
    if isinstance(value, bool | str) or value is None:
        return value
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def performance_documents(data: MarketData, backtests: Mapping[str, Backtest]) -> dict[str, dict]:
    """The performance documents of finished backtests, by name.

    The table is ``assemble_table`` as of the data's last complete month, on the data cut there:
    the same rows and values as ``plusalpha performance`` would compute from this data.
    """
    as_of = last_complete_month(data)
    table = assemble_table(truncate(data, as_of), dict(backtests), as_of)
    rows = json_rows(table)
    month = str(as_of)
    history = {
        str(m): {"rows": json_rows(t), "holdings": holdings(cut)}
        for m, cut, t in monthly_tables(data, dict(backtests), as_of - 1)
    }
    history[month] = {"rows": rows, "holdings": holdings(backtests)}
    documents = {
        PERFORMANCE_DOCUMENT: {"as_of": month, "rows": rows},
        HISTORY_DOCUMENT: {
            "as_of": month,
            "sample": bool(data.metadata.get("sample", False)),
            "months": history,
        },
    }
    documents.update(model_documents(rows, as_of, backtests))
    return documents


def model_documents(rows: list[dict], as_of, backtests: Mapping[str, Backtest]) -> dict[str, dict]:
    """Each backtest's ``performance.{model_id}`` document, from the table's ``rows``."""
    by_id = {row["model_id"]: row for row in rows}
    return {
        model_performance_document(model_id): {
            "model_id": model_id,
            "as_of": str(as_of),
            "statistics": {k: v for k, v in by_id[model_id].items() if k not in IDENTITY_COLUMNS},
            "returns": [
                {"month": str(period), "return": json_value(value)}
                for period, value in backtest.returns[:as_of].items()
            ],
        }
        for model_id, backtest in backtests.items()
    }


def publish_performance(r, data: MarketData, backtests: Mapping[str, Backtest]) -> str:
    """Store the performance documents in the cache, all in one transaction; the as-of month.

    The table holds the models of ``backtests`` only: ``run_due`` for some models publishes a
    table of those (plus the passive benchmarks).
    """
    bodies = performance_bodies(data, backtests)
    store_documents(r, bodies)
    return json.loads(bodies[PERFORMANCE_DOCUMENT])["as_of"]


def performance_bodies(data: MarketData, backtests: Mapping[str, Backtest]) -> dict[str, bytes]:
    """The bodies of the performance documents and of the fact sheets rendered from them."""
    documents = performance_documents(data, backtests)
    bodies = {name: document_body(document) for name, document in documents.items()}
    bodies.update(factsheet_bodies(data, backtests, documents[PERFORMANCE_DOCUMENT]))
    return bodies


def document_body(document: dict) -> bytes:
    """A document as the cache holds it: compact JSON, no NaN."""
    return json.dumps(document, allow_nan=False, separators=(",", ":")).encode("utf-8")


def store_documents(r, bodies: Mapping[str, bytes]) -> None:
    """Put the documents in the cache in one transaction."""
    pipe = r.pipeline(transaction=True)
    for name, body in bodies.items():
        put_document(pipe, name, body)
    pipe.execute()


def rebuild_cache(h: Handles) -> int:
    """Empty the cache and publish every version in the ledger again; the count published.

    The performance documents are not in the ledger and take a run of every backtest to
    compute, so they are read before the flush and put back after it. If they are missing
    (the cache was flushed or lost otherwise), ``plusalpha worker --once`` publishes them
    again; meanwhile the API answers 503 with ``Retry-After``.
    """
    with h.sessions() as session:
        definitions = model_definitions(session)
    variant_ids = [d.model_id for d in definitions if is_variant_id(d.model_id)]
    kept = {name: get_document(h.redis, name) for name in performance_document_names(variant_ids)}
    flush_all(h.redis)
    for name, body in kept.items():
        if body is not None:
            put_document(h.redis, name, body)
    labels = security_labels(h.data_dir)
    count = 0
    with h.sessions() as session:
        for definition in definitions:  # the nine and every variant
            rows = list_rebalances(session, definition.model_id, limit=None)
            count += republish(h.redis, definition, rows, labels)
    return count


def trade_batch(
    model_id: str,
    version: int,
    targets: Mapping[str, float],
    accounts: list[dict],
    prices: Mapping[str, float],
    options: Mapping,
    known: frozenset[str],
) -> dict:
    """Account trade lists of a batch: the answer of a small batch, the RQ job of a large one.

    Each answer carries its account's ``account_id``, when the account has one."""
    results = rebalance_many(accounts, prices, targets, options, known=known)
    answers = [
        {"account_id": account["account_id"], **result.as_dict()}
        if "account_id" in account
        else result.as_dict()
        for account, result in zip(accounts, results, strict=True)
    ]
    return {"model_id": model_id, "version": version, "accounts": answers}


def next_run(now: datetime) -> datetime:
    """One hour after the next month end (UTC), when that month's closes are in."""
    month_end = pd.Timestamp(now).tz_convert(UTC).normalize() + pd.offsets.MonthEnd(1)
    return (month_end + timedelta(days=1, hours=1)).to_pydatetime()


def scheduled_run() -> dict[str, list[int]]:
    """The RQ job: run what is due, then schedule the next run after the next month end."""
    from rq import Queue

    h = handles()
    added = run_due(h)
    Queue(QUEUE, connection=h.redis).enqueue_at(next_run(datetime.now(UTC)), scheduled_run)
    return added
