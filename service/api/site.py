"""The public site: the performance page and the fact sheets of the models the firm shows.

``/`` is the performance page (the shown models' rows, and every passive benchmark's as a row
without a link), ``/models/{model_id}`` a shown model's fact sheet and ``/models/{model_id}.pdf``
its PDF; ``/assets/...`` their stylesheet and icon. ``PLUSALPHA_PUBLIC_MODELS`` says which
models are shown (``service.config.public_models``); any other is 404, as an unknown path.
``none`` turns the site off: each of its paths is then 404, as an unknown path. The API's pages
(a key's) link the same files under ``/v1/assets/...``, served whatever the setting.

No key: the site serves the latest month only, from the cache (the worker renders the fact
sheets; the performance page is rendered once per process and table), and never renders a fact
sheet on request; an ``as_of`` is refused (422), as the API renders an earlier
month for a key. Other query parameters (a campaign's ``utm_source``) are ignored. Answers carry
a public max-age and their ETag (``service.api.pages``).

The usual read of a fact sheet (``GET /models/{id}`` or ``.pdf``, no query string, no
``If-None-Match``, of a shown model whose page is cached) is answered by :class:`PagesFastPath`
in front of Flask, with the view's body and headers (one Redis GET); anything else reaches the
view. A change to the view's checks or headers is a change there too
(``tests/api/test_factsheets.py`` compares the two answers).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from flask import Blueprint, Flask, abort, current_app, request
from redis.exceptions import RedisError
from werkzeug.utils import get_content_type

from ..cache import get_document
from ..config import public_models
from ..engine.models import MODELS
from ..factsheets import FORMATS, document_name
from ..factsheets.pages import ASSET_TYPES, ASSETS, asset, performance_html
from ..worker.handles import HISTORY_DOCUMENT, PERFORMANCE_DOCUMENT
from .conditional import etag_of
from .errors import fail
from .extensions import REDIS
from .pages import page, public_headers
from .v1.performance import PASSIVE, cached_body

bp = Blueprint("site", __name__)


FACTSHEET_PATH = re.compile(r"/models/([^/]+?)(\.pdf)?")


def shown_models(config=None) -> frozenset[str] | None:
    """The models the site shows (None: all), by the app's settings."""
    return public_models(current_app.config if config is None else config)


def shown(model_id: str, config=None) -> bool:
    models = shown_models(config)
    return model_id in MODELS and (models is None or model_id in models)


@bp.before_request
def site_on() -> None:
    """Every path of the site is unknown (404) while the setting shows no model."""
    if shown_models() == frozenset():
        abort(404)


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
    return page(body, FORMATS[fmt], public=True, filename=pdf_name(model_id, fmt))


def pdf_name(model_id: str, fmt: str) -> str | None:
    return f"{model_id}.pdf" if fmt == "pdf" else None


class PagesFastPath:
    """WSGI middleware: the usual read of a public fact sheet, without Flask (see the module doc).

    Why: Flask's routing, request context and response object cost a cached page most of its
    time in the process; the page is the site's most read, and a platform may link to it.
    """

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/models/"):
            return self.wsgi_app(environ, start_response)
        answer = None
        match = FACTSHEET_PATH.fullmatch(path)
        usual = environ["REQUEST_METHOD"] == "GET" and not environ.get("QUERY_STRING")
        if match and usual and "HTTP_IF_NONE_MATCH" not in environ:
            try:
                answer = self.answer(match.group(1), "pdf" if match.group(2) else "html")
            except RedisError:  # the view answers 503
                answer = None
        if answer is None:
            return self.wsgi_app(environ, start_response)
        headers, body = answer
        start_response("200 OK", headers)
        return [body]

    def answer(self, model_id: str, fmt: str) -> tuple[list, bytes] | None:
        config = self.app.config
        if not shown(model_id, config):
            return None
        body = get_document(self.app.extensions[REDIS].get(), document_name(model_id, fmt, "site"))
        if body is None:
            return None
        headers = public_headers(config, pdf_name(model_id, fmt))
        headers.update(
            {
                "Content-Type": get_content_type(FORMATS[fmt], "utf-8"),
                "Content-Length": str(len(body)),
                "ETag": etag_of(body),
            }
        )
        return list(headers.items()), body


@bp.get("/assets/<name>")
def assets(name: str):
    """A stylesheet or the icon of the pages (``ASSET_TYPES``); any other name is 404."""
    if name not in ASSET_TYPES:
        abort(404)
    return page(asset(name), ASSET_TYPES[name], public=True)


def init_app(app: Flask) -> None:
    """Register the site and the API pages' assets; a model id of PLUSALPHA_PUBLIC_MODELS that
    is no model stops the start."""
    models = public_models(app.config)
    unknown = sorted(models - set(MODELS)) if models else []
    if unknown:
        raise ValueError(f"PLUSALPHA_PUBLIC_MODELS names no model {', '.join(unknown)}")
    app.register_blueprint(bp)
    app.add_url_rule(f"{ASSETS['api']}/<name>", "api_assets", assets)
    app.wsgi_app = PagesFastPath(app, app.wsgi_app)
