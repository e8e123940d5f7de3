"""Benchmark of the read path: ``GET /v1/models/{id}/weights`` against a bare Flask endpoint.

Run from the project's root, with ``wrk`` installed (``apt-get install wrk``) and a Redis
server (default the machine's, database 11)::

    .venv/bin/python scripts/bench_api.py [--workers N] [--seconds S] [--rounds R]
                                          [--connections C] [--redis-url URL] [--reference DIR]

Both servers are gunicorn with the same number of sync workers on loopback, on the same Redis,
loaded by the same wrk command (same connections, threads, duration and Authorization header):

* baseline: a bare Flask app whose one view returns one Redis value (the weights body);
* api: the real app serving the weights, with the key check, the licence check, the audit
  of the read and its metrics included, on a SQLite ledger.

The two alternate for ``--rounds`` rounds; the medians of requests per second and of the p50
and p99 latencies are printed with the ratio api / baseline. The ratio is with metrics on: at
the end the API's ``GET /metrics`` must have counted every weights read wrk made.

``--reference DIR``: another copy of the project (``git archive REF | tar -x -C DIR``) serves the
weights too, on the same ledger and Redis, in the same rounds: its ratio and the median of the
rounds' api / reference ratios say what a change costs the read, even on a busy machine where
two runs' ratios differ more than that.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_READS = (
    'plusalpha_http_requests_total{method="GET",route="/v1/models/{model_id}/weights",status="200"}'
)
"""The series of ``GET /metrics`` that counts the weights reads answered."""

MODEL = "agg-plus-baseline"
BARE_KEY = "pa:bench:bare"
WEIGHTS = {"AGG": 0.35, "LQD": 0.25, "TLT": 0.15, "HYG": 0.15, "SHY": 0.1}


def bare_app():
    """The baseline: one Flask view that returns one Redis value (gunicorn's entry point)."""
    from flask import Flask, Response

    app = Flask("bare")
    client = redis.Redis.from_url(os.environ["REDIS_URL"])

    @app.get("/bare")
    def bare():
        return Response(client.get(BARE_KEY), mimetype="application/json")

    return app


def seed(
    var_dir: str,
    redis_url: str,
    weights: dict[str, float] = WEIGHTS,
    scopes: tuple[str, ...] = ("models:read", "metrics:read"),
) -> str:
    """Publish one version of MODEL and create a key with ``scopes``; the key's secret."""
    # Imported here: gunicorn imports this module for bare_app, which must stay bare.
    sys.path.insert(0, str(ROOT))
    from service.api.extensions import get_redis, get_session
    from service.app import create_app
    from service.ledger import add_rebalance, create_key, get_definition
    from service.publishing import publish, publish_definitions, security_labels

    app = create_app({"VAR_DIR": var_dir, "REDIS_URL": redis_url, "DATABASE_URL": None})
    with app.app_context():
        session = get_session()
        publish_definitions(session)
        row = add_rebalance(
            session,
            MODEL,
            as_of=date(2024, 9, 30),
            effective_date=date(2024, 10, 1),
            weights=weights,
            source="worker",
        )
        # Its requests are counted against its rate limit, as every key's are, but its own limit
        # is far above what the benchmark sends, so none is refused.
        _, secret = create_key(
            session, name="bench", tenant="bench", scopes=list(scopes), rate_limit=10**9
        )
        session.commit()
        publish(get_redis(), get_definition(session, MODEL), row, security_labels(None))
    return secret


def start(app: str, port: int, workers: int, env: dict, root: Path = ROOT) -> subprocess.Popen:
    """gunicorn serving ``app`` from the project at ``root`` (its master's settings included)."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "--config", "python:service.api.gunicorn_conf"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    command += ["--chdir", str(root / "scripts"), "--pythonpath", str(root), app]
    # Started in ``root``: gunicorn puts its working directory first on the path before it
    # reads --chdir, so the master's settings and the app come from ``root``, not the install.
    process = subprocess.Popen(command, env=env, cwd=root, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/v1/health", timeout=10)
            return process
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    sys.exit(f"{app} did not start")


def wrk(
    url: str, key: str, seconds: int, connections: int, script: str | None = None
) -> dict[str, float]:
    """Requests per second and p50/p99 latency (ms) of one wrk run against ``url``.

    ``script``: a wrk Lua script (e.g. to POST a body).
    """
    command = ["wrk", "--latency", "-t2", f"-c{connections}", f"-d{seconds}s"]
    command += ["-s", script] if script else []
    command += ["-H", f"Authorization: Bearer {key}", url]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    if re.search(r"Non-2xx or 3xx responses", out):
        sys.exit(f"wrk saw error responses from {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    sent = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50": latency(out, "50%"), "p99": latency(out, "99%"), "sent": sent}


def weights_reads_counted(base: str, key: str) -> float:
    """The weights reads that the API's ``GET /metrics`` counted."""
    scraped = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=5)
    scraped.raise_for_status()
    line = next(line for line in scraped.text.splitlines() if line.startswith(WEIGHTS_READS))
    return float(line.rsplit(" ", 1)[1])


def latency(out: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)\b", out).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--reference", type=Path, help="another copy of the project to compare")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")
    redis.Redis.from_url(args.redis_url).flushdb()
    var_dir = tempfile.mkdtemp(prefix="bench-api-")
    key = seed(var_dir, args.redis_url)
    api_url = f"http://127.0.0.1:8701/v1/models/{MODEL}/weights"
    env = {**os.environ, "PLUSALPHA_VAR_DIR": var_dir, "REDIS_URL": args.redis_url}
    env.pop("DATABASE_URL", None)
    servers = []
    urls = {"baseline": "http://127.0.0.1:8702/bare", "api": api_url}
    if args.reference:
        urls["reference"] = api_url.replace(":8701", ":8703")
    runs = {name: [] for name in urls}

    def serve(app: str, port: int, root: Path = ROOT) -> None:
        # A metrics folder each: a gunicorn empties its folder when it starts.
        own = {**env, "PLUSALPHA_METRICS_DIR": os.path.join(var_dir, f"metrics-{port}")}
        servers.append(start(app, port, args.workers, own, root))

    try:
        serve("service.app:create_app()", 8701)
        served = requests.get(api_url, headers={"Authorization": f"Bearer {key}"}, timeout=5)
        served.raise_for_status()
        redis.Redis.from_url(args.redis_url).set(BARE_KEY, served.content)
        serve("bench_api:bare_app()", 8702)
        if args.reference:
            serve("service.app:create_app()", 8703, args.reference.resolve())
        for number in range(args.rounds):
            order = list(urls.items())
            for name, url in order if number % 2 == 0 else reversed(order):  # no one always first
                runs[name].append(wrk(url, key, args.seconds, args.connections))
        counted = weights_reads_counted("http://127.0.0.1:8701", key)
    finally:
        for process in servers:
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(var_dir, ignore_errors=True)
    report(runs, args)
    sent = 1 + sum(run["sent"] for run in runs["api"])  # and the read that filled BARE_KEY
    print(f"metrics on: GET /metrics counted {counted:.0f} weights reads of the {sent} sent")
    if counted < sent:  # more is fine: wrk does not count the answers in flight as it stops
        sys.exit("GET /metrics missed weights reads")


def report(runs: dict[str, list[dict[str, float]]], args) -> None:
    print(
        f"gunicorn, {args.workers} sync workers; wrk -t2 -c{args.connections} -d{args.seconds}s;"
        f" median of {args.rounds} alternating rounds"
    )
    medians = {
        name: {field: statistics.median(run[field] for run in results) for field in results[0]}
        for name, results in runs.items()
    }
    print(f"{'':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    labels = {
        "baseline": "bare Flask, one Redis GET",
        "api": "GET /v1/models/{id}/weights",
        "reference": "the same, --reference's code",
    }
    for name, m in medians.items():
        print(f"{labels[name]:34} {m['rps']:9.0f} {m['p50']:8.2f} {m['p99']:8.2f}")
    ratio = medians["api"]["rps"] / medians["baseline"]["rps"]
    print(f"ratio api / baseline (req/s), metrics on: {ratio:.3f}")
    if "reference" in runs:
        theirs = medians["reference"]["rps"] / medians["baseline"]["rps"]
        paired = statistics.median(
            a["rps"] / r["rps"] for a, r in zip(runs["api"], runs["reference"], strict=True)
        )
        print(f"ratio reference / baseline (req/s): {theirs:.3f}")
        print(f"api / reference, median of the rounds' ratios: {paired:.3f}")


if __name__ == "__main__":
    main()
