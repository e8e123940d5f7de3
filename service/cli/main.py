"""The ``plusalpha`` console script: a Flask CLI group over the app factory.

Every command is declared on the group itself (ours, and flask-smorest's ``openapi``), so
listing the commands (``--help``) and finding one needs no app: the app is created only for a
command that runs in it, and the factory is imported only then. Flask's own group creates the
app to list the commands, which made every command, ``--help`` too, import every layer first.
"""

from __future__ import annotations

import click
from flask.cli import FlaskGroup
from flask_smorest.spec import openapi_cli

from . import COMMANDS


class PlusAlphaGroup(FlaskGroup):
    """Flask's CLI group, listing and finding only the commands declared on it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self.commands.get(name)


def create_app():
    from ..app import create_app

    return create_app()


main = PlusAlphaGroup(
    name="plusalpha",
    create_app=create_app,
    help="PlusAlpha: risk-targeted fixed-income ETF model portfolios.",
)
for command in (*COMMANDS, openapi_cli):
    main.add_command(command)
