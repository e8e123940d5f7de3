"""The ``plusalpha`` console script: a Flask CLI group over the app factory."""

from __future__ import annotations

from flask.cli import FlaskGroup

from ..app import create_app

main = FlaskGroup(
    name="plusalpha",
    create_app=create_app,
    help="PlusAlpha: risk-targeted fixed-income ETF model portfolios.",
)
