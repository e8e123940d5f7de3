"""The ``plusalpha`` console script: a click group of our commands, and flask-smorest's
``openapi`` run in the app of the API's resources.

No command imports Flask to start: ours read the settings without it
(:mod:`service.cli.settings`), and ``openapi`` imports Flask, flask-smorest and the API's
resources only when one of its commands runs, not to be listed. Flask's own group builds the app
to list the commands, and its options (``--app``, ``--env-file``) and commands (``run``,
``shell``) are Flask's development tools, not ours.
"""

from __future__ import annotations

import click

from . import COMMANDS


def create_api_app():
    from ..app import create_api_app

    return create_api_app()


class OpenApiGroup(click.Group):
    """flask-smorest's ``openapi`` commands (``write``, ``print``), in the app of the API's
    resources (:func:`service.app.create_api_app`)."""

    def app_commands(self, ctx: click.Context) -> click.Group:
        from flask.cli import ScriptInfo

        from .openapi import OPENAPI

        root = ctx.find_root()
        if root.obj is None:  # the console script; an app's own CLI has handed over its app
            root.obj = ScriptInfo(create_app=create_api_app)
        return OPENAPI

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self.app_commands(ctx).list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self.app_commands(ctx).get_command(ctx, name)


main = click.Group(
    "plusalpha",
    help="PlusAlpha: risk-targeted fixed-income ETF model portfolios.",
    commands=[*COMMANDS, OpenApiGroup("openapi", help="The HTTP API's OpenAPI document.")],
)
