"""Webhook delivery at scale: 1,000 subscriptions, one new version of each of the nine models,
9,000 deliveries; the time until the last has arrived, with 1 and then 2 worker processes.

Run from the project's root (the virtualenv needs the test extra: this imports helpers of
``tests/`` and of ``bench_soak.py``)::

    .venv/bin/python scripts/bench_webhooks.py [--subscriptions N] [--workers 1,2]
        [--database-url URL [--empty-database]]

Everything runs on loopback: a ``redis-server`` of its own, the ledger at ``--database-url``
(default a SQLite file in a temporary directory; a PostgreSQL database must be empty, or be
emptied with ``--empty-database``), a receiver (``tests/receiver.py``, a threaded
``http.server``) that answers 200 to every POST, and ``plusalpha worker`` processes, as
production runs them (the dispatcher process, RQ jobs in work horses), with
``PLUSALPHA_WEBHOOK_ALLOW_PRIVATE=true`` so that they may post to loopback.

The ledger gets the model definitions, a key and ``--subscriptions`` subscriptions to every
model; a first ``plusalpha worker --once`` on a data directory of three months leaves nothing due,
so the workers' monthly run at start adds nothing. Then, for each count of ``--workers``, the
workers are started, and one new version of each model is recorded in the ledger (as a push
would: the version and its event in one transaction); the time runs from the last commit to the
last delivery's arrival at the receiver. Every delivery is checked: its signature verifies with
``standardwebhooks`` and every (subscription, version) arrived. It exits with 1 when one is
missing or does not verify.

Every process it started is stopped on the way out, after Ctrl-C or a failure too.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import redis
from rq import Worker

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench_soak import RedisServer, check_empty_ledger, stop  # noqa: E402

from service.config import VARIABLES  # noqa: E402
from service.engine.data import MarketData, write_data  # noqa: E402
from service.engine.models import MODELS  # noqa: E402
from service.engine.performance import truncate  # noqa: E402
from service.engine.sample import sample_data  # noqa: E402
from service.ledger import add_rebalance, create_key  # noqa: E402
from service.ledger.webhooks import create_subscription  # noqa: E402
from service.worker.handles import handles  # noqa: E402
from tests.live import free_port  # noqa: E402
from tests.receiver import receiving  # noqa: E402

TIMEOUT = 600
"""Seconds to wait for the deliveries of one round before giving up."""
WEIGHTS = {"AGG": 0.5, "LQD": 0.5}


def tiny_data(directory: Path) -> str:
    """A data directory of the real-ticker sample through March 2016 (three rebalances)."""
    sample = sample_data()
    keep = sample.securities.index[~sample.securities["name"].str.startswith("Synthetic")]
    data = truncate(
        MarketData(sample.securities.loc[keep], sample.prices[keep], sample.metadata),
        pd.Period("2016-03", "M"),
    )
    live = data.prices.columns[data.prices.notna().any()]
    write_data(MarketData(data.securities.loc[live], data.prices[live], data.metadata), directory)
    return str(directory)


def environment(settings: dict[str, str]) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    return env | settings


def plusalpha(args: list[str], settings: dict[str, str], log) -> subprocess.Popen:
    command = Path(sys.executable).with_name("plusalpha")
    return subprocess.Popen(
        [str(command), *args], env=environment(settings), stdout=log, stderr=subprocess.STDOUT
    )


def subscribe(settings: dict[str, str], count: int, receiver) -> dict[str, str]:
    """``count`` subscriptions to every model, made in the ledger; their secrets by path."""
    h = handles(ledger_settings(settings))
    secrets = {}
    with h.sessions() as session:
        key, _ = create_key(session, name="bench", tenant="bench", scopes=["webhooks:write"])
        for i in range(count):
            path = f"/hook/{i}"
            subscription = create_subscription(
                session, key, url=receiver.url(path), events=["model.rebalanced"],
                models=None, description="bench",
            )  # fmt: skip
            secrets[path] = subscription.secret
        session.commit()
    return secrets


def ledger_settings(settings: dict[str, str]) -> dict:
    return {
        "VAR_DIR": settings["PLUSALPHA_VAR_DIR"],
        "DATABASE_URL": settings["DATABASE_URL"],
        "REDIS_URL": settings["REDIS_URL"],
        "DATA_DIR": settings["PLUSALPHA_DATA_DIR"],
    }


def record_versions(settings: dict[str, str], day: int) -> list[tuple[str, int]]:
    """One new version of each model, a transaction each; ``(model_id, version)``."""
    h = handles(ledger_settings(settings))
    recorded = []
    with h.sessions() as session:
        for model_id in sorted(MODELS):
            effective = pd.Timestamp("2030-01-01").date() + pd.Timedelta(days=day)
            row = add_rebalance(
                session, model_id, as_of=effective, effective_date=effective,
                weights=WEIGHTS, source="push",
            )  # fmt: skip
            session.commit()
            recorded.append((model_id, row.version))
    return recorded


def wait_for_workers(url: str, count: int) -> None:
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 120
    while len(Worker.all(connection=client)) < count:
        if time.monotonic() > deadline:
            sys.exit(f"{count} workers did not start")
        time.sleep(0.2)
    time.sleep(2)  # their monthly run at start, which finds nothing due


def check(receiver, start: int, secrets: dict[str, str], recorded) -> list[str]:
    """What is wrong with the round's deliveries (nothing: an empty list)."""
    from standardwebhooks.webhooks import Webhook

    problems, seen = [], set()
    for received in receiver.requests[start:]:
        payload = Webhook(secrets[received.path]).verify(received.body, received.headers)
        seen.add((received.path, payload["data"]["model_id"], payload["data"]["version"]))
    missing = {(p, m, v) for p in secrets for m, v in recorded} - seen
    if missing:
        problems.append(f"{len(missing)} deliveries missing, e.g. {sorted(missing)[0]}")
    return problems


def run_round(settings, workers: int, receiver, secrets, day: int, log) -> float:
    """Start ``workers`` workers, record the versions, wait for every delivery; seconds."""
    processes = [plusalpha(["worker"], settings, log) for _ in range(workers)]
    try:
        wait_for_workers(settings["REDIS_URL"], workers)
        start = len(receiver.requests)
        recorded = record_versions(settings, day)
        began = time.monotonic()
        expected = start + len(secrets) * len(recorded)
        receiver.wait_for(expected, timeout=TIMEOUT)
        elapsed = max(r.at for r in receiver.requests[start:]) - began
        problems = check(receiver, start, secrets, recorded)
        if problems:
            sys.exit("; ".join(problems))
        return elapsed
    finally:
        for process in processes:
            stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--workers", default="1,2", help="worker counts, in turn (default 1,2)")
    parser.add_argument("--database-url", help="the ledger (default a SQLite file in a temp dir)")
    parser.add_argument(
        "--empty-database", action="store_true", help="drop the ledger's tables first"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        database_url = args.database_url or f"sqlite:///{root / 'ledger.db'}"
        if args.database_url:
            check_empty_ledger(database_url, args.empty_database)
        server = RedisServer(free_port(), root)
        server.start()
        settings = {
            "PLUSALPHA_VAR_DIR": str(root / "var"),
            "REDIS_URL": server.url,
            "DATABASE_URL": database_url,
            "PLUSALPHA_DATA_DIR": tiny_data(root / "data"),
            "PLUSALPHA_WEBHOOK_ALLOW_PRIVATE": "true",
        }
        try:
            with open(root / "worker.log", "wb") as log, receiving() as receiver:
                once = plusalpha(["worker", "--once"], settings, log)
                if once.wait() != 0:
                    sys.exit("plusalpha worker --once failed")
                secrets = subscribe(settings, args.subscriptions, receiver)
                counts = [int(c) for c in args.workers.split(",")]
                deliveries = args.subscriptions * len(MODELS)
                backend = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
                print(
                    f"{args.subscriptions} subscriptions x {len(MODELS)} new versions = "
                    f"{deliveries} deliveries; ledger {backend}; load average "
                    f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
                )
                figures = {}
                for day, workers in enumerate(counts):
                    seconds = run_round(settings, workers, receiver, secrets, day, log)
                    figures[workers] = seconds
                    print(
                        f"{workers} worker process(es): last delivery after {seconds:.1f} s "
                        f"({deliveries / seconds:.0f} a second), every signature verified"
                    )
                if len(figures) > 1:
                    first, *_, last = counts
                    print(f"{last} vs {first}: {figures[first] / figures[last]:.2f}x as fast")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
