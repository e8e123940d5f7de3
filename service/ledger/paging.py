"""Keyset pages, newest first: what every paged list of the ledger (keys, webhook subscriptions,
deliveries) answers, the next page starting after the last row of this one."""

from __future__ import annotations

from sqlalchemy import Select, and_, or_


def newest_first(query: Select, model, cursor, limit: int) -> Select:
    """``query`` ordered by ``model``'s creation time then id, both descending, from just after
    ``cursor`` (a row of ``model``, or None for the first page), ``limit`` rows."""
    if cursor is not None:
        query = query.where(
            or_(
                model.created_at < cursor.created_at,
                and_(model.created_at == cursor.created_at, model.id < cursor.id),
            )
        )
    return query.order_by(model.created_at.desc(), model.id.desc()).limit(limit)
