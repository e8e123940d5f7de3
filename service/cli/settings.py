"""The settings a command runs with, found without Flask.

The ``plusalpha`` console script reads them from the environment, as every process of the
service does (:func:`service.config.settings_from_env`). A command run by an app's own CLI
(``app.cli``, as the tests' ``app.test_cli_runner()`` runs it) takes that app's settings: Flask
hands the app over as click's context object, a ``flask.cli.ScriptInfo``.

Why not Flask's ``with_appcontext``: it makes every command import Flask and build the app
first, and the commands that serve no HTTP (keys, the worker, the engine's) need its settings
only. ``plusalpha openapi`` still runs in the whole app (:mod:`service.cli.main`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from ..config import settings_from_env


def settings() -> Mapping[str, Any]:
    """The settings of the running command: its app's when it has one, else the environment's."""
    load_app = getattr(click.get_current_context().find_root().obj, "load_app", None)
    return load_app().config if load_app is not None else settings_from_env()
