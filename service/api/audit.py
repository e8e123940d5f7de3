"""The audit of reads and keys' last use, gathered in memory and written to the ledger in bulk.

A read of weights must not wait for a database write, so the API only counts it in this process's
:class:`AuditBuffer`, per key, model, version and second; one background thread per process
writes every buffer's counts (one ``read_weights`` audit row per key, model, version and second,
with its ``count``) in one bulk INSERT, and keys' ``last_used_at`` in one bulk UPDATE, at least
every :data:`FLUSH_INTERVAL_SECONDS`, sooner once :data:`FLUSH_ROWS` rows are waiting, and once
more when the process exits normally (gunicorn's graceful stop included). A write that fails
keeps its rows for the next flush, up to :data:`MAX_PENDING`.

What a buffer cannot survive is the process being killed: up to about a second of reads is then
lost. Pushes and key changes are not buffered: they are audited in their own transaction.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable
from datetime import UTC, datetime

from flask import current_app

from .metrics import AUDIT_FLUSH_FAILURES

FLUSH_INTERVAL_SECONDS = 1.0
FLUSH_ROWS = 500
MAX_PENDING = 100_000
EXTENSION = "plusalpha.audit"

log = logging.getLogger(__name__)


class AuditBuffer:
    """Read events and keys' last use, waiting to be written to the ledger.

    Parameters
    ----------
    open_sessions : Callable
        Returns the ledger's session factory (opened on first use).
    """

    def __init__(self, open_sessions: Callable[[], Callable]) -> None:
        self._open_sessions = open_sessions
        self._lock = threading.Lock()
        self._reads: dict[tuple[str, str, int, datetime], int] = {}
        self._last_used: dict[str, datetime] = {}
        BUFFERS.add(self)

    def record_read(self, key_id: str, model_id: str, version: int) -> None:
        """Count a read of ``version`` of ``model_id`` by ``key_id`` now."""
        second = datetime.now(UTC).replace(microsecond=0)
        read = (key_id, model_id, version, second)
        with self._lock:
            self._reads[read] = self._reads.get(read, 0) + 1
            waiting = len(self._reads)
        start_flusher()
        if waiting >= FLUSH_ROWS:
            FLUSHER_WAKE.set()

    def touch(self, key_id: str) -> None:
        """Note that ``key_id`` was used now."""
        with self._lock:
            self._last_used[key_id] = datetime.now(UTC)
        start_flusher()

    def flush(self) -> int:
        """Write what is waiting in one transaction; the number of reads written.

        On failure what was taken is put back for the next flush (the oldest rows beyond
        :data:`MAX_PENDING` are dropped, with an error logged) and the error is raised.
        """
        with self._lock:
            reads, self._reads = self._reads, {}
            last_used, self._last_used = self._last_used, {}
        if not reads and not last_used:
            return 0
        events = [
            {
                "at": at,
                "action": "read_weights",
                "key_id": key_id,
                "model_id": model_id,
                "version": version,
                "count": count,
            }
            for (key_id, model_id, version, at), count in reads.items()
        ]
        from ..ledger import add_audit_events, touch_keys

        try:
            with self._open_sessions()() as session:
                add_audit_events(session, events)
                touch_keys(session, last_used)
                session.commit()
        except Exception:
            self._restore(reads, last_used)
            raise
        return sum(reads.values())

    def _restore(self, reads: dict, last_used: dict[str, datetime]) -> None:
        with self._lock:
            for read, count in reads.items():
                self._reads[read] = self._reads.get(read, 0) + count
            excess = len(self._reads) - MAX_PENDING
            if excess > 0:
                for read in sorted(self._reads, key=lambda read: read[3])[:excess]:
                    del self._reads[read]
                log.error("audit buffer full: dropped the %d oldest read rows", excess)
            for key_id, at in last_used.items():
                self._last_used[key_id] = max(at, self._last_used.get(key_id, at))


BUFFERS: weakref.WeakSet[AuditBuffer] = weakref.WeakSet()
FLUSHER_WAKE = threading.Event()
_flusher_pid: int | None = None
_flusher_lock = threading.Lock()


def flush_buffers() -> None:
    """Flush every live buffer of this process, logging (not raising) failures."""
    for buffer in list(BUFFERS):
        try:
            buffer.flush()
        except Exception:
            AUDIT_FLUSH_FAILURES.inc()
            log.exception("audit events not written yet; kept for the next flush")


def start_flusher() -> None:
    """Start this process's flusher thread unless it runs (a forked worker starts its own)."""
    global _flusher_pid
    if _flusher_pid == os.getpid():
        return
    with _flusher_lock:
        if _flusher_pid != os.getpid():
            _flusher_pid = os.getpid()
            threading.Thread(target=run_flusher, name="audit-flusher", daemon=True).start()


def run_flusher() -> None:
    while True:
        FLUSHER_WAKE.wait(FLUSH_INTERVAL_SECONDS)
        FLUSHER_WAKE.clear()
        flush_buffers()


atexit.register(flush_buffers)


def init_app(app, open_sessions: Callable[[], Callable]) -> None:
    app.extensions[EXTENSION] = AuditBuffer(open_sessions)


def audit_buffer() -> AuditBuffer:
    """The current app's buffer."""
    return current_app.extensions[EXTENSION]
