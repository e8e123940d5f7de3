"""The ``plusalpha`` console script (:mod:`service.cli.main`) and its commands, one module per
kind: the engine's (:mod:`service.cli.engine`), the fact sheet (:mod:`service.cli.factsheet`)
and operations' (:mod:`service.cli.operations`)."""

from . import engine, factsheet, operations

COMMANDS = (*engine.COMMANDS, *factsheet.COMMANDS, *operations.COMMANDS)
"""Every command of ours, as the console script and ``app.cli`` offer them."""
