"""API keys: ``Authorization: Bearer pa_live_...``, scopes and model licences.

A key is looked up by the hash of its secret (the ledger stores nothing else); a revoked key
fails at once. A model the key is not licensed for answers 404, exactly like one that does
not exist, so a key cannot learn which models exist beyond its licence.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import wraps

from flask import g, request

from .errors import Problem, fail
from .extensions import get_session
from .ledger import key_for_secret

SCOPES = ("models:read", "performance:read", "rebalances:write", "admin")
BEARER = "Bearer "


def current_key():
    """The authenticated key of this request (set by ``require``)."""
    return g.api_key


def authenticate():
    """The key of the Authorization header; 401 when missing, unknown or revoked."""
    header = request.headers.get("Authorization", "")
    challenge = {"WWW-Authenticate": 'Bearer realm="plusalpha"'}
    if not header.startswith(BEARER) or not header[len(BEARER) :].strip():
        raise Problem(401, "an API key is required: Authorization: Bearer <key>", headers=challenge)
    key = key_for_secret(get_session(), header[len(BEARER) :].strip())
    if key is None or key.revoked_at is not None:
        raise Problem(401, "the API key is unknown or revoked", headers=challenge)
    return key


def require(scope: str):
    """Decorate a view: authenticate, then check the key holds ``scope`` (403 if not)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            key = authenticate()
            if scope not in key.scopes:
                fail(403, f"this API key lacks the scope {scope}")
            g.api_key = key
            g.key_used_at = datetime.now(UTC)
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
