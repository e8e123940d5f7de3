"""Benchmark of start-up: the CLI's commands, against ``python -c "import flask"``.

Run from the project's root::

    .venv/bin/python scripts/bench_startup.py [--runs N]

Each command runs as a user runs it, a new process each time, on a fresh SQLite ledger in a
temporary var dir; the figures are the medians of the wall and the CPU time of ``--runs``
runs, with the baseline (the interpreter importing Flask, as the HTTP app does) timed in the
same run. The last
line times gunicorn with one worker, from its start to its first answer to ``GET /v1/health``
(its master imports the engine once, before it forks the workers: see
``service.api.gunicorn_conf``).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GOAL_SECONDS = 0.5


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``command``, which must succeed.

    The CPU time counts this command's process alone: on a machine shared with other work it
    moves far less than the wall time does.
    """
    cpu, start = children_cpu(), time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start, children_cpu() - cpu


def median_times(command: list[str], env: dict, runs: int) -> tuple[float, float]:
    """The medians of the wall and of the CPU seconds of ``runs`` runs."""
    walls, cpus = zip(*(timed(command, env) for _ in range(runs)), strict=True)
    return statistics.median(walls), statistics.median(cpus)


def commands(out: Path) -> dict[str, list[str]]:
    plusalpha = str(BIN / "plusalpha")
    return {
        'python -c "import flask" (baseline)': [sys.executable, "-c", "import flask"],
        "plusalpha --help": [plusalpha, "--help"],
        "plusalpha keys create ...": [
            plusalpha, "keys", "create", "--name", "bench", "--scope", "models:read",
        ],
        "plusalpha openapi write": [
            plusalpha, "openapi", "write", "--format=yaml", str(out / "openapi.yaml"),
        ],
    }  # fmt: skip


def first_answer(env: dict) -> float:
    """Seconds from starting gunicorn to its first answer to ``GET /v1/health``."""
    port = 18000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    command = [str(BIN / "gunicorn"), "--config", "python:service.api.gunicorn_conf"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", "1", "service.app:create_app()"]
    start = time.perf_counter()
    server = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                requests.get(f"{base}/v1/health", timeout=5)
                return time.perf_counter() - start
            except requests.ConnectionError:
                time.sleep(0.01)
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as var_dir:
        env = {**os.environ, "PLUSALPHA_VAR_DIR": var_dir}
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        # As a user's shell runs it: with Python's bytecode cache. A PYTHONDONTWRITEBYTECODE
        # left in the environment (some sandboxes set it) recompiles every module of ours at
        # every start, which is most of a command's time.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        times = {
            name: median_times(command, env, args.runs)
            for name, command in commands(Path(var_dir)).items()
        }
        health = first_answer(env)
    baseline, baseline_cpu = next(iter(times.values()))
    print(f"median of {args.runs} runs, each a new process (goal: under {GOAL_SECONDS} s)")
    print(f"{'command':40} {'seconds':>8} {'x baseline':>10} {'CPU s':>8} {'x baseline':>10}")
    for name, (seconds, cpu) in times.items():
        ratios = f"{seconds / baseline:10.2f} {cpu:8.3f} {cpu / baseline_cpu:10.2f}"
        print(f"{name:40} {seconds:8.3f} {ratios}")
    print(f"gunicorn (1 worker), start to its first /v1/health answer: {health:.2f} s")


if __name__ == "__main__":
    main()
