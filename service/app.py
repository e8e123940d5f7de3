"""The application factory."""

from __future__ import annotations

from flask import Flask, send_from_directory
from flask_smorest import Api
from swagger_ui_bundle import swagger_ui_path

from schemas.common import ProblemSchema

from .api.blueprint import register_status_responses
from .config import ledger_url, settings_from_env

DOCS_ASSETS = "/v1/docs/assets/"
API_SETTINGS = {
    "API_TITLE": "PlusAlpha",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    # Swagger UI from the swagger-ui-bundle package, served by us: the docs page fetches
    # nothing from the internet.
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": DOCS_ASSETS,
    "API_SPEC_OPTIONS": {
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
    },
}


class PlusAlphaApi(Api):
    """flask-smorest's Api, documenting our problem+json error shape.

    No ``default`` answer: every operation lists each status it may answer (see
    ``service.api.blueprint``), so that an undocumented one is a finding, not a match.
    """

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_responses(self):
        register_status_responses(self.spec, self.ERROR_SCHEMA)


def create_app(test_config: dict | None = None) -> Flask:
    """Create the app from the environment's settings, overridden by ``test_config``."""
    app = configured_app(test_config)

    from .api import audit, errors, extensions, limits, log_filters, metrics, site
    from .api.fast_path import WeightsFastPath
    from .cache import make_redis
    from .cli import COMMANDS
    from .ledger import make_engine, session_factory, upgrade

    def open_sessions():
        engine = make_engine(ledger_url(app.config))
        upgrade(engine)
        return session_factory(engine)

    extensions.init_app(
        app, open_sessions, lambda: make_redis(app.config["REDIS_URL"], app.config["VAR_DIR"])
    )
    audit.init_app(app, app.extensions[extensions.LEDGER].get)
    metrics.init_app(app)
    register_api(app)
    site.init_app(app)  # its fast path inside the weights one: the hot read pays nothing
    app.wsgi_app = WeightsFastPath(app, app.wsgi_app)
    app.add_url_rule(
        f"{DOCS_ASSETS}<path:filename>",
        "docs_assets",
        lambda filename: send_from_directory(swagger_ui_path, filename),
    )
    errors.init_app(app)
    limits.init_app(app)
    log_filters.init_app(app)
    for command in COMMANDS:
        app.cli.add_command(command)
    return app


def create_api_app() -> Flask:
    """The app of the API's resources alone: what ``plusalpha openapi`` generates the OpenAPI
    document from, without the ledger, the cache, the hooks and the pages that serve requests
    (:func:`create_app` serves the same document)."""
    app = configured_app()
    register_api(app)
    return app


def configured_app(test_config: dict | None = None) -> Flask:
    """A Flask app with the API's settings and the environment's, overridden by ``test_config``."""
    app = Flask(__name__)
    app.config.update(API_SETTINGS)
    app.config.update(settings_from_env())
    if test_config:
        app.config.update(test_config)
    return app


def register_api(app: Flask) -> None:
    """Register every resource of the API, and so its OpenAPI document."""
    from .api import scrape, v1

    api = PlusAlphaApi(app)
    v1.register(api)
    api.register_blueprint(scrape.blp)
