"""The ledger and cache a command works on (:func:`service.worker.handles.handles`).

The commands that add to the ledger (``worker``, ``keys create``, ``keys demo``,
``shelves import``, ``variants create``) create it where the settings point when it is missing,
as the service does at its first start. The others that open it (``reproduce``, ``trades``,
``cache rebuild``, ``keys revoke``, ``keys rotate``, ``shelves list``, ``variants list``,
``variants retire``) read what is there or change it: they create no ledger, and where there is
none they stop, saying where they looked and which setting points elsewhere. Run outside the
service's directory, the default ``PLUSALPHA_VAR_DIR`` (``var``, relative) would otherwise give
them a new, empty ledger, and their answers from it would look like the service's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import click

from ..config import ledger_url
from .settings import settings


def app_handles():
    """The handles of the settings' ledger (created and migrated when missing) and cache."""
    from ..worker.handles import handles

    return handles(settings())


def existing_ledger_handles():
    """The handles of the settings' ledger, which must exist, and cache.

    Raises ``click.ClickException`` (exit 1) when there is no ledger where the settings point.
    """
    from ..ledger.database import MissingLedger, require_ledger
    from ..worker.handles import handles

    config = settings()
    try:
        require_ledger(ledger_url(config))
    except MissingLedger as error:
        raise click.ClickException(f"{error}. {where_else(config)}") from error
    return handles(config)


def where_else(config: Mapping[str, Any]) -> str:
    """What the command needs, which setting points it at another ledger, and what creates one."""
    if config["DATABASE_URL"]:
        where = "DATABASE_URL names it: set DATABASE_URL to the service's ledger"
    else:
        var_dir = config["VAR_DIR"]
        relative = "" if os.path.isabs(var_dir) else ", relative to the working directory"
        where = (
            f"Without DATABASE_URL the ledger is plusalpha.db in PLUSALPHA_VAR_DIR ({var_dir}"
            f"{relative}): run this where the service runs, or set PLUSALPHA_VAR_DIR to the "
            "service's var dir, or DATABASE_URL to its ledger"
        )
    return (
        f"This command reads a ledger and creates none. {where}. "
        "scripts/run and plusalpha worker create one."
    )
