"""The RQ worker of ``plusalpha worker``, kept working through a Redis outage.

RQ's worker waits for Redis only while it waits for a job. It raises when Redis is down as it
starts (it names its connection and registers itself first), and it quits when Redis fails
anywhere else (a reply that timed out, a heartbeat or the bookkeeping around a job). Its
process would then exit, and the webhook dispatcher beside it with it, leaving every event of
the outbox undelivered until someone restarts it. :func:`work` starts another RQ worker
instead, once Redis answers, until one is asked to stop.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable

from redis.exceptions import RedisError
from rq import Queue

from ..cache import ping
from .figures import MeasuredWorker
from .handles import QUEUE, Handles

RECONNECT_SECONDS = 1.0
"""How often a worker waiting for Redis tries it, and the pause before a worker starts again."""

log = logging.getLogger(__name__)


class Worker(MeasuredWorker):
    """The measured RQ worker, remembering that it was asked to stop (SIGTERM, SIGINT)."""

    stop_requested = False

    def handle_warm_shutdown_request(self) -> None:
        self.stop_requested = True
        super().handle_warm_shutdown_request()


def work(h: Handles, first: Callable | None = None) -> None:
    """Run RQ workers with the scheduler on :data:`QUEUE`, one after the other, until one is
    asked to stop; ``first`` is queued once, when Redis first answers.

    Each starts once Redis answers; one that ends without being asked to stop (Redis failed
    it) is followed by another. Between two, the one that ended leaves its command channel
    (RQ does not when Redis fails it as it ends, and the channel's thread would reconnect and
    read for ever) and RQ's signal handlers are dropped, so that a SIGTERM there stops the
    process rather than the worker that has already ended.
    """
    while True:
        wait_for_redis(h)
        worker, ended = None, "it quit"
        try:
            queue = Queue(QUEUE, connection=h.redis)
            worker = Worker([queue], connection=h.redis)
            if first is not None:
                queue.enqueue(first)
                first = None
            worker.work(with_scheduler=True)
        except RedisError as error:
            ended = f"redis failed it: {type(error).__name__}"
        finally:
            if worker is not None:
                worker.unsubscribe()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if worker is not None and worker.stop_requested:
            return
        log.warning("the RQ worker ended unasked (%s): another starts once redis answers", ended)
        time.sleep(RECONNECT_SECONDS)


def wait_for_redis(h: Handles) -> None:
    """Return once Redis answers a PING; one log line if it does not at first."""
    if ping(h.redis):
        return
    log.warning("redis unavailable: the worker waits for it, trying every %g s", RECONNECT_SECONDS)
    while not ping(h.redis):
        time.sleep(RECONNECT_SECONDS)
    log.warning("redis answers: the worker starts")
