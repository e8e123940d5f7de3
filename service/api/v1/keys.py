"""API keys (scope ``admin``): create one (its secret shown once), list them, revoke or rotate one.

The admin scope is firm-wide: an admin key manages every tenant's keys, whatever its own tenant,
so it is given to PlusAlpha's operators only, never to a platform (see SECURITY.md).

A rotation issues a new key with the same settings and revokes the old one in one transaction:
there is no moment when neither secret works, and the old one fails from the commit on.
"""

from __future__ import annotations

from flask.views import MethodView

from schemas.keys import (
    KeyCreatedSchema,
    KeyCreateSchema,
    KeyListSchema,
    KeyPageQuerySchema,
    KeySchema,
)

from ..auth import current_key, require, revoke, rotate
from ..blueprint import Blueprint
from ..errors import fail
from ..extensions import get_redis, get_session

blp = Blueprint("keys", __name__, url_prefix="/v1", description="API keys")


def audit(session, action: str, key_id: str) -> None:
    from ...ledger import add_audit_events

    add_audit_events(
        session, [{"action": action, "key_id": current_key().id, "detail": {"key": key_id}}]
    )


def key_fields(key) -> dict:
    """The key's shown fields, by name (to add the secret to)."""
    return {name: getattr(key, name) for name in KeySchema().fields}


def cursor_key(session, cursor: str | None) -> str | None:
    from ...ledger import get_key

    if cursor is not None and get_key(session, cursor) is None:
        fail(422, f"cursor {cursor!r} is not one this API gave", field="cursor")
    return cursor


@blp.route("/keys")
class Keys(MethodView):
    @require("admin")
    @blp.arguments(KeyPageQuerySchema, location="query")
    @blp.response(200, KeyListSchema)
    def get(self, query: dict):
        """Every API key, newest first"""
        from ...ledger import list_keys

        session = get_session()
        limit = query["limit"]
        before = cursor_key(session, query.get("cursor"))
        rows = list_keys(session, before_id=before, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return {"data": rows, "next_cursor": rows[-1].id if more else None}

    @require("admin")
    @blp.arguments(KeyCreateSchema)
    @blp.response(201, KeyCreatedSchema)
    def post(self, body: dict):
        """Create an API key; its secret is in this answer only"""
        from ...ledger import create_key

        session = get_session()
        key, secret = create_key(
            session,
            name=body["name"],
            tenant=body["tenant"],
            scopes=list(dict.fromkeys(body["scopes"])),
            models=None if body["models"] is None else list(dict.fromkeys(body["models"])),
            rate_limit=body["rate_limit"],
        )
        audit(session, "create_key", key.id)
        session.commit()
        return {**key_fields(key), "secret": secret}


@blp.route("/keys/<key_id>")
class Key(MethodView):
    @require("admin")
    @blp.response(200, KeySchema)
    def delete(self, key_id: str):
        """Revoke an API key at once (revoking again changes nothing)"""
        key = revoke(get_session(), get_redis(), key_id, actor=current_key().id)
        if key is None:
            fail(404, f"no key {key_id!r}", field="key_id", location="path")
        return key


@blp.route("/keys/<key_id>/rotate")
class KeyRotation(MethodView):
    @require("admin")
    @blp.response(201, KeyCreatedSchema)
    @blp.alt_response(409, "CONFLICT", description="The key is revoked")
    def post(self, key_id: str):
        """Rotate an API key: a new key with the same settings, its secret in this answer only

        The new key has the old one's name, tenant, scopes and models; the old one is revoked
        in the same transaction, so it fails from this answer on. A revoked key cannot be
        rotated (409).
        """
        from ...ledger import get_key

        session = get_session()
        rotated = rotate(session, get_redis(), key_id, actor=current_key().id)
        if rotated is None:
            if get_key(session, key_id) is None:
                fail(404, f"no key {key_id!r}", field="key_id", location="path")
            fail(409, f"key {key_id!r} is revoked", field="key_id", location="path")
        key, secret = rotated
        return {**key_fields(key), "secret": secret}
