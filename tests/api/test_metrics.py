"""GET /metrics, as an operator's Prometheus scrapes it.

Through the test client on both backends of ``tests/api/conftest.py``: the key and its scope,
and each family after the traffic it counts (weights reads by route template, the fast path's
included; cache hits, misses and ledger fall-backs; 429s; audit flush failures; Redis and the
ledger up; the worker's runs and RQ jobs, and the queue). The figures of a process are shared by
every app it creates, so each test compares a scrape after its traffic with one before it.

Through a real gunicorn with two workers (``tests/live.py``) on a ``redis-server`` of the
test's own and a SQLite ledger: the figures add up across workers, a worker killed leaves its
counts in the sum, the folder of the metrics files is emptied when gunicorn starts, and with
Redis stopped the scrape still answers, saying Redis is down.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue
from sqlalchemy import text

from service.api.audit import flush_buffers
from service.api.extensions import LEDGER, get_redis, get_session
from service.api.metrics import with_fast_path
from service.app import create_app
from service.cache import flush_all
from service.config import MULTIPROCESS_VARIABLE, settings_from_env
from service.engine.data import write_data
from service.ledger import create_key, list_rebalances
from service.worker.figures import MeasuredWorker
from service.worker.handles import QUEUE, Handles
from service.worker.jobs import run_due, trade_batch
from tests.faults.conftest import private_redis  # noqa: F401 (a fixture: a redis-server of its own)
from tests.worker.test_jobs import through_as_of

from ..live import serve
from .conftest import bearer, close_app, seed

MODEL = "agg-plus-baseline"
WEIGHTS = f"/v1/models/{MODEL}/weights"
ROUTE = "/v1/models/{model_id}/weights"
PROBLEM = "application/problem+json"
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
FAMILIES = {
    "plusalpha_http_requests",
    "plusalpha_http_request_duration_seconds",
    "plusalpha_cache_reads",
    "plusalpha_ledger_fallbacks",
    "plusalpha_rate_limited_requests",
    "plusalpha_audit_flush_failures",
    "plusalpha_redis_up",
    "plusalpha_ledger_up",
    "plusalpha_worker_queue_length",
    "plusalpha_worker_versions_published",
    "plusalpha_worker_job_duration_seconds",
    "plusalpha_worker_job_failures",
}
"""The families a scrape always shows (the worker's last success only once a run succeeded)."""


class Scrape:
    """One answer of GET /metrics, parsed: ``scrape["name", labels...]`` is a sample's value."""

    def __init__(self, body: str) -> None:
        self.families = {f.name: f for f in text_string_to_metric_families(body)}
        self.index()

    @classmethod
    def of(cls, families) -> Scrape:
        scrape = cls.__new__(cls)
        scrape.families = {f.name: f for f in families}
        scrape.index()
        return scrape

    def index(self) -> None:
        self.samples = {
            (s.name, frozenset(s.labels.items())): s.value
            for family in self.families.values()
            for s in family.samples
        }

    def value(self, name: str, **labels) -> float:
        """The sample's value; 0 when absent (a counter nothing has counted yet)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def weights_reads(self, status: str = "200") -> float:
        return self.value("plusalpha_http_requests_total", method="GET", route=ROUTE, status=status)

    def label_values(self) -> set[str]:
        return {value for _, labels in self.samples for _, value in labels}


@pytest.fixture
def scraper(make_key):
    return bearer(make_key(scopes=["metrics:read"], name="prometheus"))


@pytest.fixture
def reader(make_key):
    return bearer(make_key(scopes=["models:read"]))


def scrape(client, key) -> Scrape:
    response = client.get("/metrics", headers=key)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == TEXT_FORMAT
    return Scrape(response.get_data(as_text=True))


def test_metrics_need_a_key_holding_metrics_read(client, reader, scraper):
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.content_type == PROBLEM
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="plusalpha"'
    refused = client.get("/metrics", headers=reader)
    assert refused.status_code == 403
    assert refused.content_type == PROBLEM
    assert "metrics:read" in refused.json["detail"]
    assert set(scrape(client, scraper).families) >= FAMILIES


def test_weights_reads_are_counted_by_route_template_fast_path_included(client, reader, scraper):
    assert client.get(WEIGHTS, headers=reader).status_code == 200  # the key is now cached
    before = scrape(client, scraper)
    for _ in range(3):  # the fast path's reads: no query, a cached key, cached weights
        assert client.get(WEIGHTS, headers=reader).status_code == 200
    assert client.get(f"{WEIGHTS}?as_of=2024-08-15", headers=reader).status_code == 200  # view
    assert client.get("/v1/models/no-such-model/weights", headers=reader).status_code == 404
    assert client.get(f"/v1/models/{MODEL}/nothing-here", headers=reader).status_code == 404
    after = scrape(client, scraper)

    assert after.weights_reads() - before.weights_reads() == 4
    assert after.weights_reads("404") - before.weights_reads("404") == 1
    duration = "plusalpha_http_request_duration_seconds_count"
    assert after.value(duration, method="GET", route=ROUTE) - before.value(
        duration, method="GET", route=ROUTE
    ) == pytest.approx(5)
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    total = "plusalpha_http_requests_total"
    assert after.value(total, **unmatched) - before.value(total, **unmatched) == 1
    reads = "plusalpha_cache_reads_total"

    def grown(item, result):
        return after.value(reads, item=item, result=result) - before.value(
            reads, item=item, result=result
        )

    assert grown("weights", "hit") == 4
    assert grown("weights", "miss") == 1  # the unknown model
    assert grown("api_key", "hit") == 6  # the four, the unknown model's and this scrape's
    assert not any(MODEL in value or "no-such-model" in value for value in after.label_values())
    assert after.value("plusalpha_redis_up") == 1
    assert after.value("plusalpha_ledger_up") == 1


def test_a_cache_miss_is_read_from_the_ledger_and_counted(api_app, client, reader, scraper):
    before = scrape(client, scraper)
    with api_app.app_context():
        flush_all(get_redis())  # the cache lost everything: keys and weights alike
    assert client.get(WEIGHTS, headers=reader).status_code == 200
    after = scrape(client, scraper)
    reads, fallbacks = "plusalpha_cache_reads_total", "plusalpha_ledger_fallbacks_total"
    for item in ("api_key", "weights"):
        missed = after.value(reads, item=item, result="miss") - before.value(
            reads, item=item, result="miss"
        )
        assert missed == 1 + (item == "api_key"), item  # the scraper's key was flushed too
        grown = after.value(fallbacks, item=item) - before.value(fallbacks, item=item)
        assert grown == 1 + (item == "api_key"), item


def test_rate_limited_requests_are_counted(client, make_key, scraper):
    limited = bearer(make_key(scopes=["models:read"], rate_limit=1))
    before = scrape(client, scraper)
    assert client.get(WEIGHTS, headers=limited).status_code == 200
    assert client.get(WEIGHTS, headers=limited).status_code == 429
    after = scrape(client, scraper)
    name = "plusalpha_rate_limited_requests_total"
    assert after.value(name) - before.value(name) == 1
    assert after.weights_reads("429") - before.weights_reads("429") == 1


def test_an_audit_flush_that_fails_is_counted(api_app, client, reader, scraper):
    before = scrape(client, scraper)
    with api_app.app_context():
        session = get_session()
        session.execute(text("ALTER TABLE audit_events RENAME TO audit_events_away"))
        session.commit()
    try:
        assert client.get(WEIGHTS, headers=reader).status_code == 200
        flush_buffers()  # what the flusher thread runs: the read's audit row cannot be written
    finally:
        with api_app.app_context():
            session = get_session()
            session.execute(text("ALTER TABLE audit_events_away RENAME TO audit_events"))
            session.commit()
    after = scrape(client, scraper)
    name = "plusalpha_audit_flush_failures_total"
    assert after.value(name) - before.value(name) >= 1  # the flusher thread may have tried too


def test_the_worker_s_runs_and_jobs_and_the_queue(api_app, client, scraper, small_sample, tmp_path):
    before = scrape(client, scraper)
    assert "plusalpha_worker_last_success_timestamp_seconds" not in before.families
    write_data(through_as_of(small_sample), tmp_path / "data")
    with api_app.app_context():
        redis = get_redis()
        h = Handles(api_app.extensions[LEDGER].get(), lambda: redis, str(tmp_path / "data"))
        run_due(h, ["active-ig-benchmark"])
        with h.sessions() as session:
            added = len(list_rebalances(session, "active-ig-benchmark", limit=None))
        queue = Queue(QUEUE, connection=redis)
        fine = ([{"holdings": [], "cash": 1000.0}], {"AGG": 100.0}, {}, frozenset({"AGG"}))
        queue.enqueue(trade_batch, MODEL, 3, {"AGG": 1.0}, *fine)
        queue.enqueue(trade_batch, MODEL, 3, {"AGG": 1.0}, ["not an account"], *fine[1:])
    queued = scrape(client, scraper)
    assert queued.value("plusalpha_worker_queue_length") == 2
    with api_app.app_context():
        MeasuredWorker([queue], connection=get_redis()).work(burst=True)
    after = scrape(client, scraper)

    assert added > 0
    published = "plusalpha_worker_versions_published_total"
    assert after.value(published) - before.value(published) == added
    assert after.value("plusalpha_worker_last_success_timestamp_seconds") > 0
    assert after.value("plusalpha_worker_queue_length") == 0
    jobs = "plusalpha_worker_job_duration_seconds_count"
    assert after.value(jobs, job="trade_batch") - before.value(jobs, job="trade_batch") == 2
    failures = "plusalpha_worker_job_failures_total"
    assert after.value(failures, job="trade_batch") - before.value(failures, job="trade_batch") == 1


# --- under gunicorn -----------------------------------------------------------------------------

READS = 40
CLIENTS = 8


def stale_figures(folder: Path) -> None:
    """Leave in ``folder`` the files of an earlier server that counted 1,000 weights reads."""
    count = (
        "from service.api.metrics import REQUESTS; "
        f"REQUESTS.labels('GET', '{ROUTE}', '200').inc(1000)"
    )
    env = {**os.environ, MULTIPROCESS_VARIABLE: str(folder)}
    subprocess.run([sys.executable, "-c", count], env=env, check=True)


def weights_reads_per_file(folder: Path) -> list[float]:
    """The weights reads each process's files hold (one process per gunicorn worker), shown as
    a scrape shows them."""
    pids = sorted({path.stem.rsplit("_", 1)[1] for path in folder.glob("*_*.db")})
    counts = []
    for pid in pids:
        files = [str(path) for path in folder.glob(f"*_{pid}.db")]
        families = with_fast_path(list(MultiProcessCollector.merge(files)), ROUTE)
        counts.append(Scrape.of(families).weights_reads())
    return counts


def test_under_gunicorn_the_workers_figures_add_up(tmp_path, private_redis):  # noqa: F811
    folder = tmp_path / "metrics"
    folder.mkdir()
    stale_figures(folder)
    assert weights_reads_per_file(folder) == [1000]
    (folder / "redis.db").write_text("not prometheus-client's: kept")
    environ = {
        "PLUSALPHA_VAR_DIR": str(tmp_path / "var"),
        "REDIS_URL": private_redis.url,
        "PLUSALPHA_METRICS_DIR": str(folder),
    }
    app = create_app(settings_from_env(environ))
    try:
        seed(app)
        with app.app_context():
            session = get_session()
            reader = create_key(session, name="r", tenant="t", scopes=["models:read"])[1]
            scraper = create_key(session, name="p", tenant="t", scopes=["metrics:read"])[1]
            session.commit()
    finally:
        close_app(app)

    def get(base, path, secret):
        response = requests.get(base + path, headers=bearer(secret), timeout=30)
        assert response.status_code == 200, response.text
        return response

    with serve(environ, workers=2) as base:
        assert (folder / "redis.db").read_text() == "not prometheus-client's: kept"
        (folder / "redis.db").unlink()  # a scrape reads every .db file of the folder
        assert Scrape(get(base, "/metrics", scraper).text).weights_reads() == 0  # wiped
        reads = 0
        with ThreadPoolExecutor(CLIENTS) as pool:
            # until both workers have answered some: on an idle machine one may take them all
            while reads < READS * 25 and len([c for c in weights_reads_per_file(folder) if c]) < 2:
                list(pool.map(lambda _: get(base, WEIGHTS, reader), range(READS)))
                reads += READS
        for _ in range(4):  # whichever worker answers, it adds up every worker's figures
            assert Scrape(get(base, "/metrics", scraper).text).weights_reads() == reads
        per_worker = [count for count in weights_reads_per_file(folder) if count]
        assert len(per_worker) == 2
        assert sum(per_worker) == reads

        worker = int(next(folder.glob("counter_*.db")).stem.split("_")[1])
        os.kill(worker, signal.SIGKILL)  # gunicorn starts another; the counts stay
        assert Scrape(get(base, "/metrics", scraper).text).weights_reads() == reads

        private_redis.kill()
        down = Scrape(get(base, "/metrics", scraper).text)
        assert down.value("plusalpha_redis_up") == 0
        assert down.value("plusalpha_ledger_up") == 1
        assert "plusalpha_worker_queue_length" not in down.families
