"""Benchmarks of the engine: the optimizer against PyPortfolioOpt, the backtests, the table.

Run from the project's root with the ``bench`` extra installed (``pip install -e '.[bench]'``)::

    .venv/bin/python scripts/bench_engine.py [--grid N] [--repeats N] [--runs N]
                                             [--skip-optimizer] [--skip-performance] [--scale]

Section 1 times ``optimize_portfolio`` and PyPortfolioOpt's ``efficient_risk`` in the same
process on a grid of problems built from the sample data (covariance daily or weekly over one
to three years; expected returns from 3-, 6- or 12-month momentum or the models' trend signal;
targets at 1x and 1.5x the AGG's and the HYG's volatility; caps of 5%, 10% and 15%, with and
without 35% sector caps; universes of 100 to 430 ETFs), printing each ratio, the median and the
worst, and the expected returns' relative difference. It then times every solve of the
optimizer models' backtests, each warm-started from the previous month. Section 2 times the
engine's part of ``plusalpha performance`` in this process (the sample universe generated from
its seed, then the table) and the whole command, with ``plusalpha --help`` (interpreter and
import start-up) as its baseline. ``--scale`` prints seconds per model-month for bigger
universes and more models (see ``scale_benchmark``).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib.util
import io
import itertools
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

from service.engine import backtest as backtest_module  # noqa: E402
from service.engine.backtest import rebalance_dates, run_backtests  # noqa: E402
from service.engine.data import MarketData  # noqa: E402
from service.engine.models import MODELS  # noqa: E402
from service.engine.optimize import optimize_portfolio  # noqa: E402
from service.engine.risk import PERIOD_DAYS, constant_correlation_shrinkage  # noqa: E402
from service.engine.sample import sample_data  # noqa: E402
from service.engine.signals import trend  # noqa: E402

EXPECTED_ROWS = 16  # nine models and seven passive benchmarks
ENGINE_ONLY = """
import time
from service.engine.performance import performance_table
from service.engine.sample import sample_data
start = time.perf_counter()
assert len(performance_table(sample_data())) == 16
print(time.perf_counter() - start)
"""
INSTALL_HINT = "PyPortfolioOpt is missing: install the bench extra with pip install -e '.[bench]'"
GRID = {
    "frequency": ("daily", "weekly"),
    "years": (1, 2, 3),
    "signal": ("momentum-3m", "momentum-6m", "momentum-12m", "trend"),
    "target": ("1.0x AGG", "1.5x AGG", "1.0x HYG", "1.5x HYG"),
    "cap": (0.05, 0.10, 0.15),
    "sectors": (False, True),
    "universe": (100, 250, 430),
}
SECTOR_CAP = 0.35
GRID_SEED = 20240930


# ---------------------------------------------------------------------------------------------
# Section 1: the optimizer


@dataclasses.dataclass(frozen=True)
class GridProblem:
    """One problem of the grid: ``mu`` (n,), ``covariance`` (n, n), the target, the caps."""

    label: str
    mu: np.ndarray
    covariance: np.ndarray
    target: float
    cap: float
    groups: np.ndarray | None

    @property
    def group_caps(self) -> np.ndarray | None:
        return None if self.groups is None else np.full(self.groups.max() + 1, SECTOR_CAP)


def covariance_of(returns: np.ndarray, frequency: str) -> np.ndarray:
    """The annualized Ledoit-Wolf covariance of daily returns (t, n), daily or weekly."""
    if frequency == "daily":
        return constant_correlation_shrinkage(returns)[0] * 252
    weeks = len(returns) // PERIOD_DAYS
    blocks = returns[-weeks * PERIOD_DAYS :].reshape(weeks, PERIOD_DAYS, returns.shape[1])
    return constant_correlation_shrinkage(np.prod(1 + blocks, axis=1) - 1)[0] * 52


def expected_returns(levels, tickers, signal: str) -> np.ndarray:
    """Annualized k-month momentum, or the models' trend signal, of ``tickers``."""
    if signal == "trend":
        return trend(levels, tickers).to_numpy()
    months = int(signal.split("-")[1].rstrip("m"))
    history = levels[tickers].to_numpy()
    return (history[-1] / history[-1 - 21 * months]) ** (12 / months) - 1


def grid_problems(data: MarketData, count: int, seed: int = GRID_SEED) -> list[GridProblem]:
    """``count`` problems drawn, without repetition, from the product of ``GRID``'s levels."""
    rng = np.random.default_rng(seed)
    combos = list(itertools.product(*GRID.values()))
    chosen = [combos[i] for i in rng.choice(len(combos), min(count, len(combos)), replace=False)]
    date = rebalance_dates(data.prices)[-1]
    levels = data.prices.loc[:date]
    returns = data.returns().loc[:date, data.etfs.index]
    problems = []
    for frequency, years, signal, target, cap, sectors, universe in chosen:
        recent = returns.iloc[-252 * years :]
        complete = recent.columns[recent.notna().all().to_numpy()]
        others = complete.drop(["AGG", "HYG"])
        picked = rng.choice(len(others), min(universe, len(complete)) - 2, replace=False)
        tickers = others[np.sort(picked)].append(complete[complete.isin(["AGG", "HYG"])])
        covariance = covariance_of(recent[tickers].to_numpy(), frequency)
        multiple, benchmark = target.split("x ")
        at = tickers.get_loc(benchmark)
        groups = None
        if sectors:
            groups = np.unique(data.etfs.loc[tickers, "sector"], return_inverse=True)[1]
        label = (
            f"{frequency} {years}y, {signal}, {target}, cap {cap:.0%}, "
            f"{'sectors' if sectors else 'no sectors'}, {len(tickers)} ETFs"
        )
        problems.append(
            GridProblem(
                label,
                expected_returns(levels, tickers, signal),
                covariance,
                float(multiple) * float(np.sqrt(covariance[at, at])),
                cap,
                groups,
            )
        )
    return problems


def largest_violation(w: np.ndarray, problem: GridProblem) -> float:
    """How far ``w`` breaks the bounds, the budget, the caps or the risk target (0 if none)."""
    volatility = float(np.sqrt(max(w @ problem.covariance @ w, 0.0)))
    worst = max(float(-w.min()), float((w - problem.cap).max()), abs(float(w.sum()) - 1.0))
    if problem.groups is not None:
        worst = max(worst, float((np.bincount(problem.groups, w) - SECTOR_CAP).max()))
    return max(worst, volatility - problem.target, 0.0) + 0.0  # + 0.0 turns -0.0 into 0.0


def _best_time(function, repeats: int) -> tuple[float, object]:
    """The least wall-clock time of ``repeats`` calls (after one warm-up), and the last value."""
    value = function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - start)
    return best, value


def ours(problem: GridProblem):
    return optimize_portfolio(
        problem.mu,
        problem.covariance,
        problem.target,
        upper_bounds=problem.cap,
        groups=problem.groups,
        group_caps=problem.group_caps,
    )


def pypfopt_weights(problem: GridProblem) -> np.ndarray:
    from pypfopt import EfficientFrontier

    frontier = EfficientFrontier(problem.mu, problem.covariance, weight_bounds=(0, problem.cap))
    if problem.groups is not None:
        mapper = dict(enumerate(problem.groups.tolist()))
        caps = dict(enumerate(problem.group_caps.tolist()))
        frontier.add_sector_constraints(mapper, {}, caps)
    frontier.efficient_risk(problem.target)
    return np.asarray(frontier.weights, dtype=float)


def grid_benchmark(data: MarketData, count: int, repeats: int) -> dict:
    """Time ours against PyPortfolioOpt on each grid problem; print each line and the summary."""
    print(f"== Optimizer grid: {count} problems from the sample data, best of {repeats} ==")
    ratios, differences, violations = [], [], []
    for problem in grid_problems(data, count):
        ours_time, result = _best_time(lambda p=problem: ours(p), repeats)
        if result.status == "min_variance":
            print(f"{problem.label}: target below the least risk, skipped")
            continue
        theirs_time, theirs = _best_time(lambda p=problem: pypfopt_weights(p), 1)
        mine, other = float(problem.mu @ result.weights), float(problem.mu @ theirs)
        ratios.append(theirs_time / ours_time)
        differences.append((mine - other) / abs(other))
        violations.append(largest_violation(result.weights, problem))
        print(
            f"{problem.label}: ours {ours_time * 1e3:7.2f} ms, PyPortfolioOpt "
            f"{theirs_time * 1e3:8.1f} ms, {ratios[-1]:6.1f}x, return {differences[-1]:+.1e}, "
            f"violation {violations[-1]:.0e}"
        )
    summary = {
        "problems": len(ratios),
        "median_ratio": statistics.median(ratios),
        "worst_ratio": min(ratios),
        "worst_return_difference": min(differences),
        "largest_violation": max(violations),
    }
    print(
        f"speed ratio (PyPortfolioOpt / ours): median {summary['median_ratio']:.1f}x, worst "
        f"{summary['worst_ratio']:.1f}x over {summary['problems']} problems; expected return, "
        f"worst relative difference {summary['worst_return_difference']:+.1e}; largest "
        f"violation {summary['largest_violation']:.0e}"
    )
    print()
    return summary


def warm_start_benchmark(data: MarketData) -> dict:
    """Wall-clock of every solve of the optimizer models' backtests, warm-started monthly."""
    times = []

    def timed(*args, **kwargs):
        start = time.perf_counter()
        result = optimize_portfolio(*args, **kwargs)
        times.append(time.perf_counter() - start)
        return result

    models = [m for m, spec in MODELS.items() if spec.algorithm == "optimizer"]
    backtest_module.optimize_portfolio = timed
    try:
        run_backtests(data, models)
    finally:
        backtest_module.optimize_portfolio = optimize_portfolio
    summary = {
        "solves": len(times),
        "median": statistics.median(times),
        "p90": float(np.percentile(times, 90)),
        "worst": max(times),
        "total": sum(times),
    }
    print(f"== Warm-started solves in the backtests of the {len(models)} optimizer models ==")
    print(
        f"{summary['solves']} solves: median {summary['median'] * 1e3:.2f} ms, 90th percentile "
        f"{summary['p90'] * 1e3:.2f} ms, worst {summary['worst'] * 1e3:.1f} ms, all "
        f"{summary['total']:.2f} s"
    )
    print()
    return summary


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


def performance_benchmark(runs: int = 3) -> dict:
    """The performance table's time, median of ``runs``: the engine's part, then the command.

    The engine's part is what the command computes, timed inside a fresh Python process after
    its imports: the sample universe from its seed and ``performance_table`` on it (a fresh
    process, because the solvers PyPortfolioOpt loads leave threads that slow this one). The
    whole ``plusalpha performance --format csv`` runs as a process, with ``plusalpha --help``
    (the interpreter, the imports and the Flask CLI start-up) timed in the same way as its
    baseline.
    """
    env = dict(os.environ)
    env.pop("PLUSALPHA_DATA_DIR", None)  # the generated sample universe
    engine_times = [float(_run([sys.executable, "-c", ENGINE_ONLY], env)[1]) for _ in range(runs)]
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
        "engine": statistics.median(engine_times),
        "performance": statistics.median(times),
        "help": statistics.median(help_times),
    }
    print(f"== Performance table (median of {runs}) ==")
    print(
        f"engine, in a fresh process after imports (sample data + performance_table): "
        f"{result['engine']:.2f} s "
        f"(runs: {', '.join(f'{t:.2f}' for t in engine_times)})"
    )
    print(f"{result['command']}: {result['performance']:.2f} s (header + {EXPECTED_ROWS} rows)")
    print(f"--help (start-up baseline): {result['help']:.2f} s")
    print()
    return result


# ---------------------------------------------------------------------------------------------
# --scale: how cost grows

SCALE_UNIVERSES = (430, 1000, 2000)
SCALE_MODELS = (9, 100, 500)
SCALE_END = "2016-12-31"  # thirteen rebalances, December 2015 to December 2016
RISK_MULTIPLES = (0.75, 1.0, 1.25, 1.5, 2.0)
POSITION_CAPS = (0.05, 0.08, 0.10, 0.15, 0.20)
SECTOR_CAPS = (0.25, 0.35, 0.50)


def model_variants(count: int) -> list:
    """The nine models, then variants of them with other risk multiples and caps.

    The caps of the models on a short list of ETFs stay as they are: tighter ones could not
    hold a fully invested portfolio.
    """
    nine = list(MODELS.values())
    variants = nine[:count]
    for i in range(len(variants), count):
        base = nine[i % len(nine)]
        change = {"id": f"{base.id}-v{i}", "risk_multiplier": RISK_MULTIPLES[i % 5]}
        if base.algorithm == "optimizer" and base.universe.tickers is None:
            change |= {"max_position": POSITION_CAPS[(i // 5) % 5]}
            change |= {"max_sector": SECTOR_CAPS[(i // 25) % 3]}
        variants.append(dataclasses.replace(base, **change))
    return variants


def scale_benchmark() -> list[dict]:
    """Seconds per model-month of ``run_backtests`` for each universe size and model count.

    Each run backtests the thirteen rebalances of 2016 (from December 2015); the risk model
    of each date is computed once and shared by all the models, as in the performance table.
    """
    print(f"== Scale: seconds per model-month (rebalances to {SCALE_END}) ==")
    rows = []
    for etfs in SCALE_UNIVERSES:
        full = sample_data() if etfs == 430 else sample_data(etfs)
        data = MarketData(full.securities, full.prices.loc[:SCALE_END], full.metadata)
        months = len(rebalance_dates(data.prices))
        for count in SCALE_MODELS:
            start = time.perf_counter()
            run_backtests(data, model_variants(count))
            elapsed = time.perf_counter() - start
            rows.append(
                {
                    "etfs": len(full.etfs),
                    "models": count,
                    "months": months,
                    "seconds": elapsed,
                    "per_model_month": elapsed / (count * months),
                }
            )
            print(
                f"{len(full.etfs):5d} ETFs, {count:3d} models: {elapsed:7.1f} s, "
                f"{rows[-1]['per_model_month'] * 1e3:6.2f} ms per model-month",
                flush=True,
            )
    print()
    return rows


# ---------------------------------------------------------------------------------------------


def summary_table(grid: dict | None, warm: dict | None, performance: dict | None) -> str:
    rows = []
    if grid:
        rows += [
            ("grid problems", f"{grid['problems']}"),
            ("speed ratio vs PyPortfolioOpt, median", f"{grid['median_ratio']:.1f}x"),
            ("speed ratio vs PyPortfolioOpt, worst", f"{grid['worst_ratio']:.1f}x"),
            ("expected return vs PyPortfolioOpt, worst", f"{grid['worst_return_difference']:+.1e}"),
            ("largest constraint violation, ours", f"{grid['largest_violation']:.0e}"),
        ]
    if warm:
        rows += [
            ("warm-started solve in the backtests, median", f"{warm['median'] * 1e3:.2f} ms"),
            ("warm-started solve, 90th percentile", f"{warm['p90'] * 1e3:.2f} ms"),
        ]
    if performance:
        rows += [
            ("performance table, engine after imports", f"{performance['engine']:.2f} s"),
            ("plusalpha performance --format csv", f"{performance['performance']:.2f} s"),
            ("plusalpha --help (start-up)", f"{performance['help']:.2f} s"),
        ]
    width = max(len(name) for name, _ in rows)
    value_width = max(len(value) for _, value in rows)
    line = "-" * (width + value_width + 3)
    body = [f"{name:<{width}}   {value:>{value_width}}" for name, value in rows]
    return "\n".join(["== Summary ==", line, *body, line])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=48, help="problems drawn from the grid")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each of our solves")
    parser.add_argument("--runs", type=int, default=3, help="runs of the table (median is kept)")
    parser.add_argument("--skip-optimizer", action="store_true", help="skip section 1")
    parser.add_argument("--skip-performance", action="store_true", help="skip section 2")
    parser.add_argument("--scale", action="store_true", help="also print the scale table")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.repeats < 1 or args.grid < 1:
        parser.error("--grid, --runs and --repeats must be at least 1")

    grid = warm = performance = None
    if not args.skip_optimizer:
        if importlib.util.find_spec("pypfopt") is None:
            print(INSTALL_HINT, file=sys.stderr)
            return 2
        data = sample_data()
        warm = warm_start_benchmark(data)  # before PyPortfolioOpt loads its solvers' threads
        grid = grid_benchmark(data, args.grid, args.repeats)
    if not args.skip_performance:
        performance = performance_benchmark(runs=args.runs)
    if args.scale:
        scale_benchmark()
    if grid or performance:
        print(summary_table(grid, warm, performance))
    return 0


if __name__ == "__main__":
    sys.exit(main())
