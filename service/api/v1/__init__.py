"""Version 1 of the API: every resource lives under ``/v1``."""

from __future__ import annotations

from flask_smorest import Api


def register(api: Api) -> None:
    """Register every resource's blueprint."""
    from . import (
        accounts,
        factsheets,
        health,
        jobs,
        keys,
        models,
        performance,
        rebalances,
        shelves,
        trades,
        variants,
        webhooks,
    )

    for module in (
        health,
        models,
        rebalances,
        trades,
        accounts,
        jobs,
        performance,
        factsheets,
        variants,
        shelves,
        keys,
        webhooks,
    ):
        api.register_blueprint(module.blp)
