"""API keys: secret shape, nothing but the hash stored, lookup, revocation, paging, last use."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from service.ledger.database import session_factory
from service.ledger.repository import (
    create_key,
    get_key,
    key_for_secret,
    list_keys,
    revoke_key,
    touch_keys,
)
from service.ledger.schema import ApiKey

T0 = datetime(2024, 10, 1, 12, 0, tzinfo=UTC)


def new_key(session, name="platform", models=None):
    """Create a read-only key for tenant ``acme``."""
    return create_key(session, name=name, tenant="acme", scopes=["read"], models=models)


def test_secret_and_id_shape(session):
    key, secret = new_key(session, models=["agg-plus-baseline"])
    assert re.fullmatch(r"pa_live_[A-Za-z0-9_-]{32,}", secret)
    assert re.fullmatch(r"key_[0-9a-f]{16}", key.id)
    assert key.prefix == secret[:12]
    assert key.scopes == ["read"]
    assert key.models == ["agg-plus-baseline"]
    assert key.revoked_at is None
    assert key.last_used_at is None


def test_only_the_hash_of_the_secret_is_stored(ledger_engine):
    with session_factory(ledger_engine)() as session:
        key, secret = new_key(session)
        session.commit()
    with ledger_engine.connect() as connection:
        row = connection.execute(select(ApiKey.__table__)).one()
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    random_part = secret.removeprefix("pa_live_")
    for value in row:
        assert secret not in str(value)
        assert random_part not in str(value)


def test_key_without_model_list_stores_sql_null(session):
    new_key(session)
    new_key(session, models=[])
    null_models = select(func.count()).where(ApiKey.models.is_(None))
    assert session.scalar(null_models) == 1


def test_lookup_by_secret(session):
    key, secret = new_key(session)
    new_key(session, name="other")
    session.commit()
    assert key_for_secret(session, secret) is key
    assert key_for_secret(session, secret + "x") is None
    assert key_for_secret(session, "pa_live_unknown") is None


def test_revocation_is_idempotent_and_revoked_keys_are_still_found(session):
    key, secret = new_key(session)
    assert revoke_key(session, key.id, at=T0) is key
    assert revoke_key(session, key.id, at=T0 + timedelta(days=1)).revoked_at == T0
    assert revoke_key(session, key.id).revoked_at == T0
    session.commit()
    assert key_for_secret(session, secret).revoked_at == T0
    assert revoke_key(session, "key_0000000000000000") is None


def test_revoke_defaults_to_now(session):
    key, _ = new_key(session)
    before = datetime.now(UTC)
    revoke_key(session, key.id)
    assert before <= key.revoked_at <= datetime.now(UTC)


def test_key_pages_are_newest_first_without_gaps_or_repeats(session):
    created = [new_key(session, name=f"key {i}")[0] for i in range(7)]
    session.commit()
    pages, before = [], None
    while page := list_keys(session, before_id=before, limit=3):
        pages.append(page)
        before = page[-1].id
    listed = [key for page in pages for key in page]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert sorted(key.id for key in listed) == sorted(key.id for key in created)
    positions = [(key.created_at, key.id) for key in listed]
    assert positions == sorted(positions, reverse=True)
    assert list_keys(session, before_id="key_ffffffffffffffff") == []


def test_get_key(session):
    key, _ = new_key(session)
    assert get_key(session, key.id) is key
    assert get_key(session, "key_0000000000000000") is None


def test_touch_keys_only_moves_forward(ledger_engine):
    make_session = session_factory(ledger_engine)
    with make_session() as session:
        first, _ = new_key(session, name="first")
        second, _ = new_key(session, name="second")
        untouched, _ = new_key(session, name="untouched")
        session.commit()
    with make_session() as session:
        touch_keys(session, {first.id: T0, second.id: T0})
        touch_keys(session, {})
        later = T0 + timedelta(minutes=5)
        touch_keys(session, {first.id: later, second.id: T0 - timedelta(minutes=5), "key_x": T0})
        session.commit()
    with make_session() as session:
        assert get_key(session, first.id).last_used_at == later
        assert get_key(session, second.id).last_used_at == T0
        assert get_key(session, untouched.id).last_used_at is None
