"""Small builders shared by the ledger tests."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from service.ledger.repository import add_rebalance, publish_definition
from service.ledger.schema import ModelDefinition, Rebalance

FIRST_AS_OF = date(2024, 1, 31)


def publish_model(session: Session, model_id: str = "agg-plus-baseline") -> ModelDefinition:
    """Publish a plausible definition of ``model_id`` (flushed, not committed)."""
    return publish_definition(
        session,
        model_id,
        name=f"Model {model_id}",
        group="model",
        description="Risk-targeted fixed-income ETFs.",
        benchmark="AGG",
        risk_multiplier=1.0,
        annual_fee=0.004,
        definition={"universe": "all", "caps": {"position": 0.1, "sector": 0.35}},
    )


def add_versions(session: Session, model_id: str, count: int) -> list[Rebalance]:
    """Add ``count`` worker rebalances to ``model_id``, one a day from ``FIRST_AS_OF``."""
    rows = []
    for i in range(count):
        day = FIRST_AS_OF + timedelta(days=i)
        rows.append(
            add_rebalance(
                session,
                model_id,
                as_of=day,
                effective_date=day + timedelta(days=1),
                weights={"AGG": 0.5, "HYG": 0.5 - i / 1000, "TLT": i / 1000},
                source="worker",
            )
        )
    return rows
