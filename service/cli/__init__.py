"""The ``plusalpha`` console script (:mod:`service.cli.main`) and its commands, one module per
kind: the engine's (:mod:`service.cli.engine`) and operations' (:mod:`service.cli.operations`)."""

from . import engine, operations

COMMANDS = (*engine.COMMANDS, *operations.COMMANDS)
"""Every command of ours, as the console script and ``app.cli`` offer them."""
