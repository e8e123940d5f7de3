"""The performance table of the firm's September 2024 newsletter, as published.

The passive-benchmark rows are what the sample data is calibrated to; the tests compare the
engine's table with them.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd

SEED_AS_OF = pd.Period("2024-09", "M")


@cache
def seed_table() -> pd.DataFrame:
    """The published table, indexed by ``model_id`` (decimals, rounded as published)."""
    path = resources.files(__package__) / "seed_performance_2024-09.csv"
    with path.open() as handle:
        return pd.read_csv(handle, comment="#").set_index("model_id")
