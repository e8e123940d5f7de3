"""Outage messages once per interval, not once per request or per second.

While Redis or the ledger is down every request logs why it fell back or answered 503: at a
few hundred requests a second that buries the log (and fills the disk) with one line; and the
audit's flusher logs its failure, with a traceback, every second. The :class:`OncePerInterval`
filter lets the first message of each kind through, drops the repeats for
:data:`INTERVAL_SECONDS`, and says how many it dropped in the next one it lets through.
"""

from __future__ import annotations

import logging
import threading
import time

INTERVAL_SECONDS = 10.0
AUDIT = "service.api.audit"
"""The audit flusher's logger (``service.api.audit``)."""


class OncePerInterval(logging.Filter):
    """Drop a message up to ``level`` whose template was logged in the last ``interval``
    seconds; more severe ones always pass."""

    def __init__(self, interval: float = INTERVAL_SECONDS, level: int = logging.WARNING):
        super().__init__()
        self.interval = interval
        self.level = level
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, int]] = {}  # template -> (time let through, dropped)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > self.level:
            return True
        now = time.monotonic()
        template = str(record.msg)
        with self._lock:
            shown, dropped = self._last.get(template, (-self.interval, 0))
            if now - shown < self.interval:
                self._last[template] = (shown, dropped + 1)
                return False
            self._last[template] = (now, 0)
        if dropped:
            record.msg = f"{template} ({dropped} more like it in the last {self.interval:g} s)"
        return True


def init_app(app) -> None:
    """Quiet the repeats of the app's warnings (``current_app.logger``, which every outage
    warning of a request goes through; its errors, the unexpected ones, all pass) and of the
    audit flusher's messages. The loggers are the process's, shared by every app made in it:
    each gets one filter."""
    for logger, level in ((app.logger, logging.WARNING), (logging.getLogger(AUDIT), logging.ERROR)):
        if not any(isinstance(f, OncePerInterval) for f in logger.filters):
            logger.addFilter(OncePerInterval(level=level))
