"""Benchmarks of the engine: the optimizer against PyPortfolioOpt, and the performance command.

Run from the project's root with the ``bench`` extra installed (``pip install -e '.[bench]'``)::

    .venv/bin/python scripts/bench_engine.py [--runs N] [--repeats N] [--skip-optimizer]
                                             [--skip-performance]

Section 1 times ``max_return_at_risk`` and PyPortfolioOpt's ``efficient_risk`` on the same
deterministic 420-asset problem in the same process and compares their answers. Section 2 times
the whole ``plusalpha performance --format csv`` command from raw prices on the sample data,
with ``plusalpha --help`` (interpreter and import start-up) as its baseline.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from service.engine.optimize import max_return_at_risk  # noqa: E402

EXPECTED_ROWS = 16  # nine models and seven passive benchmarks
INSTALL_HINT = "PyPortfolioOpt is missing: install the bench extra with pip install -e '.[bench]'"


# ---------------------------------------------------------------------------------------------
# Section 1: the optimizer


def realistic_problem(n: int, seed: int, factors: int = 6):
    """Expected returns and a factor covariance shaped like a fixed-income ETF universe.

    Annual volatilities are uniform in 1%..15%, each asset's systematic share of variance is in
    30%..95%, and expected returns rise with volatility, clipped to -2%..8%.
    """
    rng = np.random.default_rng(seed)
    vols = rng.uniform(0.01, 0.15, n)
    loadings = rng.normal(0.0, 1.0, (n, factors)) * rng.uniform(0.2, 1.0, factors)
    share = rng.uniform(0.3, 0.95, n)
    loadings *= np.sqrt(share / (loadings**2).sum(axis=1))[:, None]
    correlation = loadings @ loadings.T
    correlation[np.diag_indices(n)] = 1.0
    covariance = correlation * np.outer(vols, vols)
    mu = np.clip(0.35 * vols + rng.normal(0.0, 0.012, n), -0.02, 0.08)
    return mu, covariance


def riskiest_volatility(mu: np.ndarray, covariance: np.ndarray, upper: float) -> float:
    """The volatility of the most rewarding portfolio: the best assets, each up to its cap."""
    w, left = np.zeros(len(mu)), 1.0
    for i in np.argsort(-mu, kind="stable"):
        w[i] = min(upper, left)
        left -= w[i]
    return float(np.sqrt(w @ covariance @ w))


def violations(w: np.ndarray, covariance: np.ndarray, target: float, upper: float) -> dict:
    """How far ``w`` breaks each constraint (0 when it holds)."""
    volatility = float(np.sqrt(max(w @ covariance @ w, 0.0)))
    return {  # + 0.0 turns a -0.0 into 0.0
        "bounds": max(float(-w.min()), float((w - upper).max()), 0.0) + 0.0,
        "budget": abs(float(w.sum()) - 1.0),
        "risk": max(volatility - target, 0.0) + 0.0,
    }


def _timed(function, repeats: int) -> tuple[list[float], object]:
    function()  # warm-up: imports, caches, first-call set-up
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return times, value


def optimizer_benchmark(
    n: int = 420, repeats: int = 7, seed: int = 20240930, upper: float = 0.10
) -> dict:
    """Time ``max_return_at_risk`` and PyPortfolioOpt's ``efficient_risk`` on one problem."""
    from pypfopt import EfficientFrontier

    mu, covariance = realistic_problem(n, seed)
    target = 0.5 * riskiest_volatility(mu, covariance, upper)

    ours_times, ours = _timed(
        lambda: max_return_at_risk(mu, covariance, target, upper_bounds=upper), repeats
    )

    def pypfopt_solve() -> np.ndarray:
        frontier = EfficientFrontier(mu, covariance, weight_bounds=(0, upper))
        frontier.efficient_risk(target)
        return np.asarray(frontier.weights, dtype=float)

    theirs_times, theirs = _timed(pypfopt_solve, max(1, min(3, repeats)))

    ours_return, theirs_return = float(mu @ ours), float(mu @ theirs)
    result = {
        "n": n,
        "target": target,
        "ours_best": min(ours_times),
        "ours_median": statistics.median(ours_times),
        "ours_repeats": len(ours_times),
        "pypfopt_best": min(theirs_times),
        "pypfopt_median": statistics.median(theirs_times),
        "pypfopt_repeats": len(theirs_times),
        "ours_return": ours_return,
        "pypfopt_return": theirs_return,
        "ours_volatility": float(np.sqrt(ours @ covariance @ ours)),
        "relative_return_difference": (ours_return - theirs_return) / abs(theirs_return),
        "ours_violations": violations(ours, covariance, target, upper),
        "pypfopt_violations": violations(theirs, covariance, target, upper),
    }
    result["speed_ratio"] = result["pypfopt_median"] / result["ours_median"]
    result["ours_max_violation"] = max(result["ours_violations"].values())
    result["pypfopt_max_violation"] = max(result["pypfopt_violations"].values())

    print(f"== Optimizer: {n} assets, caps {upper:.0%}, target volatility {target:.4%} ==")
    print(
        f"max_return_at_risk        best {result['ours_best'] * 1e3:9.2f} ms   "
        f"median {result['ours_median'] * 1e3:9.2f} ms   ({result['ours_repeats']} runs)"
    )
    print(
        f"PyPortfolioOpt            best {result['pypfopt_best'] * 1e3:9.2f} ms   "
        f"median {result['pypfopt_median'] * 1e3:9.2f} ms   ({result['pypfopt_repeats']} runs)"
    )
    print(f"speed ratio (PyPortfolioOpt / ours, medians): {result['speed_ratio']:.1f}x")
    print(
        f"expected return: ours {ours_return:.10f}, PyPortfolioOpt {theirs_return:.10f}, "
        f"relative difference {result['relative_return_difference']:+.3e}"
    )
    print(f"our volatility {result['ours_volatility']:.10f} (target {target:.10f})")
    for name in ("ours", "pypfopt"):
        parts = ", ".join(f"{k} {v:.2e}" for k, v in result[f"{name}_violations"].items())
        label = "ours" if name == "ours" else "PyPortfolioOpt"
        print(
            f"largest constraint violation, {label}: {result[f'{name}_max_violation']:.2e}"
            f" ({parts})"
        )
    print()
    return result


# ---------------------------------------------------------------------------------------------
# Section 2: the whole performance command


def plusalpha_command() -> list[str]:
    """The ``plusalpha`` console script next to the interpreter, or the CLI through Python."""
    script = Path(sys.executable).with_name("plusalpha")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from service.cli.main import main; main()"]


def _run(command: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited with {completed.returncode}:\n{completed.stderr}"
        )
    return elapsed, completed.stdout


def performance_benchmark(runs: int = 1) -> dict:
    """Wall-clock of ``plusalpha performance --format csv`` on the sample data, best of ``runs``.

    ``plusalpha --help`` (the interpreter, the imports and the Flask CLI start-up) is timed in
    the same way as the baseline.
    """
    env = dict(os.environ)
    env.pop("PLUSALPHA_DATA_DIR", None)  # the generated sample universe
    base = plusalpha_command()

    help_times = [_run([*base, "--help"], env)[0] for _ in range(runs)]

    times = []
    for _ in range(runs):
        elapsed, output = _run([*base, "performance", "--format", "csv"], env)
        rows = list(csv.reader(io.StringIO(output)))
        if not rows or rows[0][:1] != ["model_id"] or len(rows) != EXPECTED_ROWS + 1:
            raise RuntimeError(
                f"expected a header and {EXPECTED_ROWS} rows, got {len(rows)} lines:\n{output}"
            )
        times.append(elapsed)

    result = {
        "command": " ".join([*base, "performance", "--format", "csv"]),
        "runs": runs,
        "performance_best": min(times),
        "help_best": min(help_times),
        "rows": EXPECTED_ROWS,
    }
    result["performance_net"] = result["performance_best"] - result["help_best"]
    print(f"== Performance command (best of {runs}) ==")
    print(f"{result['command']}")
    print(
        f"performance --format csv: {result['performance_best']:.2f} s "
        f"(header + {EXPECTED_ROWS} rows checked)"
    )
    print(f"--help (start-up baseline): {result['help_best']:.2f} s")
    print(f"performance less start-up: {result['performance_net']:.2f} s")
    print()
    return result


# ---------------------------------------------------------------------------------------------


def summary_table(optimizer: dict | None, performance: dict | None) -> str:
    rows = []
    if optimizer:
        n = optimizer["n"]
        rows += [
            (
                f"max_return_at_risk, {n} assets (median)",
                f"{optimizer['ours_median'] * 1e3:.2f} ms",
            ),
            (f"max_return_at_risk, {n} assets (best)", f"{optimizer['ours_best'] * 1e3:.2f} ms"),
            (
                "PyPortfolioOpt efficient_risk (median)",
                f"{optimizer['pypfopt_median'] * 1e3:.2f} ms",
            ),
            ("PyPortfolioOpt efficient_risk (best)", f"{optimizer['pypfopt_best'] * 1e3:.2f} ms"),
            ("speed ratio, PyPortfolioOpt / ours", f"{optimizer['speed_ratio']:.1f}x"),
            (
                "expected return, ours vs PyPortfolioOpt",
                f"{optimizer['relative_return_difference']:+.2e} rel",
            ),
            ("largest constraint violation, ours", f"{optimizer['ours_max_violation']:.1e}"),
            (
                "largest constraint violation, PyPortfolioOpt",
                f"{optimizer['pypfopt_max_violation']:.1e}",
            ),
        ]
    if performance:
        rows += [
            ("plusalpha performance --format csv", f"{performance['performance_best']:.2f} s"),
            ("plusalpha --help (start-up)", f"{performance['help_best']:.2f} s"),
            ("performance less start-up", f"{performance['performance_net']:.2f} s"),
        ]
    width = max(len(name) for name, _ in rows)
    value_width = max(len(value) for _, value in rows)
    line = "-" * (width + value_width + 3)
    body = [f"{name:<{width}}   {value:>{value_width}}" for name, value in rows]
    return "\n".join(["== Summary ==", line, *body, line])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs of each command (best is kept)")
    parser.add_argument("--repeats", type=int, default=7, help="timed optimizer runs")
    parser.add_argument("--assets", type=int, default=420, help="assets of the optimizer problem")
    parser.add_argument("--seed", type=int, default=20240930, help="seed of the optimizer problem")
    parser.add_argument("--skip-optimizer", action="store_true", help="skip section 1")
    parser.add_argument("--skip-performance", action="store_true", help="skip section 2")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.repeats < 1:
        parser.error("--runs and --repeats must be at least 1")

    optimizer = performance = None
    if not args.skip_optimizer:
        try:
            import pypfopt  # noqa: F401
        except ImportError:
            print(INSTALL_HINT, file=sys.stderr)
            return 2
        optimizer = optimizer_benchmark(n=args.assets, repeats=args.repeats, seed=args.seed)
    if not args.skip_performance:
        performance = performance_benchmark(runs=args.runs)
    if optimizer or performance:
        print(summary_table(optimizer, performance))
    return 0


if __name__ == "__main__":
    sys.exit(main())
