"""Benchmark of account trade lists: the engine on a batch, and the single-account endpoint.

Run from the project's root, with ``wrk`` installed (``apt-get install wrk``) and a Redis
server (default the machine's, database 11)::

    .venv/bin/python scripts/bench_trades.py [--accounts N] [--holdings N] [--positions N]
                                             [--workers N] [--seconds S] [--rounds R]

Section 1 times ``service.engine.trades.rebalance_many`` on a batch of random accounts (default
1,000 accounts of 50 holdings of the sample's ETFs, whole shares, against a 40-position model)
and prints the total and the time per account; the issue asks for under 1 s in all.

Section 2 serves the real app under gunicorn (SQLite ledger, a 40-position model) and loads
``POST /v1/models/{id}/accounts/trades`` (one account of 50 holdings) and, as its reference,
``GET /v1/models/{id}/weights``, alternately with the same wrk command, and prints both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench_api import MODEL, seed, start, wrk  # noqa: E402

from service.engine.sample import sample_data  # noqa: E402
from service.engine.trades import TradeOptions, rebalance_many  # noqa: E402

PORT = 8703


def market(positions: int, seed_: int = 7):
    """Latest closes of the sample's ETFs and a random model of ``positions`` of them."""
    closes = sample_data().latest_closes()
    rng = np.random.default_rng(seed_)
    tickers = sorted(rng.choice(closes.index, size=positions, replace=False))
    weights = rng.dirichlet(np.ones(positions))
    return closes.to_dict(), {t: float(w) for t, w in zip(tickers, weights, strict=True)}


def random_accounts(closes: dict, count: int, holdings: int, seed_: int = 11) -> list[dict]:
    rng = np.random.default_rng(seed_)
    tickers = sorted(closes)
    accounts = []
    for _ in range(count):
        held = rng.choice(tickers, size=holdings, replace=False)
        accounts.append(
            {
                "holdings": [
                    {"ticker": str(t), "quantity": float(rng.integers(0, 2_000))} for t in held
                ],
                "cash": float(rng.uniform(0, 100_000)),
            }
        )
    return accounts


def engine_section(args) -> None:
    closes, model = market(args.positions)
    accounts = random_accounts(closes, args.accounts, args.holdings)
    options = TradeOptions(fractional=False)
    runs = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        results = rebalance_many(accounts, closes, model, options, known=closes)
        runs.append(time.perf_counter() - started)
    trades = sum(len(result.trades) for result in results)
    best, median = min(runs), statistics.median(runs)
    print(
        f"engine: {args.accounts} accounts x {args.holdings} holdings, "
        f"{args.positions}-position model, whole shares ({trades} trades)"
    )
    print(
        f"  total {median:.3f} s median, {best:.3f} s best of {args.repeats}; "
        f"{median / args.accounts * 1e3:.3f} ms per account"
    )


def http_section(args) -> None:
    closes, model = market(args.positions)
    account = random_accounts(closes, 1, args.holdings)[0]
    redis.Redis.from_url(args.redis_url).flushdb()
    var_dir = tempfile.mkdtemp(prefix="bench-trades-")
    key = seed(var_dir, args.redis_url, weights=model, scopes=("models:read", "trades:write"))
    env = {**os.environ, "PLUSALPHA_VAR_DIR": var_dir, "REDIS_URL": args.redis_url}
    env.pop("DATABASE_URL", None)
    base = f"http://127.0.0.1:{PORT}/v1/models/{MODEL}"
    script = Path(var_dir) / "post.lua"
    body = json.dumps({**account, "prices": {}, "options": {}})
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    server = start("service.app:create_app()", PORT, args.workers, env)
    runs = {"weights": [], "trades": []}
    try:
        check = requests.post(
            f"{base}/accounts/trades",
            data=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            timeout=30,
        )
        check.raise_for_status()
        for _ in range(args.rounds):
            runs["weights"].append(wrk(f"{base}/weights", key, args.seconds, args.connections))
            runs["trades"].append(
                wrk(f"{base}/accounts/trades", key, args.seconds, args.connections, str(script))
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(var_dir, ignore_errors=True)
    print(
        f"http: gunicorn, {args.workers} sync workers; wrk -t2 -c{args.connections} "
        f"-d{args.seconds}s; median of {args.rounds} alternating rounds"
    )
    print(f"  {'':44} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    labels = {
        "weights": "GET /v1/models/{id}/weights",
        "trades": f"POST .../accounts/trades ({args.holdings} holdings)",
    }
    for name, results in runs.items():
        m = {field: statistics.median(run[field] for run in results) for field in results[0]}
        print(f"  {labels[name]:44} {m['rps']:8.0f} {m['p50']:8.2f} {m['p99']:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--holdings", type=int, default=50)
    parser.add_argument("--positions", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    engine_section(args)
    if not args.skip_http:
        if shutil.which("wrk") is None:
            sys.exit("wrk is missing: apt-get install wrk")
        http_section(args)


if __name__ == "__main__":
    main()
