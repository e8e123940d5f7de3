"""Shelves and variants in the ledger, each function on a caller's session (flush, no commit).

A variant's id is ``{base_model}.{slug}``, the slug made of its tenant and name (``acme`` and
"IG no HY" make ``agg-plus-baseline.acme-ig-no-hy``), with ``-2``, ``-3``... when taken. The
nine models' ids have no ``.``, so an id with one is a variant's.

A tenant has at most one live variant of each model: a second with the same base and the same
definition (its name aside) is refused with :class:`DuplicateVariant`, by a unique index on the
variants' digests, so two requests at once cannot both record it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .repository import as_json_document
from .schema import ModelDefinition, Shelf, Variant, utc_now
from .webhooks import announce_variant

VARIANT_SEPARATOR = "."
MAX_ID_LENGTH = 100
BUILDABLE = ("building", "ready")
"""The statuses the monthly run builds (a ``building`` one may be a killed build to finish)."""
NAMING_FIELDS = ("id", "name", "description")
"""The fields of a variant's definition that name or describe it without changing the model."""


class DuplicateVariant(Exception):
    """A live variant of the tenant is already this model; ``existing`` is its id."""

    def __init__(self, existing: str):
        self.existing = existing
        super().__init__(f"identical to variant {existing}")


def is_variant_id(model_id: str) -> bool:
    """Whether ``model_id`` names a variant (the nine's ids have no ``.``)."""
    return VARIANT_SEPARATOR in model_id


def base_model_id(model_id: str) -> str:
    """The model a variant is derived from (the model itself for one of the nine)."""
    return model_id.split(VARIANT_SEPARATOR, 1)[0]


def slug(text: str) -> str:
    """Lower-case letters and digits of ``text``, runs of anything else as one ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# --- shelves ----------------------------------------------------------------------------------


def put_shelf(session: Session, shelf_id: str, name: str, tickers: Sequence[str]) -> Shelf:
    """Store a shelf, replacing the one of that id if any."""
    shelf = session.get(Shelf, shelf_id)
    if shelf is None:
        shelf = Shelf(id=shelf_id, name=name, tickers=list(tickers))
        session.add(shelf)
    elif shelf.name != name or shelf.tickers != list(tickers):
        shelf.name, shelf.tickers, shelf.updated_at = name, list(tickers), utc_now()
    session.flush()
    return shelf


def get_shelf(session: Session, shelf_id: str) -> Shelf | None:
    return session.get(Shelf, shelf_id)


def list_shelves(session: Session) -> list[Shelf]:
    return list(session.scalars(select(Shelf).order_by(Shelf.id)))


# --- variants ---------------------------------------------------------------------------------


def new_variant_id(session: Session, base_model: str, tenant: str, name: str) -> str:
    """A readable id not yet taken: ``{base_model}.{tenant}-{name}`` as a slug."""
    stem = f"{base_model}{VARIANT_SEPARATOR}{slug(f'{tenant}-{name}') or 'variant'}"
    stem = stem[: MAX_ID_LENGTH - 4].rstrip("-")
    candidate, n = stem, 1
    while session.get(ModelDefinition, candidate) is not None:
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def variant_digest(base_model: str, definition: dict[str, Any]) -> str:
    """The sha256 of what makes a variant the model it is: its base model and its definition
    (with every default applied and the universe spelled out), less its id, name and
    description. Two variants with the same digest hold the same weights every month."""
    model = {k: v for k, v in definition.items() if k not in NAMING_FIELDS}
    text = json.dumps({"base_model": base_model, "definition": model}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def live_twin(session: Session, tenant: str, digest: str) -> Variant | None:
    """The tenant's live variant of that digest, if any."""
    query = select(Variant).where(
        Variant.tenant == tenant, Variant.digest == digest, Variant.retired_at.is_(None)
    )
    return session.scalars(query).first()


def add_variant(
    session: Session,
    *,
    variant_id: str,
    tenant: str,
    base_model: str,
    name: str,
    settings: dict[str, Any],
    definition: dict[str, Any],
    created_by: str | None,
) -> Variant | None:
    """Record a variant (``building``) and its definition, from the spec's document.

    Returns None when another writer took ``variant_id`` meanwhile (ask for a new id).

    Raises
    ------
    DuplicateVariant
        When a live variant of the tenant has the same digest, recorded before or meanwhile.
    """
    digest = variant_digest(base_model, definition)
    twin = live_twin(session, tenant, digest)
    if twin is not None:
        raise DuplicateVariant(twin.id)
    variant = Variant(
        id=variant_id,
        tenant=tenant,
        base_model=base_model,
        name=name,
        settings=settings,
        digest=digest,
        status="building",
        created_by=created_by,
    )
    try:
        with session.begin_nested():
            session.add(variant_definition(variant_id, definition))
            session.flush()  # the definition first: the variant's id refers to it
            session.add(variant)
    except IntegrityError:
        twin = live_twin(session, tenant, digest)
        if twin is not None:
            raise DuplicateVariant(twin.id) from None
        if session.get(ModelDefinition, variant_id) is not None:
            return None
        raise
    return variant


def variant_definition(variant_id: str, definition: dict[str, Any]) -> ModelDefinition:
    """The definition row of a new variant (its id is new: never an update of another's)."""
    return ModelDefinition(
        model_id=variant_id,
        name=definition["name"],
        group=definition["group"],
        description=definition["description"],
        benchmark=definition["benchmark"],
        risk_multiplier=definition["risk_multiplier"],
        annual_fee=definition["annual_fee"],
        definition=as_json_document(definition),
    )


def get_variant(session: Session, variant_id: str) -> Variant | None:
    return session.get(Variant, variant_id)


def list_variants(session: Session, tenant: str | None = None) -> list[Variant]:
    """The variants of ``tenant`` (every tenant's when None), by id; retired ones included."""
    query = select(Variant).order_by(Variant.id)
    if tenant is not None:
        query = query.where(Variant.tenant == tenant)
    return list(session.scalars(query))


def live_variant_count(session: Session, tenant: str) -> int:
    """How many variants the tenant has that are not retired (its limit counts these)."""
    query = select(func.count()).where(Variant.tenant == tenant, Variant.retired_at.is_(None))
    return session.scalar(query) or 0


def buildable_variants(session: Session) -> list[Variant]:
    """The variants the monthly run builds: not retired, ``building`` or ``ready``."""
    query = select(Variant).where(Variant.retired_at.is_(None), Variant.status.in_(BUILDABLE))
    return list(session.scalars(query.order_by(Variant.id)))


def set_variant_status(
    session: Session,
    variant_id: str,
    status: str,
    *,
    error: str | None = None,
    notes: dict[str, Any] | None = None,
) -> Variant:
    variant = session.get_one(Variant, variant_id)
    became = status != variant.status
    variant.status, variant.error, variant.updated_at = status, error, utc_now()
    if notes is not None:
        variant.notes = notes
    session.flush()
    if became and status in ("ready", "failed"):
        announce_variant(session, variant)  # once, in the transaction of the status
    return variant


def retire_variant(session: Session, variant_id: str) -> Variant | None:
    """Retire a variant (once: a second retirement keeps the first date); None if unknown."""
    variant = session.get(Variant, variant_id)
    if variant is not None and variant.retired_at is None:
        variant.retired_at = variant.updated_at = utc_now()
        session.flush()
    return variant
