"""The worker's jobs on a small data directory, a SQLite ledger and an embedded Redis.

The data is the sample universe's real-ticker ETFs and indices through December 2018: three
years of monthly rebalances, quick to backtest for two models.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from service.cache import current_version, flush_all, get_document, read_body, versions
from service.cache.keys import document_key
from service.engine.data import MarketData, write_data
from service.engine.models import PASSIVE_BENCHMARKS
from service.engine.performance import TABLE_COLUMNS, truncate
from service.ledger import list_rebalances
from service.ledger.schema import WebhookEvent
from service.worker import jobs
from service.worker.handles import handles
from service.worker.jobs import (
    PERFORMANCE_DOCUMENT,
    model_performance_document,
    performance_document_names,
    rebuild_cache,
    run_due,
)

MODELS_RUN = ("agg-plus-baseline", "hy-plus-baseline")
AS_OF = pd.Period("2018-12", "M")
MONTHS = 37
"""Rebalances from December 2015 to December 2018."""
FORMATS = ("json", "csv", "irebal", "orion")


def through_as_of(data: MarketData) -> MarketData:
    """The data up to AS_OF, less the series that start after it (a data directory has none)."""
    data = truncate(data, AS_OF)
    keep = data.prices.columns[data.prices.notna().any()]
    return MarketData(data.securities.loc[keep], data.prices[keep], data.metadata)


@pytest.fixture(scope="module")
def worker(small_sample, tmp_path_factory):
    """Handles on a fresh ledger and cache after a first run; the versions it added."""
    root = tmp_path_factory.mktemp("worker")
    write_data(through_as_of(small_sample), root / "data")
    h = handles(
        {
            "VAR_DIR": str(root / "var"),
            "DATABASE_URL": None,
            "REDIS_URL": None,
            "DATA_DIR": str(root / "data"),
        }
    )
    added = run_due(h, MODELS_RUN)
    yield h, added
    h.redis.shutdown(nosave=True)


def ledger_versions(h, model_id) -> list[int]:
    with h.sessions() as session:
        return sorted(row.version for row in list_rebalances(session, model_id, limit=1000))


def cached_bodies(h) -> dict:
    return {
        (model_id, version, fmt): read_body(h.redis, model_id, version, fmt)
        for model_id in MODELS_RUN
        for version in versions(h.redis, model_id, limit=1000)
        for fmt in FORMATS
    }


def documents(h) -> dict[str, bytes | None]:
    return {name: get_document(h.redis, name) for name in performance_document_names()}


def test_first_run_adds_every_month_and_publishes_it(worker):
    h, added = worker
    assert added == {model_id: list(range(1, MONTHS + 1)) for model_id in MODELS_RUN}
    for model_id in MODELS_RUN:
        assert ledger_versions(h, model_id) == list(range(1, MONTHS + 1))
        assert current_version(h.redis, model_id) == MONTHS
        assert versions(h.redis, model_id, limit=1000) == list(range(MONTHS, 0, -1))
        latest = json.loads(read_body(h.redis, model_id, MONTHS, "json"))
        assert (latest["version"], latest["as_of"]) == (MONTHS, "2018-12-31")


def test_a_backfill_announces_the_version_in_force_only(worker):
    """37 months recorded at once are one model.rebalanced event a model, for the last."""
    h, _ = worker
    with h.sessions() as session:
        events = session.scalars(select(WebhookEvent).order_by(WebhookEvent.model_id))
        announced = [(e.type, e.model_id, e.version) for e in events]
    assert announced == [("model.rebalanced", m, MONTHS) for m in MODELS_RUN]


def test_first_run_publishes_the_performance_documents(worker):
    h, _ = worker
    table = json.loads(get_document(h.redis, PERFORMANCE_DOCUMENT))
    assert table["as_of"] == "2018-12"
    assert [row["model_id"] for row in table["rows"]] == [*MODELS_RUN, *PASSIVE_BENCHMARKS]
    assert all(list(row) == list(TABLE_COLUMNS) for row in table["rows"])
    assert {row["five_year"] for row in table["rows"]} == {None}
    for model_id in MODELS_RUN:
        document = json.loads(get_document(h.redis, model_performance_document(model_id)))
        assert (document["model_id"], document["as_of"]) == (model_id, "2018-12")
        row = next(r for r in table["rows"] if r["model_id"] == model_id)
        assert document["statistics"] == {
            k: v for k, v in row.items() if k not in ("model_id", "name", "group")
        }
        months = [r["month"] for r in document["returns"]]
        # One return per month held; the latest portfolio is still held.
        assert months == [str(p) for p in pd.period_range("2016-01", "2018-12", freq="M")]
        assert all(isinstance(r["return"], float) for r in document["returns"])
    assert get_document(h.redis, model_performance_document("agg-plus-ig")) is None


def test_a_second_run_adds_nothing_and_runs_no_backtest(worker, monkeypatch):
    h, _ = worker
    bodies = cached_bodies(h)
    before = documents(h)
    backtested = []
    monkeypatch.setattr(jobs, "run_backtests", lambda *args, **kw: backtested.append(args))
    assert run_due(h, MODELS_RUN) == {model_id: [] for model_id in MODELS_RUN}
    assert backtested == []
    for model_id in MODELS_RUN:
        assert ledger_versions(h, model_id) == list(range(1, MONTHS + 1))
    assert cached_bodies(h) == bodies
    assert documents(h) == before


def test_rebuild_keeps_the_performance_documents(worker):
    h, _ = worker
    bodies, before = cached_bodies(h), documents(h)
    assert rebuild_cache(h) == len(MODELS_RUN) * MONTHS
    assert cached_bodies(h) == bodies
    assert documents(h) == before


def test_rebuild_after_a_flush_restores_the_bodies(worker):
    h, _ = worker
    bodies, before = cached_bodies(h), documents(h)
    assert len(bodies) == len(MODELS_RUN) * MONTHS * len(FORMATS)
    assert None not in bodies.values()
    assert flush_all(h.redis) > 0
    assert cached_bodies(h) == {}
    assert rebuild_cache(h) == len(MODELS_RUN) * MONTHS
    assert cached_bodies(h) == bodies
    for model_id in MODELS_RUN:
        assert current_version(h.redis, model_id) == MONTHS
    # The performance documents are not in the ledger: the next run publishes them again.
    assert set(documents(h).values()) == {None}
    assert run_due(h, MODELS_RUN) == {model_id: [] for model_id in MODELS_RUN}
    assert documents(h) == before


def test_a_run_renders_each_models_fact_sheets_with_the_figures(worker):
    h, _ = worker
    table = json.loads(get_document(h.redis, PERFORMANCE_DOCUMENT))
    history = json.loads(get_document(h.redis, jobs.HISTORY_DOCUMENT))
    assert history["months"][AS_OF.strftime("%Y-%m")]["rows"] == table["rows"]
    assert list(history["months"])[0] == "2016-01" and len(history["months"]) == MONTHS - 1
    for model_id in MODELS_RUN:
        html = get_document(h.redis, f"factsheet.{model_id}.site.html").decode()
        row = next(r for r in table["rows"] if r["model_id"] == model_id)
        assert f'<td data-figure="itd">{row["itd"]:.1%}</td>' in html
        assert get_document(h.redis, f"factsheet.{model_id}.pdf").startswith(b"%PDF-")
        assert get_document(h.redis, f"factsheet.{model_id}.api.html") is not None
    assert get_document(h.redis, "factsheet.agg-plus-ig.site.html") is None


def test_a_cache_without_a_fact_sheet_is_not_up_to_date(worker):
    h, _ = worker
    before = documents(h)
    h.redis.delete(document_key(f"factsheet.{MODELS_RUN[0]}.pdf"))
    assert run_due(h, MODELS_RUN) == {model_id: [] for model_id in MODELS_RUN}
    assert documents(h) == before


def test_each_version_records_its_recipe_and_reproduce_rebuilds_it_bit_for_bit(worker):
    from pathlib import Path

    from sqlalchemy import update

    from service.app import create_app
    from service.engine.provenance import document_hash
    from service.ledger import Rebalance, get_rebalance

    h, _ = worker
    model_id, version = "agg-plus-baseline", 20
    with h.sessions() as session:
        row = get_rebalance(session, model_id, version)
        recipe, weights = row.provenance, row.weights
    assert recipe["definition"]["id"] == model_id
    assert recipe["definition_hash"] == document_hash(recipe["definition"])
    assert len(recipe["data_hash"]) == 64 and recipe["engine_version"].startswith("0.1.0+")
    assert recipe["parameters"]["risk_model"]["window_days"] == 520
    root = Path(h.data_dir).parent
    settings = {"VAR_DIR": str(root / "var"), "DATABASE_URL": None, "REDIS_URL": None}
    runner = create_app({"TESTING": True, **settings, "DATA_DIR": h.data_dir}).test_cli_runner()
    same = runner.invoke(args=["reproduce", model_id, str(version)])
    assert same.exit_code == 0, same.output
    assert "rebuilt bit for bit" in same.output and "note:" not in same.output
    first = runner.invoke(args=["reproduce", model_id, "1"])  # December 2015's, the first
    assert first.exit_code == 0 and "note:" not in first.output, first.output
    ticker, weight = weights[0]
    nudged = [[ticker, float(np.nextafter(weight, 1))], *weights[1:]]
    with h.sessions() as session:  # the ledger's weights one float away from the recipe's
        query = update(Rebalance).where(
            Rebalance.model_id == model_id, Rebalance.version == version
        )
        session.execute(query.values(weights=nudged))
        session.commit()
    try:
        other = runner.invoke(args=["reproduce", model_id, str(version)])
    finally:
        with h.sessions() as session:
            session.execute(query.values(weights=weights))
            session.commit()
    assert other.exit_code == 1, other.output
    assert f"{ticker}: recorded {nudged[0][1]!r}, rebuilt {weight!r}" in other.output
