"""A variant's digest, unique among a tenant's live variants: the same variant is not created
twice, even by two requests at once.

The variants recorded before get their digest from their stored definition; where a tenant
already has two live variants of one digest, the older keeps it and the other has none (both
stay: the ledger changes no variant's history).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service.ledger.variants import variant_digest

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LIVE = sa.text("retired_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("variants") as batch:
        batch.add_column(sa.Column("digest", sa.String(length=64), nullable=True))
    fill_digests(op.get_bind())
    op.create_index(
        "uq_variants_live_digest",
        "variants",
        ["tenant", "digest"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )


def fill_digests(connection: sa.Connection) -> None:
    """Give each live variant recorded before this revision its digest (the first of a tenant's
    identical ones only, by creation)."""
    variants = sa.table(
        "variants",
        sa.column("id", sa.String),
        sa.column("tenant", sa.String),
        sa.column("base_model", sa.String),
        sa.column("digest", sa.String),
        sa.column("created_at", sa.DateTime),
        sa.column("retired_at", sa.DateTime),
    )
    definitions = sa.table(
        "model_definitions", sa.column("model_id", sa.String), sa.column("definition", sa.JSON)
    )
    rows = connection.execute(
        sa.select(variants.c.id, variants.c.tenant, variants.c.base_model, definitions.c.definition)
        .join(definitions, definitions.c.model_id == variants.c.id)
        .where(variants.c.retired_at.is_(None))
        .order_by(variants.c.created_at, variants.c.id)
    )
    taken = set()
    for variant_id, tenant, base_model, definition in rows.all():
        digest = variant_digest(base_model, definition)
        if (tenant, digest) in taken:
            continue
        taken.add((tenant, digest))
        connection.execute(
            variants.update().where(variants.c.id == variant_id).values(digest=digest)
        )


def downgrade() -> None:
    op.drop_index("uq_variants_live_digest", table_name="variants")
    with op.batch_alter_table("variants") as batch:
        batch.drop_column("digest")
