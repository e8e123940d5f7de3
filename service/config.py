"""Settings: the one place that reads the environment.

Every variable, its meaning and its default is listed in ``VARIABLES`` and in the README.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# name -> (Flask config key, default, meaning)
VARIABLES = {
    "PLUSALPHA_DATA_DIR": (
        "DATA_DIR",
        None,
        "Data directory of securities and prices; the generated sample universe when unset.",
    ),
    "PLUSALPHA_VAR_DIR": (
        "VAR_DIR",
        "var",
        "Where the embedded Redis and the default SQLite ledger keep their files.",
    ),
    "REDIS_URL": (
        "REDIS_URL",
        None,
        "The Redis serving cache; an embedded Redis under PLUSALPHA_VAR_DIR when unset.",
    ),
    "DATABASE_URL": (
        "DATABASE_URL",
        None,
        "SQLAlchemy URL of the ledger; the SQLite file PLUSALPHA_VAR_DIR/plusalpha.db when unset.",
    ),
}


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict:
    """The Flask config values that the environment sets (defaults where it does not)."""
    environ = os.environ if environ is None else environ
    return {
        key: environ.get(name, default) or default for name, (key, default, _) in VARIABLES.items()
    }


def ledger_url(settings: Mapping[str, str | None]) -> str:
    """The ledger's SQLAlchemy URL: DATABASE_URL, else the SQLite file under the var dir."""
    var_dir = os.path.abspath(settings["VAR_DIR"])
    return settings["DATABASE_URL"] or f"sqlite:///{os.path.join(var_dir, 'plusalpha.db')}"
