"""A tenant's live variants are different models (issue 22), on SQLite and PostgreSQL: the
unique index on their digests holds when two writers record the same variant at once, and the
migration that adds it gives the variants recorded before their digests."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from service.ledger.database import alembic_config, make_engine, session_factory, upgrade
from service.ledger.schema import Variant
from service.ledger.variants import (
    DuplicateVariant,
    add_variant,
    retire_variant,
    variant_definition,
    variant_digest,
)

BASE = "agg-plus-baseline"


def definition(variant_id: str, name: str, exclude: list[str]) -> dict:
    """A plausible variant definition: the base model's universe less ``exclude``."""
    tickers = [t for t in ("AGG", "HYG", "JNK", "LQD", "TLT") if t not in exclude]
    return {
        "id": variant_id,
        "name": name,
        "group": "model",
        "description": f"AGG+ Baseline customized: without {', '.join(exclude)}.",
        "benchmark": "AGG",
        "risk_multiplier": 1.0,
        "annual_fee": 0.004,
        "universe": {"tickers": tickers, "sectors": None, "ig_only": False, "min_aum": 0.0},
    }


def record(session, variant_id: str, name: str = "no HY", exclude=("HYG", "JNK"), tenant="acme"):
    return add_variant(
        session,
        variant_id=variant_id,
        tenant=tenant,
        base_model=BASE,
        name=name,
        settings={"exclude_tickers": list(exclude)},
        definition=definition(variant_id, name, list(exclude)),
        created_by=None,
    )


def test_the_digest_ignores_the_name_id_and_description_only():
    one = definition(f"{BASE}.acme-a", "a", ["HYG"])
    assert variant_digest(BASE, one) == variant_digest(BASE, definition(f"{BASE}.b", "b", ["HYG"]))
    assert variant_digest(BASE, one) != variant_digest("hy-plus-baseline", one)
    assert variant_digest(BASE, one) != variant_digest(BASE, {**one, "annual_fee": 0.0})


def test_a_second_live_variant_of_the_same_digest_is_refused_a_retired_one_is_not(session):
    first = record(session, f"{BASE}.acme-no-hy")
    with pytest.raises(DuplicateVariant) as refused:
        record(session, f"{BASE}.acme-again", name="again")
    assert refused.value.existing == first.id
    assert record(session, f"{BASE}.other-no-hy", tenant="other") is not None
    retire_variant(session, first.id)
    assert record(session, f"{BASE}.acme-again", name="again") is not None
    session.commit()


def test_the_index_refuses_a_live_twin_written_past_the_check(session):
    """A row written without ``add_variant``'s check (as a second writer's is, when the first
    has not committed yet) is refused by the index while its twin is live, not once retired."""
    first = record(session, f"{BASE}.acme-no-hy")
    twin_id = f"{BASE}.acme-twin"
    session.add(variant_definition(twin_id, definition(twin_id, "twin", ["HYG", "JNK"])))
    session.commit()

    def twin() -> Variant:
        row = {"id": twin_id, "tenant": "acme", "base_model": BASE, "name": "twin"}
        return Variant(**row, settings={}, digest=first.digest)

    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(twin())
    retire_variant(session, first.id)
    session.add(twin())
    session.commit()
    live = select(Variant.id).where(Variant.retired_at.is_(None))
    assert session.scalars(live).all() == [twin_id]


def test_two_writers_recording_the_same_variant_at_once_record_one(ledger_engine):
    """The first writer holds its transaction open while the second records the same
    variant under another name: the second is refused once the first commits."""
    sessions = session_factory(ledger_engine)
    started = threading.Event()

    def second() -> str:
        with sessions() as session:
            started.set()
            try:
                record(session, f"{BASE}.acme-second", name="second")
                session.commit()
                return "recorded"
            except DuplicateVariant as error:
                return error.existing

    with sessions() as first:
        record(first, f"{BASE}.acme-first", name="first")
        with ThreadPoolExecutor(1) as pool:
            outcome = pool.submit(second)
            started.wait(10)
            time.sleep(0.5)  # the second reaches its insert and waits for the first
            first.commit()
            assert outcome.result(timeout=60) == f"{BASE}.acme-first"
    with sessions() as session:
        assert session.scalars(select(Variant.id)).all() == [f"{BASE}.acme-first"]


def test_the_migration_gives_earlier_variants_their_digests(ledger_url):
    """Revision 0007 on variants recorded before it: each live one gets its digest, except a
    second identical one of the same tenant (both kept); a retired one gets none."""
    earlier = {  # id: (tenant, retired), in the order they were created
        f"{BASE}.acme-a": ("acme", True),
        f"{BASE}.acme-b": ("acme", False),
        f"{BASE}.acme-c": ("acme", False),
        f"{BASE}.other-a": ("other", False),
    }
    engine = make_engine(ledger_url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0006")
        with session_factory(engine)() as session:
            for n, (variant_id, (tenant, retired)) in enumerate(earlier.items()):
                session.add(variant_definition(variant_id, definition(variant_id, "x", ["HYG"])))
                session.flush()
                when = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=n)
                row = {"id": variant_id, "tenant": tenant, "base_model": BASE, "name": "x"}
                session.execute(
                    insert(Variant.__table__).values(  # revision 0006's columns: no digest
                        **row,
                        settings={},
                        status="ready",
                        created_at=when,
                        updated_at=when,
                        retired_at=when if retired else None,
                    )
                )
            session.commit()
        upgrade(engine)
        with session_factory(engine)() as session:
            digests = dict(session.execute(select(Variant.id, Variant.digest)).all())
    finally:
        engine.dispose()
    digest = variant_digest(BASE, definition("any", "any", ["HYG"]))
    assert digests == {
        f"{BASE}.acme-a": None,
        f"{BASE}.acme-b": digest,
        f"{BASE}.acme-c": None,
        f"{BASE}.other-a": digest,
    }
