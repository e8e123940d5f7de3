"""The performance table and a model's performance, served from the worker's documents."""

from __future__ import annotations

import csv
import io
import math

import pandas as pd
import pytest

from schemas.performance import PerformanceRowSchema, StatisticsSchema
from service.api.extensions import get_redis
from service.cache import flush_all, get_document
from service.engine.backtest import run_backtests
from service.engine.models import PASSIVE_BENCHMARKS
from service.engine.performance import (
    TABLE_COLUMNS,
    assemble_table,
    last_complete_month,
    truncate,
)
from service.worker.jobs import performance_bodies, store_documents

from .conftest import bearer

PROBLEM = "application/problem+json"
MODELS_RUN = ("agg-plus-baseline", "hy-plus-baseline")
AS_OF = pd.Period("2018-12", "M")
"""Three years of data: quick to backtest, and too short for the five-year figures (null)."""


@pytest.fixture(scope="module")
def short_data(small_sample):
    return truncate(small_sample, AS_OF)


@pytest.fixture(scope="module")
def short_backtests(short_data):
    return run_backtests(short_data, MODELS_RUN)


@pytest.fixture(scope="module")
def short_bodies(short_data, short_backtests):
    """The performance documents of the two models' backtests, as the worker renders them
    (once a module: the fact sheets' PDFs make it seconds)."""
    return performance_bodies(short_data, short_backtests)


@pytest.fixture
def published(api_app, short_bodies):
    """The app's cache holds the performance documents of the two models' backtests."""
    with api_app.app_context():
        store_documents(get_redis(), short_bodies)
    return api_app


@pytest.fixture
def reader(make_key):
    return make_key(scopes=["performance:read"])


def expected_table(data, backtests) -> pd.DataFrame:
    as_of = last_complete_month(data)
    return assemble_table(truncate(data, as_of), backtests, as_of)


def test_table_holds_every_row_for_an_unrestricted_key(published, client, reader):
    response = client.get("/v1/performance", headers=bearer(reader))
    assert response.status_code == 200
    answer = response.json
    assert answer["as_of"] == "2018-12"
    assert [r["model_id"] for r in answer["rows"]] == [*MODELS_RUN, *PASSIVE_BENCHMARKS]
    for row in answer["rows"]:
        assert set(row) == set(TABLE_COLUMNS)
        assert row["five_year"] is None
    assert all(r["bid_ask"] is None for r in answer["rows"] if r["group"] == "passive_benchmark")


def test_json_figures_are_the_tables(published, client, reader, short_data, short_backtests):
    table = expected_table(short_data, short_backtests).set_index("model_id")
    rows = client.get("/v1/performance", headers=bearer(reader)).json["rows"]
    for row in rows:
        for column in TABLE_COLUMNS[1:]:
            expected = table.loc[row["model_id"], column]
            if isinstance(expected, float) and math.isnan(expected):
                assert row[column] is None, column
            else:
                assert row[column] == expected, column


def test_table_shows_only_licensed_models_and_every_passive_benchmark(published, client, make_key):
    secret = make_key(scopes=["performance:read"], models=["hy-plus-baseline"])
    rows = client.get("/v1/performance", headers=bearer(secret)).json["rows"]
    assert [r["model_id"] for r in rows] == ["hy-plus-baseline", *PASSIVE_BENCHMARKS]
    other = make_key(scopes=["performance:read"], models=["agg-plus-ig"])
    rows = client.get("/v1/performance", headers=bearer(other)).json["rows"]
    assert [r["model_id"] for r in rows] == list(PASSIVE_BENCHMARKS)


def test_csv_is_the_commands_csv_filtered(published, client, make_key, short_data, short_backtests):
    secret = make_key(scopes=["performance:read"], models=["hy-plus-baseline"])
    response = client.get("/v1/performance?format=csv", headers=bearer(secret))
    assert response.status_code == 200
    assert response.content_type.startswith("text/csv")
    text = response.get_data(as_text=True)
    reader = csv.reader(io.StringIO(text))
    assert tuple(next(reader)) == TABLE_COLUMNS
    table = expected_table(short_data, short_backtests)
    table = table[table["model_id"] != "agg-plus-baseline"]
    # What `plusalpha performance --format csv` writes, less the unlicensed model's row.
    assert text == table.to_csv(index=False, float_format="%.6f")


def test_csv_of_passive_benchmarks_only(published, client, make_key):
    secret = make_key(scopes=["performance:read"], models=["agg-plus-ig"])
    text = client.get("/v1/performance?format=csv", headers=bearer(secret)).get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["model_id"] for r in rows] == list(PASSIVE_BENCHMARKS)
    assert {r["bid_ask"] for r in rows} == {""}


def test_model_performance(published, client, reader, short_backtests):
    response = client.get("/v1/models/hy-plus-baseline/performance", headers=bearer(reader))
    assert response.status_code == 200
    answer = response.json
    assert set(answer) == {"model_id", "as_of", "statistics", "returns"}
    assert (answer["model_id"], answer["as_of"]) == ("hy-plus-baseline", "2018-12")
    assert set(answer["statistics"]) == set(TABLE_COLUMNS) - {"model_id", "name", "group"}
    assert answer["statistics"]["five_year"] is None
    returns = short_backtests["hy-plus-baseline"].returns
    assert [r["month"] for r in answer["returns"]] == [str(p) for p in returns.index]
    assert [r["return"] for r in answer["returns"]] == list(returns)
    assert answer["returns"][0]["month"] == "2016-01"
    assert answer["returns"][-1]["month"] == "2018-12"
    itd = math.prod(1 + r["return"] for r in answer["returns"]) - 1
    assert answer["statistics"]["itd"] == pytest.approx(itd, rel=1e-12)


def test_schemas_have_the_tables_columns():
    assert set(PerformanceRowSchema().fields) == set(TABLE_COLUMNS)
    assert set(StatisticsSchema().fields) == set(TABLE_COLUMNS) - {"model_id", "name", "group"}


@pytest.mark.parametrize(
    "url",
    ["/v1/performance", "/v1/performance?format=csv", "/v1/models/agg-plus-baseline/performance"],
)
def test_missing_document_is_503_with_retry_after(api_app, client, reader, url):
    response = client.get(url, headers=bearer(reader))
    assert response.status_code == 503
    assert response.content_type == PROBLEM
    assert response.headers["Retry-After"] == "60"
    assert response.json["status"] == 503


def test_flushed_cache_is_503(published, client, reader):
    headers = bearer(reader)
    assert client.get("/v1/performance", headers=headers).status_code == 200
    with published.app_context():
        flush_all(get_redis())
        assert get_document(get_redis(), "performance") is None
    response = client.get("/v1/models/hy-plus-baseline/performance", headers=headers)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"


def test_model_not_run_by_the_worker_is_503(published, client, reader):
    response = client.get("/v1/models/agg-plus-ig/performance", headers=bearer(reader))
    assert response.status_code == 503


@pytest.mark.parametrize("url", ["/v1/performance", "/v1/models/hy-plus-baseline/performance"])
def test_needs_a_key_with_performance_read(published, client, make_key, url):
    missing = client.get(url)
    assert missing.status_code == 401
    assert "WWW-Authenticate" in missing.headers
    wrong_scope = client.get(url, headers=bearer(make_key(scopes=["models:read"])))
    assert wrong_scope.status_code == 403
    assert "performance:read" in wrong_scope.json["detail"]


@pytest.mark.parametrize("model_id", ["agg-plus-baseline", "no-such-model"])
def test_unlicensed_or_unknown_model_is_404(published, client, make_key, model_id):
    secret = make_key(scopes=["performance:read"], models=["hy-plus-baseline"])
    response = client.get(f"/v1/models/{model_id}/performance", headers=bearer(secret))
    assert response.status_code == 404
    assert response.content_type == PROBLEM
    assert response.json["errors"][0]["field"] == "model_id"


@pytest.mark.parametrize(("query", "field"), [("format=xlsx", "format"), ("as_of=2018", "as_of")])
def test_bad_query_is_422(published, client, reader, query, field):
    response = client.get(f"/v1/performance?{query}", headers=bearer(reader))
    assert response.status_code == 422
    assert [e["field"] for e in response.json["errors"]] == [field]


def test_the_table_answers_304_to_its_etag(published, client, reader):
    for path in (
        "/v1/performance",
        "/v1/performance?format=csv",
        "/v1/models/agg-plus-baseline/performance",
    ):
        first = client.get(path, headers=bearer(reader))
        assert first.status_code == 200
        again = client.get(path, headers={**bearer(reader), "If-None-Match": first.headers["ETag"]})
        assert (again.status_code, again.data) == (304, b"")
