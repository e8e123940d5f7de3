"""API keys: ``Authorization: Bearer pa_live_...``, scopes and model licences.

A key is looked up by the hash of its secret (the ledger stores nothing else); a revoked key
fails at once. A model the key is not licensed for answers 404, exactly like one that does
not exist, so a key cannot learn which models exist beyond its licence.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from functools import partial, wraps
from typing import TYPE_CHECKING

from flask import Response, after_this_request, current_app, g, request
from werkzeug.exceptions import HTTPException

from .audit import audit_buffer
from .errors import Problem, fail
from .extensions import get_redis, get_session
from .metrics import count_cache_read, count_ledger_fallback
from .scopes import SCOPES

if TYPE_CHECKING:
    from ..cache import Window
    from .limits import Quota

BEARER = "Bearer "
HANDED_OVER = "plusalpha.prefetched"
"""The WSGI environ key where the weights fast path leaves what it read from the cache for a
request it does not answer (a ``prefetch`` result): the view's checks start from it, and the
request is not counted again."""

PRIVATE = {"Cache-Control": "private, no-store"}
"""Every answer to a key: no browser or proxy keeps it (OWASP API8)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """What a request needs of its key: the ledger's row, as cached in Redis."""

    id: str
    scopes: list[str]
    models: list[str] | None
    revoked: bool
    rate_limit: int | None = None
    """Requests per window; None for the service's default (see :mod:`service.api.limits`)."""
    tenant: str | None = None
    """None in a record cached before keys carried it: such a key sees no variant until its
    record is refilled from the ledger."""

    def may_read(self, scope: str, model_id: str) -> bool:
        """Whether the key is live, holds ``scope`` and is licensed for ``model_id``.

        False for a variant, whose owner only the ledger knows: the view decides those
        (:func:`licensed`), and the weights fast path leaves them to it.
        """
        return not self.revoked and scope in self.scopes and self.licensed_for(model_id)

    def licensed_for(self, model_id: str) -> bool:
        """Whether the key may see one of the nine (never a variant: see :func:`licensed`)."""
        from ..ledger import is_variant_id

        if is_variant_id(model_id):
            return False
        return self.models is None or model_id in self.models

    def sees_variant(self, variant) -> bool:
        """Whether the key sees ``variant``: it is its tenant's and may read the base model."""
        return self.tenant == variant.tenant and self.licensed_for(variant.base_model)

    @classmethod
    def of(cls, key) -> Caller:
        revoked = key.revoked_at is not None
        return cls(key.id, list(key.scopes), key.models, revoked, key.rate_limit, key.tenant)


def current_key() -> Caller:
    """The authenticated key of this request (set by ``require``)."""
    return g.api_key


def authenticate(prefetch=None, view_kwargs=None) -> tuple[Caller, Quota | None]:
    """The key of the Authorization header, and where it stands against its rate limit after
    this request (None when Redis could not count it); 401 when missing, unknown or revoked.

    The key's record comes from the cache, else from the ledger (and then fills the cache).
    With ``prefetch`` (see :func:`require`) the cache read also fetches what the view needs.
    """
    from ..ledger import secret_hash
    from .limits import Quota, current_window

    secret = bearer_secret(request.headers.get("Authorization", ""))
    challenge = {"WWW-Authenticate": 'Bearer realm="plusalpha"'}
    if not secret:
        raise Problem(401, "an API key is required: Authorization: Bearer <key>", headers=challenge)
    config = current_app.config
    window = current_window(config["RATE_LIMIT_WINDOW"])
    caller, requests = cached_caller(secret_hash(secret), window, prefetch, view_kwargs)
    if caller is None:
        caller, requests = ledger_caller(secret, window)
    if caller is None or caller.revoked:
        raise Problem(401, "the API key is unknown or revoked", headers=challenge)
    if requests is None:
        return caller, None
    return caller, Quota.of(caller.rate_limit or config["RATE_LIMIT"], requests, window)


def bearer_secret(authorization: str) -> str:
    """The key's secret in an ``Authorization`` header's value ("" when there is none)."""
    return authorization[len(BEARER) :].strip() if authorization.startswith(BEARER) else ""


def cached_caller(
    digest: str, window: Window, prefetch=None, view_kwargs=None
) -> tuple[Caller | None, int | None]:
    """The key's cached record and its requests in ``window`` (None, None on a miss)."""
    from redis.exceptions import RedisError

    from ..cache import read_api_key

    try:
        handed = request.environ.pop(HANDED_OVER, None)
        if handed is not None:  # read (and counted) already by a fast path
            read, g.prefetched = handed
        elif prefetch is None:
            read = read_api_key(get_redis(), digest, window)
        else:
            read, g.prefetched = prefetch(get_redis(), digest, window, **view_kwargs)
    except RedisError:
        current_app.logger.warning("redis unavailable: checking API keys in the ledger")
        count_cache_read("api_key", "error")
        return None, None
    count_cache_read("api_key", "miss" if read.record is None else "hit")
    return (None if read.record is None else Caller(**read.record)), read.requests


def ledger_caller(secret: str, window: Window) -> tuple[Caller | None, int | None]:
    """The key from the ledger, cached for the next requests, and its requests in ``window``."""
    from redis.exceptions import RedisError

    from ..cache import count_request, put_api_key
    from ..ledger import key_for_secret

    count_ledger_fallback("api_key")
    key = key_for_secret(get_session(), secret)
    if key is None:
        return None, None
    caller = Caller.of(key)
    try:
        put_api_key(get_redis(), key.secret_hash, asdict(caller))
        return caller, count_request(get_redis(), key.secret_hash, window)
    except RedisError:
        return caller, None


def revoke(session, redis, key_id: str, actor: str | None):
    """Revoke a key in the ledger, audited as done by ``actor``; the key, or None if unknown.

    Its cached record is dropped before the commit and after it: a request that refilled the
    cache in between read the key before it was revoked. Redis being down does not stop the
    revocation; the record then lives until it expires (``API_KEY_TTL_SECONDS``).
    """
    from ..ledger import add_audit_events, revoke_key

    key = revoke_key(session, key_id)
    if key is None:
        return None
    event = {"action": "revoke_key", "key_id": actor, "detail": {"key": key_id}}
    add_audit_events(session, [event])
    forget_cached(redis, key)
    session.commit()
    forget_cached(redis, key)
    return key


def rotate(session, redis, key_id: str, actor: str | None):
    """Issue the successor of a key and revoke the key, in one transaction, audited as done by
    ``actor``; the new key and its secret, or None when the key is unknown or revoked.

    ``revoke`` commits the new key together with the revocation and forgets the old key's
    cached record, so it fails at once (``plusalpha keys rotate`` uses this too).
    """
    from ..ledger import add_audit_events, rotate_key

    rotated = rotate_key(session, key_id)
    if rotated is None:
        return None
    key, secret = rotated
    event = {"action": "create_key", "key_id": actor, "detail": {"key": key.id, "rotates": key_id}}
    add_audit_events(session, [event])
    revoke(session, redis, key_id, actor)
    return key, secret


def forget_cached(redis, key) -> None:
    from redis.exceptions import RedisError

    from ..cache import forget_api_key

    try:
        forget_api_key(redis, key.secret_hash)
    except RedisError:
        log.warning("redis unavailable: %s stays cached until it expires", key.id)


def require(scope: str, prefetch=None):
    """Decorate a view: authenticate, then check the key holds ``scope`` (403 if not).

    A key over its rate limit gets a 429 (before the scope is checked); every answer to a key
    whose requests were counted carries its RateLimit headers, and every answer to a key
    ``Cache-Control: private, no-store``.

    ``prefetch(redis, digest, window, **view_kwargs) -> (KeyRead, extra)``, for a hot read, reads
    the key as :func:`service.cache.read_api_key` does and what the view will need in one round
    trip; ``extra`` is left in ``g.prefetched`` for the view.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorator(view):
        def authorized(key: Caller, args, kwargs):
            if scope not in key.scopes:
                fail(403, f"this API key lacks the scope {scope}")
            g.api_key = key
            audit_buffer().touch(key.id)
            return view(*args, **kwargs)

        @wraps(view)
        def wrapped(*args, **kwargs):
            key, quota = authenticate(prefetch, kwargs)
            headers = PRIVATE
            try:
                if quota is not None:
                    quota.enforce()  # a 429 carries the RateLimit headers itself
                    headers = {**quota.headers, **PRIVATE}
                response = authorized(key, args, kwargs)
            except HTTPException:  # its answer is made later: add the headers then
                after_this_request(partial(with_headers, headers))
                raise
            if not isinstance(response, Response):
                response = current_app.make_response(response)
            return with_headers(headers, response)

        return wrapped

    return decorator


def with_headers(headers: dict[str, str], response: Response) -> Response:
    """``response`` with ``headers`` added (``add``: it need not look for them first)."""
    for name, value in headers.items():
        response.headers.add(name, value)
    return response


def licensed(model_id: str) -> bool:
    """Whether the current key may see ``model_id``: one of the nine it is licensed for, or a
    variant of its tenant whose base model it may read (retired or not; see
    :func:`ensure_licensed`)."""
    from ..ledger import is_variant_id

    key = current_key()
    if not is_variant_id(model_id):
        return key.licensed_for(model_id)
    variant = variant_record(model_id)
    return variant is not None and key.sees_variant(variant)


def variant_record(model_id: str):
    """The ledger's row of the variant ``model_id`` (None when there is none), once a request."""
    from ..ledger import get_variant

    known = g.setdefault("variants", {})
    if model_id not in known:
        known[model_id] = get_variant(get_session(), model_id)
    return known[model_id]


def ensure_licensed(model_id: str, known: bool, *, building: bool = False) -> None:
    """404 for a model that does not exist or that the key may not see, exactly alike.

    A variant the key sees answers 410 once retired, and 404 until it is ready, unless the
    route shows a variant while it is ``building`` (its definition, with its status).
    """
    from ..ledger import is_variant_id

    if not known or not licensed(model_id):
        fail(404, f"no model {model_id!r}", field="model_id", location="path")
    variant = variant_record(model_id) if is_variant_id(model_id) else None
    if variant is None:
        return
    if variant.retired_at is not None:
        detail = f"{model_id} was retired on {variant.retired_at:%Y-%m-%d}"
        fail(410, detail, field="model_id", location="path")
    if variant.status != "ready" and not building:
        detail = f"{model_id} is {variant.status}: it has no versions to serve yet"
        fail(404, detail, field="model_id", location="path")
