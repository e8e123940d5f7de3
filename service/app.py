"""The application factory."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from .config import ledger_url, settings_from_env

API_SETTINGS = {
    "API_TITLE": "PlusAlpha",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    "JSON_SORT_KEYS": False,
}


def create_app(test_config: dict | None = None) -> Flask:
    """Create the app from the environment's settings, overridden by ``test_config``."""
    app = Flask(__name__)
    app.config.update(API_SETTINGS)
    app.config.update(settings_from_env())
    if test_config:
        app.config.update(test_config)

    from . import commands, errors, extensions, operations
    from .api import v1
    from .cache import make_redis
    from .ledger import make_engine, session_factory, upgrade

    def open_sessions():
        engine = make_engine(ledger_url(app.config))
        upgrade(engine)
        return session_factory(engine)

    extensions.init_app(
        app, open_sessions, lambda: make_redis(app.config["REDIS_URL"], app.config["VAR_DIR"])
    )
    v1.register(Api(app))
    errors.init_app(app)
    commands.init_app(app)
    operations.init_app(app)
    return app
