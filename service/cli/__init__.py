"""The ``plusalpha`` console script (:mod:`service.cli.main`) and its commands, one module per
kind: the engine's (:mod:`service.cli.engine`), the fact sheet (:mod:`service.cli.factsheet`)
operations' (:mod:`service.cli.operations`) and shelves and variants
(:mod:`service.cli.variants`); the ledger and cache they open, created or required
(:mod:`service.cli.handles`)."""

from . import engine, factsheet, operations, variants

COMMANDS = (*engine.COMMANDS, *factsheet.COMMANDS, *operations.COMMANDS, *variants.COMMANDS)
"""Every command of ours, as the console script and ``app.cli`` offer them."""
