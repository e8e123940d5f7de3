"""The Redis serving cache: versioned model-portfolio bodies and whole documents.

Pure redis-py and the standard library: the API and the worker pass a client from
:func:`make_redis` to the functions of :mod:`service.cache.store`. The layout is in
:mod:`service.cache.keys`.
"""

from service.cache.connection import make_redis
from service.cache.store import (
    KeyRead,
    Window,
    count_request,
    current_version,
    flush_all,
    forget_api_key,
    get_document,
    has_documents,
    ping,
    publish_version,
    put_api_key,
    put_document,
    read_api_key,
    read_api_key_and_in_force,
    read_body,
    read_in_force,
    read_meta,
    version_in_force,
    versions,
)

__all__ = [
    "KeyRead",
    "Window",
    "count_request",
    "current_version",
    "flush_all",
    "forget_api_key",
    "get_document",
    "has_documents",
    "make_redis",
    "ping",
    "publish_version",
    "put_api_key",
    "put_document",
    "read_api_key",
    "read_api_key_and_in_force",
    "read_body",
    "read_in_force",
    "read_meta",
    "version_in_force",
    "versions",
]
