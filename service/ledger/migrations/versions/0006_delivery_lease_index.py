"""Webhook deliveries are found by their lease token: index it.

A job claims its deliveries by token, the dispatcher confirms a lease by it, and without an
index each of those read every delivery ever made (a table that only grows).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_webhook_deliveries_lease_token", "webhook_deliveries", ["lease_token"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_lease_token", "webhook_deliveries")
