"""API keys: ``Authorization: Bearer pa_live_...``, scopes and model licences.

A key is looked up by the hash of its secret (the ledger stores nothing else); a revoked key
fails at once. A model the key is not licensed for answers 404, exactly like one that does
not exist, so a key cannot learn which models exist beyond its licence.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict, dataclass
from functools import wraps

from flask import current_app, g, request
from redis.exceptions import RedisError

from .audit import audit_buffer
from .cache import forget_api_key, get_api_key, put_api_key
from .errors import Problem, fail
from .extensions import get_redis, get_session
from .ledger import add_audit_events, key_for_secret, revoke_key, secret_hash

SCOPES = ("models:read", "performance:read", "rebalances:write", "trades:write", "admin")
BEARER = "Bearer "

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """What a request needs of its key: the ledger's row, as cached in Redis."""

    id: str
    scopes: list[str]
    models: list[str] | None
    revoked: bool

    @classmethod
    def of(cls, key) -> Caller:
        return cls(key.id, list(key.scopes), key.models, key.revoked_at is not None)


def current_key() -> Caller:
    """The authenticated key of this request (set by ``require``)."""
    return g.api_key


def authenticate(prefetch=None, view_kwargs=None) -> Caller:
    """The key of the Authorization header; 401 when missing, unknown or revoked.

    The key's record comes from the cache, else from the ledger (and then fills the cache).
    With ``prefetch`` (see :func:`require`) the cache read also fetches what the view needs.
    """
    header = request.headers.get("Authorization", "")
    challenge = {"WWW-Authenticate": 'Bearer realm="plusalpha"'}
    secret = header[len(BEARER) :].strip() if header.startswith(BEARER) else ""
    if not secret:
        raise Problem(401, "an API key is required: Authorization: Bearer <key>", headers=challenge)
    caller = cached_caller(secret_hash(secret), prefetch, view_kwargs) or ledger_caller(secret)
    if caller is None or caller.revoked:
        raise Problem(401, "the API key is unknown or revoked", headers=challenge)
    return caller


def cached_caller(digest: str, prefetch=None, view_kwargs=None) -> Caller | None:
    try:
        if prefetch is None:
            record = get_api_key(get_redis(), digest)
        else:
            record, g.prefetched = prefetch(get_redis(), digest, **view_kwargs)
    except RedisError:
        current_app.logger.warning("redis unavailable: checking API keys in the ledger")
        return None
    return None if record is None else Caller(**record)


def ledger_caller(secret: str) -> Caller | None:
    key = key_for_secret(get_session(), secret)
    if key is None:
        return None
    caller = Caller.of(key)
    with contextlib.suppress(RedisError):
        put_api_key(get_redis(), key.secret_hash, asdict(caller))
    return caller


def revoke(session, redis, key_id: str, actor: str | None):
    """Revoke a key in the ledger, audited as done by ``actor``; the key, or None if unknown.

    Its cached record is dropped before the commit and after it: a request that refilled the
    cache in between read the key before it was revoked. Redis being down does not stop the
    revocation; the record then lives until it expires (``API_KEY_TTL_SECONDS``).
    """
    key = revoke_key(session, key_id)
    if key is None:
        return None
    event = {"action": "revoke_key", "key_id": actor, "detail": {"key": key_id}}
    add_audit_events(session, [event])
    forget_cached(redis, key)
    session.commit()
    forget_cached(redis, key)
    return key


def forget_cached(redis, key) -> None:
    try:
        forget_api_key(redis, key.secret_hash)
    except RedisError:
        log.warning("redis unavailable: %s stays cached until it expires", key.id)


def require(scope: str, prefetch=None):
    """Decorate a view: authenticate, then check the key holds ``scope`` (403 if not).

    ``prefetch(redis, digest, **view_kwargs) -> (key record or None, extra)``, for a hot read,
    reads the key's cached record and what the view will need in one round trip; ``extra`` is
    left in ``g.prefetched`` for the view.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            key = authenticate(prefetch, kwargs)
            if scope not in key.scopes:
                fail(403, f"this API key lacks the scope {scope}")
            g.api_key = key
            audit_buffer().touch(key.id)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def licensed(model_id: str) -> bool:
    """Whether the current key may see ``model_id``."""
    models = current_key().models
    return models is None or model_id in models


def ensure_licensed(model_id: str, known: bool) -> None:
    """404 for a model that does not exist or that the key is not licensed for."""
    if not known or not licensed(model_id):
        fail(404, f"no model {model_id!r}", field="model_id", location="path")
