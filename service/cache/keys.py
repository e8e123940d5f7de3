"""Redis key layout of the serving cache.

Every key lives under :data:`PREFIX` (``pa:v1:``), so the cache can share a Redis database with
other users and :func:`service.cache.store.flush_all` can drop exactly the cache's keys. The
``v1`` names the layout: a change of layout takes a new prefix, never a reinterpretation.

Per model (``{model_id}``) and published version (``{version}``, a positive integer):

==========================================================  ======  ==============================
key                                                         type    content
==========================================================  ======  ==============================
``pa:v1:model:{model_id}:current``                          string  newest published version
``pa:v1:model:{model_id}:versions``                         zset    member version, score version
``pa:v1:model:{model_id}:effective``                        zset    member version, score
                                                                    ``ordinal * 1e6 + version``
``pa:v1:model:{model_id}:top:{fmt}``                        string  the top version of the
                                                                    ``effective`` set in format
                                                                    ``fmt``: ``ordinal:version:``
                                                                    then its body
``pa:v1:model:{model_id}:version:{version}:meta``           hash    the version's metadata
``pa:v1:model:{model_id}:version:{version}:body:{fmt}``     string  the weights in format ``fmt``
``pa:v1:doc:{name}``                                        string  a whole document
``pa:v1:apikey:{digest}``                                   string  an API key's record (JSON),
                                                                    by its secret's sha256
``pa:v1:requests:{digest}:{window}``                        string  the key's requests in the
                                                                    rate-limit window ``{window}``
==========================================================  ======  ==============================

The ``effective`` score packs the effective date's ordinal and the version, so the highest score
at or below a day's ceiling is the highest version among those with the latest effective date
(see :mod:`service.cache.store`). The ``top`` copies let the usual read (of a day on or after the
top version's effective date) take one plain GET. Versioned keys never expire; API key records
do (they are copies of the ledger's rows, refilled on a miss), and so do request counters
(a window's counter lives one window length from its first request).

Key parts (model ids, format names, document names) must be non-empty and free of ``:``, so no
two parts can spell the same key. The layout assumes one Redis node, not Redis Cluster:
transactions and scripts span several keys of a model.
"""

from __future__ import annotations

PREFIX = "pa:v1:"
MODEL = PREFIX + "model:{model_id}:"
MODEL_CURRENT = MODEL + "current"
MODEL_VERSIONS = MODEL + "versions"
MODEL_EFFECTIVE = MODEL + "effective"
MODEL_TOP = MODEL + "top:{fmt}"
MODEL_VERSION_STEM = MODEL + "version:"
MODEL_VERSION = MODEL_VERSION_STEM + "{version}"
MODEL_META = MODEL_VERSION + ":meta"
BODY_LEAF = ":body:{fmt}"
MODEL_BODY = MODEL_VERSION + BODY_LEAF
DOCUMENT = PREFIX + "doc:{name}"
API_KEY = PREFIX + "apikey:{digest}"
REQUESTS = PREFIX + "requests:{digest}:{window}"
ALL_KEYS_PATTERN = PREFIX + "*"


def checked_part(part: str) -> str:
    """``part`` itself when it can be a key part (non-empty, no ``:``); else ValueError."""
    if not part or ":" in part:
        raise ValueError(f"invalid cache key part {part!r}: must be non-empty without ':'")
    return part


def current_key(model_id: str) -> str:
    """The key of the model's current-version pointer."""
    return MODEL_CURRENT.format(model_id=checked_part(model_id))


def versions_key(model_id: str) -> str:
    """The key of the model's sorted set of published versions."""
    return MODEL_VERSIONS.format(model_id=checked_part(model_id))


def effective_key(model_id: str) -> str:
    """The key of the model's sorted set of versions by effective date."""
    return MODEL_EFFECTIVE.format(model_id=checked_part(model_id))


def top_key(model_id: str, fmt: str) -> str:
    """The key of the model's top version (by effective date, then version) in format ``fmt``."""
    return MODEL_TOP.format(model_id=checked_part(model_id), fmt=checked_part(fmt))


def meta_key(model_id: str, version: int) -> str:
    """The key of one version's metadata hash."""
    return MODEL_META.format(model_id=checked_part(model_id), version=version)


def body_key(model_id: str, version: int, fmt: str) -> str:
    """The key of one version's body in format ``fmt``."""
    return MODEL_BODY.format(
        model_id=checked_part(model_id), version=version, fmt=checked_part(fmt)
    )


def body_key_around_version(model_id: str, fmt: str) -> tuple[str, str]:
    """The text before and after the version in :func:`body_key` (for server-side scripts)."""
    head = MODEL_VERSION_STEM.format(model_id=checked_part(model_id))
    return head, BODY_LEAF.format(fmt=checked_part(fmt))


def document_key(name: str) -> str:
    """The key of the whole document ``name``."""
    return DOCUMENT.format(name=checked_part(name))


def api_key_key(digest: str) -> str:
    """The key of the record of the API key whose secret has the sha256 hex ``digest``."""
    return API_KEY.format(digest=checked_part(digest))


def requests_key(digest: str, window: int) -> str:
    """The key counting the requests of the API key ``digest`` in rate-limit window ``window``."""
    return REQUESTS.format(digest=checked_part(digest), window=window)
