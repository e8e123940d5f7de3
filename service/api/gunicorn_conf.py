"""gunicorn's settings for the API: how long a request may take and how large its head may be,
and the hooks of the metrics' multiprocess mode.

Every way the service starts loads them (``--config python:service.api.gunicorn_conf``: the
Procfile, ``scripts/run``, ``tests/live.py`` and the benchmarks); the command line still sets
the address and the number of workers (``$PORT`` and ``$WEB_CONCURRENCY`` in the Procfile). The
body's size is the app's to limit (``PLUSALPHA_MAX_BODY_BYTES``, answered 413).

The hooks import what they need when they run: the master must not import ``prometheus_client``
before ``on_starting`` has named the metrics folder, nor anything gunicorn would read as a setting.
"""

from service.cache.embedded import ensure_server
from service.config import settings_from_env

timeout = 60
"""Seconds a sync worker may spend on one request before gunicorn kills it and starts another;
the client's connection is then closed without an answer. The longest legitimate request, a
batch of 100,000 accounts of 10 holdings (41 MB) queued as a job, takes about 15 s to validate."""

graceful_timeout = 30
"""Seconds a worker has to finish its request on a restart or a stop (SIGTERM)."""

keepalive = 5
"""Seconds an idle keep-alive connection is held open for the client's next request."""

limit_request_line = 8190
"""Bytes of the request line (method, path and query): longer is refused with 414."""

limit_request_fields = 100
limit_request_field_size = 8190
"""Headers per request, and bytes per header: more or longer is refused with 431."""


def on_starting(server) -> None:
    """Before any worker is forked: the metrics folder, the engine and the embedded Redis.

    The metrics folder is emptied and named to prometheus-client (``PROMETHEUS_MULTIPROC_DIR``)
    first, so that every worker counts in multiprocess mode and a scrape starts from this
    server's figures only (see :mod:`service.api.metrics`).

    The app imports the engine (pandas, numpy, scipy: seconds) only where a request needs it,
    so that the CLI starts at once, and the views import the ledger, the cache, RQ and the
    worker's modules (SQLAlchemy, redis-py, requests) only where a request needs them, so that
    ``plusalpha openapi`` does not; imported here, in the master, every worker is forked with
    them and no worker's first request waits for them.

    With no ``REDIS_URL``, the master starts the embedded Redis unless one already serves the
    var dir (``scripts/run`` starts it first): every worker then shares it, and the master stops
    the one it started when it exits.
    """
    from service.config import prepare_metrics_dir

    server.log.info("metrics files in %s", prepare_metrics_dir())
    import service.engine.trades  # noqa: F401
    import service.worker.jobs  # noqa: F401
    import service.worker.variants  # noqa: F401
    import service.worker.webhooks  # noqa: F401

    settings = settings_from_env()
    if settings["REDIS_URL"] is None:
        ensure_server(settings["VAR_DIR"])


def child_exit(server, worker):
    """A worker that exits leaves its counters to the sum, and its live gauges are dropped."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
