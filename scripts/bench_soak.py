"""Soak run: minutes of mixed reads and pushes at a steady rate, with a Redis restart midway.

Run from the project's root (the virtualenv needs the test extra: this imports two helpers of
``tests/``)::

    .venv/bin/python scripts/bench_soak.py [--duration S] [--rate R] [--push-rate P]
        [--workers N] [--database-url URL [--empty-database]] [--outage S] [--threads T]

Why: the benchmarks of ``bench_api.py`` measure the read path at its peak for seconds; this one
checks what a deployment lives through for minutes. Everything runs on loopback:

* its own ``redis-server`` on a free port, keeping nothing on disk (``--save "" --appendonly
  no``), and ``gunicorn 'service.app:create_app()'`` (``bench_api.start``) on it and on the
  ledger at ``--database-url`` (default a SQLite file in a temporary directory; a PostgreSQL
  database must be empty, or be emptied with ``--empty-database``);
* the ledger is seeded with the model definitions, a first version of ``MODELS``, a reader key
  and a pusher key (scope ``rebalances:write``), and the cache with the performance documents
  of short backtests;
* requests are sent open loop: each is due at a fixed time (``--rate`` reads and
  ``--push-rate`` pushes a second) and handed to a pool of client threads then, however slowly
  the server answers, so a slow server meets the same load rather than a lighter one. Reads mix
  weights in every format, version lists, definitions, trades and performance; pushes add
  versions to ``PUSHED`` in turn, each with a fresh ``Idempotency-Key`` and an effective date a
  day after the model's previous push;
* at the middle of the run Redis is stopped (SIGTERM) and started again, empty, on the same port
  ``--outage`` seconds later; the performance documents (not in the ledger) are then published
  again, as ``plusalpha worker --once`` would.

It prints the requests, the rate achieved, the answers by status before, during and after the
outage (and connection errors), the p50 and p99 latency of all requests, of reads and of pushes
(counted from the time a request was due, so time spent waiting for a client thread counts),
the pushes answered 201 and how many of those versions the ledger holds afterwards (read with
the ledger's own functions), and whether each model's weights served at the end are the version
the ledger has in force. It exits with 1 when the ledger lacks a version answered 201, when any
5xx other than 503 was answered or a request got no answer (a connection error or a timeout),
or when the weights served at the end are not the ledger's.

Every process it started is stopped on the way out, after Ctrl-C or a failure too.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import redis
import requests
from sqlalchemy import inspect, make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench_api import start  # noqa: E402

from service.config import VARIABLES  # noqa: E402
from service.engine.backtest import run_backtests  # noqa: E402
from service.engine.performance import truncate  # noqa: E402
from service.engine.sample import sample_data  # noqa: E402
from service.ledger import (  # noqa: E402
    add_rebalance,
    create_key,
    get_definition,
    get_rebalance,
    latest_rebalance,
    list_rebalances,
    make_engine,
)
from service.publishing import publish, publish_definitions, security_labels  # noqa: E402
from service.worker.handles import handles  # noqa: E402
from service.worker.jobs import publish_performance  # noqa: E402
from tests.ledger.conftest import empty_postgres_database  # noqa: E402
from tests.live import free_port  # noqa: E402

STATIC = "agg-plus-baseline"
"""Read, never pushed to: its weights stay one cached version."""
PUSHED = ("agg-plus-ig", "hy-plus-baseline")
MODELS = (STATIC, *PUSHED)
FIRST_VERSION = (date(2024, 9, 30), date(2024, 10, 1), {"AGG": 0.4, "LQD": 0.3, "TLT": 0.3})
"""As-of date, effective date and weights of every model's seeded version."""
FIRST_PUSH = date(2024, 11, 1)
PERFORMANCE_AS_OF = "2017-12"
"""The sample is cut here for the backtests behind the performance documents (a few seconds)."""

FORMATS = ("json", "csv", "irebal", "orion")
READ_MIX = {
    # kind: (share of the reads, path; {model} is one of MODELS, {format} one of FORMATS)
    "weights": (0.60, "/v1/models/{model}/weights?format={format}"),
    "rebalances": (0.10, "/v1/models/{model}/rebalances?limit=10"),
    "model": (0.10, "/v1/models/{model}"),
    "trades": (0.10, "/v1/models/{model}/trades"),
    "performance": (0.05, "/v1/models/{model}/performance"),
    "performance table": (0.05, "/v1/performance"),
}
PUSH = "push"
KEYS = {
    "reader": ["models:read", "performance:read"],
    "pusher": ["rebalances:write"],
}
# RATE LIMIT: the soak keys' own limit, far above what the run sends, so none is refused.
SOAK_KEY_OPTIONS = {"rate_limit": 10**9}

TIMEOUT_SECONDS = 10
CONNECTION_ERROR = "connection error"
TIMEOUT = "timeout"
PHASES = ("before", "outage", "after")


# --- the servers ------------------------------------------------------------------------------


class RedisServer:
    """A ``redis-server`` of our own on ``port`` that keeps nothing on disk."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.directory = directory
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        command += ["--logfile", str(self.directory / "redis.log")]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        stop(self.process)
        self.process = None


def stop(process: subprocess.Popen | None) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def check_empty_ledger(url: str, empty_it: bool) -> None:
    """Drop the ledger's tables when asked; refuse a ledger that holds any."""
    if empty_it:
        empty_postgres_database(url)
    engine = make_engine(url)
    try:
        tables = inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if tables:
        shown = make_url(url).render_as_string(hide_password=True)
        sys.exit(
            f"the ledger at {shown} is not empty ({len(tables)} tables): give an empty database, "
            "or --empty-database to drop its tables first"
        )


@dataclass
class Seeded:
    keys: dict[str, str]
    republish_performance: Callable[[], object]


def seed(settings: dict) -> Seeded:
    """The first version of every model in ledger and cache, the keys, the performance documents.

    Returns the keys' secrets by role, and a function that publishes the performance documents
    again (after the Redis restart).
    """
    h = handles(settings)
    labels = security_labels(None)
    as_of, effective, weights = FIRST_VERSION
    with h.sessions() as session:
        publish_definitions(session)
        rows = [
            add_rebalance(
                session, m, as_of=as_of, effective_date=effective, weights=weights, source="worker"
            )
            for m in MODELS
        ]
        keys = {
            role: create_key(
                session, name=f"soak {role}", tenant="soak", scopes=scopes, **SOAK_KEY_OPTIONS
            )[1]
            for role, scopes in KEYS.items()
        }
        session.commit()
        for row in rows:
            publish(h.redis, get_definition(session, row.model_id), row, labels)
    short = truncate(sample_data(), pd.Period(PERFORMANCE_AS_OF, "M"))
    backtests = run_backtests(short, MODELS)
    publish_performance(h.redis, short, backtests)
    h.sessions.kw["bind"].dispose()
    return Seeded(keys, lambda: publish_performance(h.redis, short, backtests))


# --- the load ---------------------------------------------------------------------------------


@dataclass
class Result:
    kind: str
    due: float
    """Seconds from the start of the run."""
    lag: float
    """Seconds from ``due`` to the moment a client thread sent it."""
    status: int | str
    latency: float
    """Seconds from ``due`` to the whole answer."""


@dataclass
class Outage:
    down: float | None = None
    up: float | None = None


class Client:
    """Sends the requests of the run from a pool of threads and keeps every result."""

    def __init__(self, base: str, keys: dict[str, str], started: float) -> None:
        self.base = base
        self.headers = {role: {"Authorization": f"Bearer {s}"} for role, s in keys.items()}
        self.started = started
        self.due = 0
        self.results: list[Result] = []
        self.answered_201: list[dict] = []
        self.pushes = {model: 0 for model in PUSHED}
        self.push_locks = {model: threading.Lock() for model in PUSHED}
        self.local = threading.local()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def send(self, kind: str, due: float, target: str) -> None:
        sent = time.monotonic() - self.started
        try:
            if kind == PUSH:
                status = self.push(target)
            else:
                url = self.base + target
                status = (
                    self.session()
                    .get(url, headers=self.headers["reader"], timeout=TIMEOUT_SECONDS)
                    .status_code
                )
        except requests.Timeout:
            status = TIMEOUT
        except requests.ConnectionError:
            status = CONNECTION_ERROR
        except Exception as error:  # e.g. a 201 whose body is not JSON: counted, not lost
            status = f"client {type(error).__name__}"
        latency = time.monotonic() - self.started - due
        self.results.append(Result(kind, due, sent - due, status, latency))

    def push(self, model: str) -> int:
        """A new version of ``model``, a day after its previous push; one push a model at once
        (otherwise a push overtaken by the next would be refused as too early)."""
        with self.push_locks[model]:
            n = self.pushes[model]
            self.pushes[model] += 1
            share = 0.3 + (n % 41) / 100
            body = {
                "effective_date": (FIRST_PUSH + timedelta(days=n)).isoformat(),
                "weights": [
                    {"ticker": "AGG", "weight": share},
                    {"ticker": "LQD", "weight": 1 - share},
                ],
                "note": f"soak push {n}",
            }
            headers = {**self.headers["pusher"], "Idempotency-Key": uuid.uuid4().hex}
            response = self.session().post(
                f"{self.base}/v1/models/{model}/rebalances",
                json=body,
                headers=headers,
                timeout=TIMEOUT_SECONDS,
            )
            if response.status_code == 201:
                self.answered_201.append(response.json())
            return response.status_code


def schedule(duration: float, rate: float, push_rate: float, seed_: int = 5):
    """``(due, kind, target)`` of every request, in due order: reads every 1/rate s, pushes
    every 1/push_rate s (half a period in), each to the next model of PUSHED."""
    rng = random.Random(seed_)
    kinds = list(READ_MIX)
    shares = [share for share, _ in READ_MIX.values()]
    events = []
    for i in range(int(duration * rate)):
        kind = rng.choices(kinds, shares)[0]
        path = READ_MIX[kind][1].format(model=rng.choice(MODELS), format=rng.choice(FORMATS))
        events.append((i / rate, kind, path))
    for j in range(int(duration * push_rate)):
        events.append(((j + 0.5) / push_rate, PUSH, PUSHED[j % len(PUSHED)]))
    return sorted(events, key=lambda event: event[0])


def restart_redis(
    server: RedisServer,
    at: float,
    pause: float,
    started: float,
    stopping: threading.Event,
    outage: Outage,
    after,
) -> None:
    """At ``at`` s into the run: SIGTERM Redis, ``pause`` s later start it again (empty) and
    call ``after``; the outage ends when that returns."""
    if stopping.wait(max(0.0, started + at - time.monotonic())):
        return
    outage.down = time.monotonic() - started
    server.stop()
    if stopping.wait(pause):
        return
    server.start()
    after()
    outage.up = time.monotonic() - started


def run_load(client: Client, events, threads: int) -> None:
    """Hand each request to the pool at its due time (open loop)."""
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="soak")
    client.due = len(events)
    try:
        for due, kind, target in events:
            delay = client.started + due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(client.send, kind, due, target)
    except BaseException:  # Ctrl-C: drop what is not sent yet
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


# --- the report -------------------------------------------------------------------------------


def phase(result: Result, outage: Outage) -> str:
    if outage.down is None or result.due < outage.down:
        return "before"
    if outage.up is None or result.due < outage.up:
        return "outage"
    return "after"


def percentiles(seconds: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max, in ms."""
    if len(seconds) < 2:
        return (seconds * 3 or [float("nan")] * 3)[:3]
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return cuts[49] * 1e3, cuts[98] * 1e3, max(seconds) * 1e3


def status_order(status) -> tuple:
    return (0, status, "") if isinstance(status, int) else (1, 0, status)


def report(args, client: Client, outage: Outage, elapsed: float, ledger_label: str) -> list[str]:
    """Print the run's figures; the problems that fail it (5xx other than 503, no answer)."""
    results = client.results
    print(
        f"soak: {args.duration:.0f} s, {args.rate:g} reads/s + {args.push_rate:g} pushes/s open"
        f" loop ({args.threads} client threads); gunicorn {args.workers} sync workers;"
        f" ledger {ledger_label}; own redis-server; machine load average"
        f" {args.load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    if outage.down is not None:
        back = (
            f"started again (empty) and the performance documents published again by"
            f" {outage.up:.1f} s"
            if outage.up
            else "not started again"
        )
        print(f"redis: stopped (SIGTERM) at {outage.down:.1f} s, {back}")
    answered = [r for r in results if isinstance(r.status, int)]
    _, lag_p99, lag_max = percentiles([r.lag for r in results])
    print(
        f"requests: {client.due} due, {len(answered)} answered, "
        f"{len(answered) / elapsed:.1f} answered/s over {elapsed:.1f} s;"
        f" sent after their due time by {lag_p99:.1f} ms at p99, {lag_max:.1f} ms at most"
    )
    counts = Counter((r.status, phase(r, outage)) for r in results)
    print(f"{'status':18}" + "".join(f"{p:>9}" for p in (*PHASES, "total")))
    for status in sorted({s for s, _ in counts}, key=status_order):
        row = [counts[status, p] for p in PHASES]
        print(f"{status!s:18}" + "".join(f"{n:9d}" for n in (*row, sum(row))))
    failures = Counter(
        (r.kind, r.status, phase(r, outage))
        for r in results
        if not (isinstance(r.status, int) and r.status < 400)
    )
    for (kind, status, when), n in sorted(failures.items(), key=lambda f: -f[1]):
        print(f"  {status} {kind} ({when}): {n}")
    print(f"{'latency ms':18} {'answers':>9} {'p50':>8} {'p99':>8} {'max':>8}")
    groups = {"all": answered, "reads": [r for r in answered if r.kind != PUSH]}
    groups |= {f"  {kind}": [r for r in answered if r.kind == kind] for kind in READ_MIX}
    groups["pushes"] = [r for r in answered if r.kind == PUSH]
    for when in PHASES:
        groups[f"all, {when}"] = [r for r in answered if phase(r, outage) == when]
    for name, group in groups.items():
        if not group:
            continue
        p50, p99, most = percentiles([r.latency for r in group])
        print(f"{name:18} {len(group):9d} {p50:8.1f} {p99:8.1f} {most:8.1f}")
    return [
        f"{n} answers {status} to {kind} ({when})"
        for (kind, status, when), n in failures.items()
        if not isinstance(status, int) or (status >= 500 and status != 503)
    ]


def check_served(client: Client, settings: dict) -> list[str]:
    """Each model's weights as served now against the ledger's version in force."""
    h = handles(settings)
    problems, shown = [], []
    try:
        with h.sessions() as session:
            for model in MODELS:
                row = latest_rebalance(session, model, date.today())
                url = f"{client.base}/v1/models/{model}/weights"
                served = requests.get(url, headers=client.headers["reader"], timeout=30)
                document = served.json() if served.status_code == 200 else {}
                pair = document.get("version"), document.get("hash")
                if pair == (row.version, row.content_hash):
                    shown.append(f"{model} v{row.version}")
                else:
                    problems.append(
                        f"{model}: served {served.status_code} version {document.get('version')},"
                        f" the ledger has version {row.version} in force"
                    )
    finally:
        h.sessions.kw["bind"].dispose()
        h.redis.close()
    if not problems:
        print(f"weights served at the end = the ledger's in force: {', '.join(shown)}")
    return problems


def check_ledger(client: Client, settings: dict) -> list[str]:
    """Whether the ledger holds every version answered 201, with its hash."""
    h = handles(settings)
    try:
        with h.sessions() as session:
            held = sum(
                1
                for a in client.answered_201
                if (row := get_rebalance(session, a["model_id"], a["version"])) is not None
                and row.content_hash == a["hash"]
            )
            pushed = sum(
                row.source == "push"
                for model in PUSHED
                for row in list_rebalances(session, model, limit=None)
            )
    finally:
        h.sessions.kw["bind"].dispose()
        h.redis.close()
    answered = len(client.answered_201)
    print(
        f"pushes answered 201: {answered}; held by the ledger (same version and hash): {held}"
        f" (pushed versions in the ledger: {pushed})"
    )
    return (
        [] if held == answered else [f"the ledger holds {held} of {answered} pushes answered 201"]
    )


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds (default 300)")
    parser.add_argument("--rate", type=float, default=200, help="reads a second (default 200)")
    parser.add_argument("--push-rate", type=float, default=2, help="pushes a second (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--database-url", help="the ledger (default a SQLite file in a temp dir)")
    parser.add_argument(
        "--empty-database", action="store_true", help="drop every table of --database-url first"
    )
    parser.add_argument(
        "--outage",
        type=float,
        default=5,
        help="seconds Redis stays down, at the middle of the run (default 5)",
    )
    parser.add_argument("--threads", type=int, default=64, help="client threads (default 64)")
    args = parser.parse_args()
    args.load_before = os.getloadavg()[0]
    # A plain kill runs the clean-up below too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    work = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    database_url = args.database_url or f"sqlite:///{work / 'ledger.db'}"
    redis_server = RedisServer(free_port(), work)
    settings = {
        "VAR_DIR": str(work),
        "REDIS_URL": redis_server.url,
        "DATABASE_URL": database_url,
        "DATA_DIR": None,
    }
    env = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    env |= {
        "PLUSALPHA_VAR_DIR": str(work),
        "REDIS_URL": redis_server.url,
        "DATABASE_URL": database_url,
        "GUNICORN_CMD_ARGS": f"--error-logfile {work / 'gunicorn.log'}",
    }
    gunicorn = None
    stopping, outage = threading.Event(), Outage()
    restarter = None
    try:
        check_empty_ledger(database_url, args.empty_database)
        redis_server.start()
        seeded = seed(settings)
        port = free_port()
        gunicorn = start("service.app:create_app()", port, args.workers, env)
        events = schedule(args.duration, args.rate, args.push_rate)
        client = Client(f"http://127.0.0.1:{port}", seeded.keys, time.monotonic())
        restarter = threading.Thread(
            target=restart_redis,
            args=(
                redis_server,
                args.duration / 2,
                args.outage,
                client.started,
                stopping,
                outage,
                seeded.republish_performance,
            ),
            daemon=True,
        )
        restarter.start()
        run_load(client, events, args.threads)
        elapsed = time.monotonic() - client.started
        restarter.join()
        problems = report(args, client, outage, elapsed, make_url(database_url).get_backend_name())
        problems += check_served(client, settings)
        stop(gunicorn)
        problems += check_ledger(client, settings)
        if problems:
            print_log_errors(work / "gunicorn.log")
        print("FAILED: " + "; ".join(problems) if problems else "OK")
        sys.exit(1 if problems else 0)
    finally:
        stopping.set()
        if restarter is not None:
            restarter.join()
        stop(gunicorn)
        redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)


def print_log_errors(log: Path) -> None:
    """The commonest exception lines of gunicorn's error log, to say what failed."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    errors = Counter(
        line
        for line in lines
        if line and not line[0].isspace() and ("Error" in line or "Exception" in line)
    )
    for line, n in errors.most_common(10):
        print(f"  gunicorn log, {n}x: {line[:200]}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: every process it started is stopped")
