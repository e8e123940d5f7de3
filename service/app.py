"""The application factory."""

from __future__ import annotations

from flask import Flask

from .config import settings_from_env


def create_app(test_config: dict | None = None) -> Flask:
    """Create the app from the environment's settings, overridden by ``test_config``."""
    app = Flask(__name__)
    app.config.update(settings_from_env())
    if test_config:
        app.config.update(test_config)

    from . import commands

    commands.init_app(app)
    return app
