"""The pages through gunicorn: licences, the public site's setting, conditional requests, the
PDF read back."""

from __future__ import annotations

import io
import json

import pytest
import requests
from pypdf import PdfReader

from service.engine.models import MODELS, PASSIVE_BENCHMARKS

from .conftest import start

TIMEOUT = 60
LICENSED, OTHER = "agg-plus-baseline", "hy-plus-baseline"


def get(server, path, key=None, **headers) -> requests.Response:
    if key:
        headers["Authorization"] = f"Bearer {server.keys[key]}"
    return requests.get(server.base + path, headers=headers, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def hy_only_site(tmp_path_factory, page_bodies):
    """A server showing one model on its public site."""
    yield from start(tmp_path_factory, page_bodies, PLUSALPHA_PUBLIC_MODELS=OTHER)


def test_a_licensee_gets_its_models_fact_sheets_and_404_for_the_others(site):
    for query, media in (("", "text/html"), ("?format=pdf", "application/pdf")):
        own = get(site, f"/v1/models/{LICENSED}/factsheet{query}", "licensee")
        assert own.status_code == 200 and own.headers["Content-Type"].startswith(media)
        assert own.headers["Cache-Control"] == "private, no-store"
        other = get(site, f"/v1/models/{OTHER}/factsheet{query}", "licensee")
        assert other.status_code == 404
        assert other.headers["Content-Type"] == "application/problem+json"
    earlier = get(site, f"/v1/models/{OTHER}/factsheet?as_of=2017-06", "licensee")
    assert earlier.status_code == 404
    table = get(site, "/v1/performance?format=html", "licensee").text
    assert MODELS[LICENSED].name in table and MODELS[OTHER].name not in table


def test_the_public_site_follows_plusalpha_public_models(site, hy_only_site):
    for server, shown in ((site, {LICENSED, OTHER}), (hy_only_site, {OTHER})):
        home = get(server, "/")
        assert home.status_code == 200
        for model_id in (LICENSED, OTHER):
            assert (f'data-model-id="{model_id}"' in home.text) == (model_id in shown)
            for path in (f"/models/{model_id}", f"/models/{model_id}.pdf"):
                assert get(server, path).status_code == (200 if model_id in shown else 404)
        assert all(f'data-model-id="{b}"' in home.text for b in PASSIVE_BENCHMARKS)
        assert get(server, "/no/such/page").status_code == 404


def test_public_models_none_serves_no_public_page_and_every_api_page(site_off):
    unknown = get(site_off, "/no/such/page")
    assert unknown.status_code == 404
    for path in ("/", f"/models/{LICENSED}", f"/models/{LICENSED}.pdf", "/assets/factsheet.css"):
        off = get(site_off, path)
        assert off.status_code == 404, path
        assert off.headers["Content-Type"] == "application/problem+json", path
        assert off.json()["title"] == unknown.json()["title"], path
    for path in (f"/v1/models/{LICENSED}/factsheet", "/v1/performance?format=html"):
        page = get(site_off, path, "licensee")
        assert page.status_code == 200, path
        assert 'href="/v1/assets/factsheet.css"' in page.text
    assert get(site_off, f"/v1/models/{LICENSED}/factsheet?format=pdf", "licensee").ok
    css = get(site_off, "/v1/assets/screen.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/", None),
        (f"/models/{LICENSED}", None),
        (f"/models/{LICENSED}.pdf", None),
        (f"/v1/models/{LICENSED}/factsheet", "licensee"),
        (f"/v1/models/{LICENSED}/factsheet?format=pdf", "licensee"),
        ("/v1/performance?format=html", "licensee"),
    ],
)
def test_if_none_match_gives_304(site, path, key):
    first = get(site, path, key)
    assert first.status_code == 200 and first.headers["ETag"]
    again = get(site, path, key, **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    expected = "private, no-store" if key else "public, max-age=300"
    assert first.headers["Cache-Control"] == again.headers["Cache-Control"] == expected
    assert first.headers["Content-Security-Policy"].startswith("default-src 'self';")
    assert first.headers["X-Content-Type-Options"] == "nosniff"


def test_the_pdf_reads_back_with_the_name_the_itd_figure_and_the_disclosures(site):
    table = json.loads(get(site, "/v1/performance", "reader").text)
    row = next(r for r in table["rows"] if r["model_id"] == LICENSED)
    pdf = PdfReader(io.BytesIO(get(site, f"/models/{LICENSED}.pdf").content))
    assert 1 <= len(pdf.pages) <= 2
    text = " ".join(" ".join(page.extract_text().split()) for page in pdf.pages)
    assert MODELS[LICENSED].name in text
    assert f"{row['itd']:.1%}" in text
    assert "hypothetical and backtested" in text
    assert "Past performance is not indicative of future results." in text
    assert "synthetic" in text
