"""Benchmark of the fact sheets: rendering them, and reading the cached ones next to the weights.

Run from the project's root, with ``wrk`` installed (``apt-get install wrk``) and
``redis-server`` on the PATH (the benchmark starts its own, keeping nothing on disk)::

    .venv/bin/python scripts/bench_factsheets.py [--workers N] [--seconds S] [--rounds R]
                                                 [--connections C]

On the sample data it prints:

* the time to render one fact sheet (agg-plus-baseline, its figures computed) as HTML and as
  PDF, each the median of three renders after a first one (which imports matplotlib and
  WeasyPrint);
* the time the worker takes, after the backtests (not timed here: ``scripts/bench_engine.py``),
  to publish all of them: the table of every month (what an as-of choice reads) and every fact
  sheet rendered (two HTML pages and a PDF each);
* the requests per second of the cached fact sheet HTML, under the API (with a key) and on the
  public site, next to ``GET /v1/models/{id}/weights`` in the same run: gunicorn with the same
  sync workers, the same wrk command, alternating for ``--rounds`` rounds (medians).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_api import seed, start, wrk  # noqa: E402

MODEL = "agg-plus-baseline"


def timed(function, repeat: int = 3) -> float:
    """The median time of ``repeat`` calls, after one call that is not counted."""
    function()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def render_times() -> tuple[dict[str, float], dict[str, bytes]]:
    """Render one fact sheet, then what the worker renders of every model."""
    from service.engine.backtest import run_backtests
    from service.engine.performance import assemble_table, last_complete_month, truncate
    from service.engine.sample import sample_data
    from service.factsheets.build import figures_from_rows, render
    from service.worker.jobs import json_rows, performance_bodies

    data = sample_data()
    print("backtesting the nine models on the sample data (not timed) ...", flush=True)
    backtests = run_backtests(data)
    as_of = last_complete_month(data)
    rows = json_rows(assemble_table(truncate(data, as_of), backtests, as_of))
    backtest = backtests[MODEL]
    figures = figures_from_rows(
        data, MODEL, backtest.returns, backtest.rebalances[-1].weights, rows, as_of
    )
    times = {
        "html": timed(lambda: render(figures, "html")),
        "pdf": timed(lambda: render(figures, "pdf")),
    }
    started = time.perf_counter()
    bodies = performance_bodies(data, backtests)
    times["all"] = time.perf_counter() - started
    times["models"] = len(backtests)
    return times, bodies


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server(directory: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", directory]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            return process, url
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    sys.exit("redis-server did not start")


def serve_times(bodies: dict[str, bytes], args) -> dict[str, float]:
    from service.worker.jobs import store_documents

    var_dir = tempfile.mkdtemp(prefix="bench-factsheets-")
    redis_process, url = redis_server(var_dir)
    servers = []
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    urls = {
        "weights": f"{base}/v1/models/{MODEL}/weights",
        "api": f"{base}/v1/models/{MODEL}/factsheet",
        "site": f"{base}/models/{MODEL}",
    }
    runs = {name: [] for name in urls}
    try:
        key = seed(var_dir, url, scopes=("models:read", "performance:read"))
        store_documents(redis.Redis.from_url(url), bodies)
        env = {**os.environ, "PLUSALPHA_VAR_DIR": var_dir, "REDIS_URL": url}
        env.pop("DATABASE_URL", None)
        servers.append(start("service.app:create_app()", port, args.workers, env))
        for _ in range(args.rounds):
            for name, target in urls.items():
                runs[name].append(wrk(target, key, args.seconds, args.connections))
    finally:
        for process in servers:
            process.terminate()
            process.wait(timeout=30)
        redis_process.kill()
        shutil.rmtree(var_dir, ignore_errors=True)
    return {name: statistics.median(r["rps"] for r in results) for name, results in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    for tool in ("wrk", "redis-server"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing")
    times, bodies = render_times()
    print(f"one fact sheet ({MODEL}): HTML {times['html']:.2f} s, PDF {times['pdf']:.2f} s")
    print(
        f"the worker, all {times['models']} models (every month's table, every fact sheet): "
        f"{times['all']:.1f} s"
    )
    rps = serve_times(bodies, args)
    print(
        f"gunicorn, {args.workers} sync workers; wrk -t2 -c{args.connections} -d{args.seconds}s;"
        f" median of {args.rounds} alternating rounds"
    )
    labels = {
        "weights": "GET /v1/models/{id}/weights",
        "api": "GET /v1/models/{id}/factsheet (cached)",
        "site": "GET /models/{id} (public, cached)",
    }
    for name, label in labels.items():
        ratio = "" if name == "weights" else f"  {rps[name] / rps['weights']:.2f}x of weights"
        print(f"{label:40} {rps[name]:8.0f} req/s{ratio}")


if __name__ == "__main__":
    main()
