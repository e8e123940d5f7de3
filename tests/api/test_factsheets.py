"""Fact sheets and the performance page under the API, and the public site, on the app.

The cache holds what the worker publishes for two short backtests (to 2018-12): the performance
documents, the monthly history and the rendered fact sheets, computed once for the module.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from flask import Flask

import service.factsheets.build
from service.api import site
from service.api.extensions import get_redis, get_session
from service.app import create_app
from service.cache import flush_all
from service.config import public_models
from service.engine.backtest import run_backtests
from service.engine.models import PASSIVE_BENCHMARKS
from service.engine.performance import truncate
from service.factsheets.pages import ASSET_TYPES, COLUMNS, figure
from service.ledger import create_key
from service.worker.jobs import performance_bodies, store_documents
from tests.factsheets.html import parse

from .conftest import bearer, close_app, seed

PROBLEM = "application/problem+json"
LICENSED, OTHER = "agg-plus-baseline", "hy-plus-baseline"
AS_OF = "2018-12"
CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"


@pytest.fixture(scope="module")
def bodies(small_sample):
    short = truncate(small_sample, pd.Period(AS_OF, "M"))
    return performance_bodies(short, run_backtests(short, (LICENSED, OTHER)))


@pytest.fixture
def published(api_app, bodies):
    with api_app.app_context():
        store_documents(get_redis(), bodies)
    return api_app


@pytest.fixture
def licensee(make_key):
    return bearer(make_key(scopes=["performance:read"], models=[LICENSED]))


def sheet(client, key, model_id=LICENSED, query="", **headers):
    return client.get(f"/v1/models/{model_id}/factsheet{query}", headers={**key, **headers})


def assert_page_headers(response, cache_control: str) -> None:
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == cache_control
    assert response.headers["ETag"]


# --- under the API -----------------------------------------------------------------------------


def test_a_licensee_gets_its_models_fact_sheets_and_404_for_the_others(published, client, licensee):
    html = sheet(client, licensee)
    assert html.status_code == 200 and html.mimetype == "text/html"
    page = parse(html.text)
    assert page.lang == "en" and page.h1 == ["AGG+ Baseline"]
    assert_page_headers(html, "private, no-store")
    pdf = sheet(client, licensee, query="?format=pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF-")
    assert pdf.headers["Content-Disposition"] == f'inline; filename="{LICENSED}-latest.pdf"'
    for model_id in (OTHER, "no-such-model"):
        for query in ("", "?format=pdf", "?as_of=2017-06"):
            refused = sheet(client, licensee, model_id, query)
            assert refused.status_code == 404 and refused.mimetype == PROBLEM, model_id


def test_the_format_follows_the_parameter_else_the_accept_header(published, client, licensee):
    def kind(response):
        return response.status_code, response.mimetype

    assert kind(sheet(client, licensee, Accept="application/pdf")) == (200, "application/pdf")
    assert kind(sheet(client, licensee, Accept="text/html")) == (200, "text/html")
    assert kind(sheet(client, licensee, Accept="*/*")) == (200, "text/html")
    assert kind(sheet(client, licensee)) == (200, "text/html")
    assert kind(sheet(client, licensee, query="?format=html", Accept="application/pdf")) == (
        200,
        "text/html",
    )
    refused = sheet(client, licensee, Accept="application/json")
    assert kind(refused) == (406, PROBLEM)
    assert refused.json["errors"][0]["field"] == "Accept"
    bad = sheet(client, licensee, query="?format=docx")
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "format"


def test_a_fact_sheet_needs_the_performance_scope(published, client, make_key):
    key = bearer(make_key(scopes=["models:read"]))
    assert sheet(client, key).status_code == 403
    assert client.get(f"/v1/models/{LICENSED}/factsheet").status_code == 401


def test_if_none_match_gives_304_without_a_body(published, client, licensee):
    for query in ("", "?format=pdf", "?as_of=2017-06"):
        first = sheet(client, licensee, query=query)
        again = sheet(client, licensee, query=query, **{"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.data == b"", query
        assert again.headers["ETag"] == first.headers["ETag"]
        assert again.headers["Cache-Control"] == "private, no-store"


def test_the_latest_month_is_served_as_the_worker_rendered_it(published, client, licensee, bodies):
    assert sheet(client, licensee).data == bodies[f"factsheet.{LICENSED}.api.html"]
    assert sheet(client, licensee, query=f"?as_of={AS_OF}").data == sheet(client, licensee).data
    assert sheet(client, licensee, query="?format=pdf").data == bodies[f"factsheet.{LICENSED}.pdf"]


def test_an_earlier_month_is_rendered_with_that_months_figures(published, client, licensee):
    table = client.get("/v1/performance?as_of=2017-06", headers=licensee).json
    assert table["as_of"] == "2017-06"
    row = next(r for r in table["rows"] if r["model_id"] == LICENSED)
    page = parse(sheet(client, licensee, query="?as_of=2017-06").text)
    assert "As of June 2017" in page.text
    assert page.cells("itd")[0] == f"{row['itd']:.1%}"
    assert f"{row['itd']:.1%}" != parse(sheet(client, licensee).text).cells("itd")[0]
    pdf = sheet(client, licensee, query="?as_of=2017-06&format=pdf")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")


@pytest.mark.parametrize("as_of", ["2015-12", "2019-01", "2017-13", "2017-6"])
def test_a_month_without_figures_is_refused_naming_as_of(published, client, licensee, as_of):
    for response in (
        sheet(client, licensee, query=f"?as_of={as_of}"),
        client.get(f"/v1/performance?as_of={as_of}", headers=licensee),
    ):
        assert response.status_code == 422 and response.mimetype == PROBLEM
        assert [e["field"] for e in response.json["errors"]] == ["as_of"]


def test_before_the_worker_ran_the_pages_answer_503(api_app, client, licensee):
    for response in (
        sheet(client, licensee),
        client.get("/v1/performance?format=html", headers=licensee),
        client.get("/"),
        client.get(f"/models/{LICENSED}"),
    ):
        assert response.status_code == 503 and response.headers["Retry-After"]


def test_the_frame_ancestors_setting_lets_a_platform_frame_the_pages(published, client, licensee):
    published.config["FRAME_ANCESTORS"] = "https://platform.example, https://tamp.example"
    for response in (sheet(client, licensee), client.get(f"/models/{LICENSED}")):
        policy = response.headers["Content-Security-Policy"]
        assert policy.endswith("frame-ancestors https://platform.example https://tamp.example")


def test_every_answer_to_a_key_is_private_and_not_stored(published, client, make_key):
    key = bearer(make_key(scopes=["models:read", "performance:read"], models=[LICENSED]))
    for url in (
        "/v1/models",
        f"/v1/models/{LICENSED}",
        f"/v1/models/{LICENSED}/weights",  # the fast path
        f"/v1/models/{LICENSED}/weights?format=csv",
        f"/v1/models/{OTHER}/weights",  # a 404
        "/v1/performance",
        "/v1/keys",  # a 403
    ):
        response = client.get(url, headers=key)
        assert response.headers["Cache-Control"] == "private, no-store", url


# --- the performance page ----------------------------------------------------------------------


def test_every_figure_of_the_performance_page_is_the_jsons(published, client, licensee):
    for query in ("", "&as_of=2017-06"):
        table = client.get(f"/v1/performance?{query.lstrip('&')}", headers=licensee).json
        response = client.get(f"/v1/performance?format=html{query}", headers=licensee)
        assert response.status_code == 200 and response.mimetype == "text/html"
        page = parse(response.text)
        assert [r["model_id"] for r in table["rows"]] == page.row_ids
        for row in table["rows"]:
            assert page.row_cells(row["model_id"]) == [figure(row[c.key], c) for c in COLUMNS]
        assert page.links == {LICENSED: f"/v1/models/{LICENSED}/factsheet?format=html{query}"}
        assert f"As of {pd.Period(table['as_of'], 'M').strftime('%B %Y')}" in page.text
    assert OTHER not in response.text
    assert "2016-01" in page.options and AS_OF in page.options


# --- the public site ---------------------------------------------------------------------------


def test_the_public_site_shows_every_model_on_the_sample_data(published, client, bodies):
    home = client.get("/")
    assert home.status_code == 200 and home.mimetype == "text/html"
    assert_page_headers(home, "public, max-age=300")
    page = parse(home.text)
    assert page.row_ids == [LICENSED, OTHER, *PASSIVE_BENCHMARKS]
    assert page.links == {m: f"/models/{m}" for m in (LICENSED, OTHER)}
    assert page.options == []  # the latest month only
    for model_id in (LICENSED, OTHER):
        html = client.get(f"/models/{model_id}")
        assert html.data == bodies[f"factsheet.{model_id}.site.html"]
        assert_page_headers(html, "public, max-age=300")
        pdf = client.get(f"/models/{model_id}.pdf")
        assert pdf.mimetype == "application/pdf" and pdf.data == bodies[f"factsheet.{model_id}.pdf"]
        again = client.get(f"/models/{model_id}", headers={"If-None-Match": html.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""
    css = client.get("/assets/factsheet.css")
    assert css.status_code == 200 and css.mimetype == "text/css"


@pytest.mark.parametrize(
    ("setting", "shown"), [("hy-plus-baseline", {OTHER}), ("all", {LICENSED, OTHER})]
)
def test_the_public_site_follows_the_setting(published, client, setting, shown):
    published.config["PUBLIC_MODELS"] = setting
    page = parse(client.get("/").text)
    assert page.row_ids == [m for m in (LICENSED, OTHER) if m in shown] + list(PASSIVE_BENCHMARKS)
    for model_id in (LICENSED, OTHER):
        for url in (f"/models/{model_id}", f"/models/{model_id}.pdf"):
            assert client.get(url).status_code == (200 if model_id in shown else 404), url


SITE_PATHS = (
    "/",
    f"/models/{LICENSED}",
    f"/models/{LICENSED}.pdf",
    "/assets/factsheet.css",
    "/assets/screen.css",
    "/assets/favicon.svg",
)


def assert_unknown_path(client, path: str) -> None:
    """``path`` answers as a path the app does not have: the same 404 problem."""
    unknown = client.get("/no/such/page")
    response = client.get(path)
    assert response.status_code == 404 and response.mimetype == PROBLEM, path
    assert response.headers.get("Cache-Control") == unknown.headers.get("Cache-Control")
    drop = ("instance",)
    assert {k: v for k, v in response.json.items() if k not in drop} == {
        k: v for k, v in unknown.json.items() if k not in drop
    }, path


def stylesheets(html: str) -> list[str]:
    return re.findall(r'<link rel="(?:stylesheet|icon)" href="([^"]+)"', html)


@pytest.fixture
def site_off(backend, bodies):
    """An app made with PLUSALPHA_PUBLIC_MODELS=none, the worker's documents published."""
    app = create_app({"TESTING": True, **backend, "PUBLIC_MODELS": "none"})
    try:
        seed(app)
        with app.app_context():
            store_documents(get_redis(), bodies)
        yield app
    finally:
        close_app(app)


def test_public_models_none_turns_the_site_off_and_the_api_pages_keep_theirs(site_off):
    client = site_off.test_client()
    for path in SITE_PATHS:
        assert_unknown_path(client, path)
    with site_off.app_context():
        session = get_session()
        _, secret = create_key(
            session, name="t", tenant="t", scopes=["performance:read"], models=[LICENSED]
        )
        session.commit()
    for url in (f"/v1/models/{LICENSED}/factsheet", "/v1/performance?format=html"):
        page = client.get(url, headers=bearer(secret))
        assert page.status_code == 200 and page.mimetype == "text/html", url
        links = stylesheets(page.text)
        assert links == [f"/v1/assets/{name}" for name in ASSET_TYPES], url
        for link in links:  # as a browser fetches them: without the key
            asset = client.get(link)
            assert (
                asset.status_code == 200 and asset.mimetype == ASSET_TYPES[link.rpartition("/")[2]]
            ), link
    assert client.get("/v1/assets/secret.py").status_code == 404


def test_the_setting_none_at_run_time_turns_the_site_off(published, client):
    for path in SITE_PATHS:
        assert client.get(path).status_code == 200, path
    published.config["PUBLIC_MODELS"] = "none"
    for path in SITE_PATHS:
        assert_unknown_path(client, path)


def test_public_models_default_to_all_on_the_sample_and_none_on_a_data_directory():
    assert public_models({"DATA_DIR": None, "PUBLIC_MODELS": None}) is None
    assert public_models({"DATA_DIR": "/data", "PUBLIC_MODELS": None}) == frozenset()
    assert public_models({"DATA_DIR": "/data", "PUBLIC_MODELS": " a, b ,"}) == {"a", "b"}
    assert public_models({"DATA_DIR": "/data", "PUBLIC_MODELS": "ALL"}) is None
    app = Flask(__name__)
    app.config["PUBLIC_MODELS"] = "agg-plus-baseline,agg-plus-typo"
    with pytest.raises(ValueError, match="agg-plus-typo"):
        site.init_app(app)


def test_the_public_site_serves_the_latest_month_and_never_renders(published, client, monkeypatch):
    def no_rendering(*args, **kwargs):
        raise AssertionError("the public site rendered a fact sheet")

    monkeypatch.setattr(service.factsheets.build, "render", no_rendering)
    assert client.get(f"/models/{LICENSED}?utm_source=newsletter").status_code == 200
    for url in ("/?as_of=2017-06", f"/models/{LICENSED}?as_of=2017-06"):
        refused = client.get(url)
        assert refused.status_code == 422 and refused.json["errors"][0]["field"] == "as_of"


def test_unknown_paths_of_the_site_are_404(published, client):
    for url in ("/models", "/models/", "/models/agg-plus-baseline/x", "/assets/secret.py", "/x"):
        assert client.get(url).status_code == 404, url


def test_the_site_after_a_cache_flush_answers_503_until_the_worker_runs(published, client):
    with published.app_context():
        flush_all(get_redis())
    response = client.get("/")
    assert response.status_code == 503 and response.headers["Retry-After"]


def test_the_fast_path_answers_a_public_page_as_the_view_does(published, client, monkeypatch):
    answered = []
    fast_answer = site.PagesFastPath.answer

    def recorded(self, *args):
        answer = fast_answer(self, *args)
        answered.append(answer is not None)
        return answer

    monkeypatch.setattr(site.PagesFastPath, "answer", recorded)
    for path in (f"/models/{LICENSED}", f"/models/{LICENSED}.pdf"):
        fast = client.get(path)
        view = client.get(f"{path}?utm_source=newsletter")  # a query string: the view answers
        assert fast.data == view.data
        assert dict(fast.headers) == dict(view.headers)
    assert answered == [True, True]
    published.config["PUBLIC_MODELS"] = "none"
    assert client.get(f"/models/{LICENSED}").status_code == 404
    assert answered == [True, True, False]
