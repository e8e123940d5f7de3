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
}


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict:
    """The Flask config values that the environment sets (defaults where it does not)."""
    environ = os.environ if environ is None else environ
    return {
        key: environ.get(name, default) or default for name, (key, default, _) in VARIABLES.items()
    }
