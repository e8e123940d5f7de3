"""The public site: the performance page and the fact sheets of the models the firm shows.

``/`` is the performance page (the shown models' rows, and every passive benchmark's as a row
without a link), ``/models/{model_id}`` a shown model's fact sheet and ``/models/{model_id}.pdf``
its PDF; ``/assets/...`` their stylesheet and icon. ``PLUSALPHA_PUBLIC_MODELS`` says which
models are shown (``service.config.public_models``); any other is 404, as an unknown path.

No key: the site serves the latest month only, from the cache (the worker renders it), and
never renders anything on request; an ``as_of`` is refused (422), as the API renders an earlier
month for a key. Other query parameters (a campaign's ``utm_source``) are ignored. Answers carry
a public max-age and their ETag (``service.api.pages``).
"""

from __future__ import annotations

import json
from functools import lru_cache

from flask import Blueprint, Flask, abort, current_app, request

from ..config import public_models
from ..engine.models import MODELS
from ..factsheets import ASSET_TYPES, FORMATS, asset, document_name, performance_html
from ..worker.jobs import HISTORY_DOCUMENT, PERFORMANCE_DOCUMENT
from .errors import fail
from .pages import page
from .v1.performance import PASSIVE, cached_body

bp = Blueprint("site", __name__)


def shown_models() -> frozenset[str] | None:
    """The models the site shows (None: all), by the app's settings."""
    return public_models(current_app.config)


def shown(model_id: str) -> bool:
    models = shown_models()
    return model_id in MODELS and (models is None or model_id in models)


def latest_only() -> None:
    if "as_of" in request.args:
        fail(
            422,
            "the public site shows the latest month only; an earlier month takes an API key "
            "(GET /v1/models/{model_id}/factsheet?as_of=YYYY-MM)",
            field="as_of",
        )


@bp.get("/")
def performance():
    """The performance page of the shown models and the passive benchmarks."""
    latest_only()
    table = cached_body(PERFORMANCE_DOCUMENT)
    sample = json.loads(cached_body(HISTORY_DOCUMENT))["sample"]
    return page(performance_page(table, shown_models(), sample), "text/html", public=True)


@lru_cache(maxsize=16)
def performance_page(table: bytes, models: frozenset[str] | None, sample: bool) -> bytes:
    """The page of a table document, rendered once per table and setting."""
    document = json.loads(table)
    rows = [
        row
        for row in document["rows"]
        if row["group"] == PASSIVE or models is None or row["model_id"] in models
    ]
    links = {
        row["model_id"]: f"/models/{row['model_id']}" for row in rows if row["group"] != PASSIVE
    }
    html = performance_html({"as_of": document["as_of"], "rows": rows}, links, sample)
    return html.encode("utf-8")


@bp.get("/models/<model_id>")
def factsheet(model_id: str):
    return factsheet_page(model_id, "html")


@bp.get("/models/<model_id>.pdf")
def factsheet_pdf(model_id: str):
    return factsheet_page(model_id, "pdf")


def factsheet_page(model_id: str, fmt: str):
    """A shown model's latest fact sheet from the cache; 404 for any other model."""
    if not shown(model_id):
        fail(404, f"no model {model_id!r}", field="model_id", location="path")
    latest_only()
    body = cached_body(document_name(model_id, fmt, "site"))
    filename = f"{model_id}.pdf" if fmt == "pdf" else None
    return page(body, FORMATS[fmt], public=True, filename=filename)


@bp.get("/assets/<name>")
def assets(name: str):
    if name not in ASSET_TYPES:
        abort(404)
    return page(asset(name), ASSET_TYPES[name], public=True)


def init_app(app: Flask) -> None:
    """Register the site; a model id of PLUSALPHA_PUBLIC_MODELS that is no model stops the start."""
    models = public_models(app.config)
    unknown = sorted(models - set(MODELS)) if models else []
    if unknown:
        raise ValueError(f"PLUSALPHA_PUBLIC_MODELS names no model {', '.join(unknown)}")
    app.register_blueprint(bp)
