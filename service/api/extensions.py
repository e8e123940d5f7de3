"""Extension singletons and per-request handles. Imports nothing else of ours.

The app factory installs openers of the ledger's session factory and of the Redis client;
each is opened on first use (so commands that need neither never touch them). Views reach
them through ``get_session()`` (one session per request, closed at teardown) and
``get_redis()``, the shape of flaskr's ``get_db``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask, current_app, g

LEDGER = "plusalpha.ledger_sessions"
REDIS = "plusalpha.redis"


class Lazy:
    """A value opened on first use, once, whichever thread asks first."""

    def __init__(self, opener: Callable[[], object]) -> None:
        self._opener = opener
        self._value = None
        self._lock = threading.Lock()

    def get(self):
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._opener()
        return self._value


def get_session():
    """The ledger session of this request."""
    if "ledger_session" not in g:
        g.ledger_session = current_app.extensions[LEDGER].get()()
    return g.ledger_session


def get_redis():
    """The Redis client of this app."""
    return current_app.extensions[REDIS].get()


def close_session(_exception: BaseException | None = None) -> None:
    """Close the request's session: roll back what it did not commit, release its connection.

    A connection the database dropped cannot roll back (the database undid the transaction
    when it lost the connection): it is invalidated instead, so that the pool opens a new one
    and the request's answer (a 503, see :mod:`service.api.errors`) stands.
    """
    session = g.pop("ledger_session", None)
    if session is None:
        return
    from sqlalchemy.exc import SQLAlchemyError

    try:
        session.close()
    except SQLAlchemyError:
        session.invalidate()


def init_app(app: Flask, open_sessions: Callable[[], object], open_redis: Callable[[], object]):
    """Install the openers of the ledger session factory and of the Redis client."""
    app.extensions[LEDGER] = Lazy(open_sessions)
    app.extensions[REDIS] = Lazy(open_redis)
    app.teardown_appcontext(close_session)
