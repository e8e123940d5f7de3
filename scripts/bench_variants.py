"""Benchmark of variant builds on RQ workers: 1 worker process, then 2, on the same variants.

Run from the project's root, with a Redis server (default the machine's, database 5)::

    .venv/bin/python scripts/bench_variants.py [--variants N] [--data DIR] [--redis URL]

Creates N varied variants (default 200: each of the six optimizer models, with zero to three
excluded tickers, a risk multiplier from 0.6 to 1.4 and some with tighter caps) in a fresh
SQLite ledger, queues their builds as the monthly run does (jobs of 25 down to 5) and runs
``plusalpha worker --burst`` (an RQ worker that forks its work horses with the jobs' modules and
the solver loaded) with 1 process, then again on a fresh ledger with 2 processes at once (each
on one thread of BLAS: one core a worker). It prints, for each, the wall time, the variants a
minute and the seconds per variant, then the speed-up.
The issue's goal: a speed-up of at least 1.7 on 2 cores, and 200 variants in under 60 s with 2
workers. Every figure is measured in this run; the CPU seconds a variant (the workers' and
their work horses', start-up included) also compare across runs on a machine others share.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from service.config import VARIABLES, settings_from_env  # noqa: E402
from service.engine.models import MODELS  # noqa: E402
from service.publishing import market_data  # noqa: E402
from service.worker.handles import handles, queue_variant_builds  # noqa: E402
from service.worker.variants import create_variant  # noqa: E402

BASES = [m.id for m in MODELS.values() if m.algorithm == "optimizer"]
EXCLUDABLE = ["HYG", "JNK", "EMB", "LQD", "TLT", "BKLN", "PFF", "MUB", "EMLC", "VCIT"]
GOLDEN = (5**0.5 - 1) / 2
"""``k * GOLDEN % 1`` spreads k = 0, 1, 2... over [0, 1) without repeating."""


def requests_of(count: int, seed: int = 13) -> list[dict]:
    """``count`` varied variant requests, the same for every run."""
    rng = np.random.default_rng(seed)
    wanted = []
    for k in range(count):
        request = {
            "base_model": BASES[k % len(BASES)],
            "name": f"bench {k:04d}",
            "exclude_tickers": sorted(rng.choice(EXCLUDABLE, rng.integers(0, 4), replace=False)),
            # from 0.6 to 1.4, one of its own (an identical variant would be refused)
            "risk_multiplier": round(0.6 + 0.8 * (k * GOLDEN % 1), 6),
        }
        if k % 3 == 0 and len(MODELS[request["base_model"]].universe.tickers or ()) == 0:
            request["max_position"] = 0.08  # tighter caps for the broad universes
        wanted.append(request)
    return wanted


def environment(root: Path, redis_url: str, data_dir: str | None) -> dict[str, str]:
    env = {"PLUSALPHA_VAR_DIR": str(root), "REDIS_URL": redis_url}
    env["PLUSALPHA_MAX_VARIANTS_PER_TENANT"] = "100000"
    if data_dir:
        env["PLUSALPHA_DATA_DIR"] = data_dir
    return env


def prepare(env: dict[str, str], wanted: list[dict]) -> None:
    """A fresh ledger holding the variants (building), their builds queued."""
    h = handles(settings_from_env(env))
    h.redis.flushdb()
    data = market_data(h.data_dir)
    ids = []
    with h.sessions() as session:
        for request in wanted:
            variant = create_variant(
                session, data, request, tenant="bench", created_by=None, limit=10**6
            )
            ids.append(variant.id)
        session.commit()
    queue_variant_builds(h.redis, ids)


def build(env: dict[str, str], workers: int) -> tuple[float, float]:
    """Seconds until ``workers`` burst RQ workers have emptied the queue, and the CPU seconds
    they (and the work horses they forked) used."""
    base = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    base |= dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")
    command = [str(Path(sys.executable).with_name("plusalpha")), "worker", "--burst"]
    before = cpu_of_children()
    started = time.perf_counter()
    processes = [
        subprocess.Popen(command, env=base | env, stdout=subprocess.DEVNULL) for _ in range(workers)
    ]
    for process in processes:
        if process.wait() != 0:
            raise SystemExit("an RQ worker failed")
    return time.perf_counter() - started, cpu_of_children() - before


def cpu_of_children() -> float:
    """User and system CPU seconds of this process's finished children (theirs included)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ready_count(env: dict[str, str]) -> int:
    from service.ledger import list_variants

    h = handles(settings_from_env(env))
    with h.sessions() as session:
        return sum(v.status == "ready" for v in list_variants(session, "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=200)
    parser.add_argument("--data", help="A data directory (default: the sample universe).")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/5")
    args = parser.parse_args()
    wanted = requests_of(args.variants)
    seconds = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory(prefix="bench-variants-") as root:
            env = environment(Path(root), args.redis, args.data)
            prepare(env, wanted)
            seconds[workers], cpu = build(env, workers)
            built = ready_count(env)
        print(
            f"{workers} worker(s): {args.variants} variants ({built} ready) in "
            f"{seconds[workers]:.1f} s: {60 * args.variants / seconds[workers]:.0f} a minute, "
            f"{seconds[workers] / args.variants:.2f} s a variant, "
            f"{cpu / args.variants:.2f} CPU s a variant"
        )
    print(f"speed-up with 2 workers: {seconds[1] / seconds[2]:.2f}x")
    redis.Redis.from_url(args.redis).flushdb()


if __name__ == "__main__":
    main()
