"""The optimizer against a general conic solver (cvxpy with Clarabel) on 240 seeded problems.

The problems mix random, factor, singular (one to five factors, no specific risk) and
sample-shaped covariances; spread, tied and rounded expected returns; targets below the least
risk, between it and the most rewarding portfolio's, and above; binding position caps, sector
caps, quadratic turnover penalties and linear turnover costs; 10 to 500 assets. A problem
passes when the weights are feasible (bounds, budget and caps to 1e-9, volatility at most the
target to 1e-9 relative), the objective is no worse than the reference's to 1e-7 relative, and
the status is ``min_variance`` exactly when the target is below the least risk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from service.engine.optimize import optimize_portfolio
from service.engine.risk import estimate_risk
from service.engine.signals import trend

cp = pytest.importorskip("cvxpy")
# Clarabel at tolerances of 1e-11 often stops "almost solved"; its answer is still the reference.
pytestmark = pytest.mark.filterwarnings("ignore:Solution may be inaccurate:UserWarning")

PROBLEMS = 240
FEASIBILITY = 1e-9
OBJECTIVE = 1e-7
SIZES = (10, 10, 20, 30, 50, 80, 120, 200)  # 500 (every 61st) and the sample's ~430 (29th)
COVARIANCES = ("random", "factor", "singular", "sample")
RETURNS = ("spread", "tied", "rounded")
TARGETS = ("below", "near-least", "between", "near-riskiest", "above")
CLARABEL = {"tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11, "max_iter": 400}


@dataclass
class Problem:
    """One generated problem, with a square root ``root`` of its covariance (root'root = S)."""

    description: str
    mu: np.ndarray
    covariance: np.ndarray
    root: np.ndarray
    target: float = 0.0
    least: float = 0.0  # the least volatility the constraints allow
    kwargs: dict = field(default_factory=dict)

    @property
    def upper(self) -> np.ndarray:
        upper = self.kwargs.get("upper_bounds")
        return np.broadcast_to(1.0 if upper is None else upper, self.mu.shape)

    def objective(self, w: np.ndarray) -> float:
        previous = self.kwargs.get("previous_weights", np.zeros(len(w)))
        trades = w - previous
        return float(
            self.mu @ w
            - self.kwargs.get("turnover_penalty", 0.0) * (trades**2).sum()
            - self.kwargs.get("turnover_cost", 0.0) * np.abs(trades).sum()
        )

    def volatility(self, w: np.ndarray) -> float:
        return float(np.linalg.norm(self.root @ w))


@pytest.fixture(scope="module")
def sample_risk(sample):
    """The sample universe's risk model, trend signal and sectors at two rebalance dates."""
    returns = sample.returns()
    etfs = sample.etfs.index
    out = []
    for date in ("2018-06-29", "2023-03-31"):
        risk = estimate_risk(returns.loc[:date, etfs])
        signal = trend(sample.prices.loc[:date], risk.tickers).to_numpy()
        sectors = sample.securities.loc[risk.tickers, "sector"].to_numpy()
        out.append((risk.covariance, signal, np.unique(sectors, return_inverse=True)[1]))
    return out


def square_root(covariance: np.ndarray) -> np.ndarray:
    """A matrix R with R'R = covariance, from its eigendecomposition (negative values dropped)."""
    values, vectors = np.linalg.eigh(covariance)
    keep = values > 1e-14 * values.max()
    return (vectors[:, keep] * np.sqrt(values[keep])).T


def generate(seed: int, sample_risk) -> Problem:
    rng = np.random.default_rng(seed)
    kind = COVARIANCES[seed % len(COVARIANCES)]
    n = int(rng.choice(SIZES)) if seed % 61 else 500
    groups = None
    vols = rng.uniform(0.01, 0.15, n)
    if kind == "sample":
        covariance, signal, sectors = sample_risk[seed % 2]
        n = len(signal) if seed % 29 == 0 else min(n, len(signal))
        pick = np.sort(rng.choice(len(signal), n, replace=False))
        covariance = covariance[np.ix_(pick, pick)]
        mu, groups = signal[pick], np.unique(sectors[pick], return_inverse=True)[1]
        root = square_root(covariance)
        vols = np.sqrt(np.diag(covariance))
    elif kind == "random":
        a = rng.normal(size=(n + 3, n)) / np.sqrt(n + 3)
        root = a * vols
        covariance = root.T @ root
    else:
        factors = int(rng.integers(1, 6)) if kind == "singular" else int(rng.integers(2, 8))
        loadings = rng.normal(size=(factors, n)) * rng.uniform(0.3, 1.0, (factors, 1))
        loadings *= vols / np.sqrt((loadings**2).sum(axis=0))
        if kind == "singular":
            root = loadings
        else:
            share = rng.uniform(0.3, 0.95, n)
            root = np.vstack([loadings * np.sqrt(share), np.diag(vols * np.sqrt(1 - share))])
        covariance = root.T @ root
    covariance = (covariance + covariance.T) / 2
    if kind != "sample":
        mu = np.clip(0.35 * vols + rng.normal(0.0, 0.012, n), -0.02, 0.08)
    returns = RETURNS[(seed // len(COVARIANCES)) % len(RETURNS)]
    if returns == "tied":
        mu[rng.choice(n, max(2, n // 5), replace=False)] = mu.max()
    elif returns == "rounded":
        mu = np.round(mu, 2)

    kwargs: dict = {}
    caps = rng.random() < 0.75
    if caps:
        kwargs["upper_bounds"] = float(rng.choice([1.5, 3.0, 6.0])) / n + float(rng.uniform(0, 0.1))
    if rng.random() < 0.5:
        if groups is None:
            groups = rng.integers(0, int(rng.integers(2, 8)), n)
        k = int(groups.max()) + 1
        per_asset = np.broadcast_to(kwargs.get("upper_bounds", 1.0), (n,))
        group_caps = rng.uniform(0.1, 0.6, k)
        while np.minimum(np.bincount(groups, per_asset, k), group_caps).sum() < 1.0:
            group_caps = np.minimum(group_caps * 1.3, 1.0)
        kwargs |= {"groups": groups, "group_caps": group_caps}
    if rng.random() < 0.5:
        kwargs["previous_weights"] = rng.dirichlet(np.full(n, 0.3))
        if rng.random() < 0.6:
            kwargs["turnover_penalty"] = float(rng.choice([1e-3, 0.01, 0.1, 1.0]))
        if rng.random() < 0.6:
            kwargs["turnover_cost"] = float(rng.choice([1e-3, 0.005, 0.02, 0.1]))
    problem = Problem("", mu, covariance, root, kwargs=kwargs)
    target = TARGETS[(seed // 12) % len(TARGETS)]
    problem.least = least = reference_least_risk(problem)
    riskiest = problem.volatility(optimize_portfolio(mu, covariance, 10.0, **kwargs).weights)
    if least <= 1e-6 * riskiest and target in {"below", "near-least"}:
        target = "between"  # a riskless portfolio: every target is reachable
    problem.target = {
        "below": 0.5 * least,
        "near-least": least * 1.02,
        "between": least + rng.uniform(0.2, 0.8) * max(riskiest - least, 0.0),
        "near-riskiest": riskiest * 0.98,
        "above": 1.5 * riskiest,
    }[target]
    if not problem.target > 0:
        problem.target = 1e-3
    problem.description = (
        f"seed {seed}: {kind} covariance, n={n}, {returns} returns, target {target} "
        f"({problem.target:.4g}; least {least:.4g}, riskiest {riskiest:.4g}), "
        f"{'caps' if caps else 'no caps'}, {'sectors' if 'groups' in kwargs else 'no sectors'}, "
        f"turnover penalty {kwargs.get('turnover_penalty', 0.0)}, "
        f"cost {kwargs.get('turnover_cost', 0.0)}"
    )
    return problem


def constraints(problem: Problem, w) -> list:
    rows = [cp.sum(w) == 1, w >= 0, w <= problem.upper]
    if "groups" in problem.kwargs:
        groups, caps = problem.kwargs["groups"], problem.kwargs["group_caps"]
        membership = (groups[None, :] == np.arange(len(caps))[:, None]).astype(float)
        rows.append(membership @ w <= caps)
    return rows


def reference_least_risk(problem: Problem) -> float:
    """The least volatility the constraints allow, by Clarabel."""
    w = cp.Variable(len(problem.mu))
    scale = np.abs(problem.root).max()
    cp.Problem(cp.Minimize(cp.norm(problem.root / scale @ w)), constraints(problem, w)).solve(
        solver=cp.CLARABEL, **CLARABEL
    )
    return float(problem.volatility(w.value))


def reference_objective(problem: Problem) -> float:
    """The most ``mu'w - kappa ||w - previous||^2`` within the target, by Clarabel."""
    w = cp.Variable(len(problem.mu))
    objective = problem.mu @ w
    if problem.kwargs.get("turnover_penalty"):
        previous = problem.kwargs["previous_weights"]
        objective = objective - problem.kwargs["turnover_penalty"] * cp.sum_squares(w - previous)
    if problem.kwargs.get("turnover_cost"):
        previous = problem.kwargs["previous_weights"]
        objective = objective - problem.kwargs["turnover_cost"] * cp.norm1(w - previous)
    rows = [*constraints(problem, w), cp.norm(problem.root / problem.target @ w) <= 1]
    reference = cp.Problem(cp.Maximize(objective), rows)
    reference.solve(solver=cp.CLARABEL, **CLARABEL)
    assert reference.status in {"optimal", "optimal_inaccurate"}, reference.status
    return float(reference.value)


@pytest.mark.parametrize("seed", range(PROBLEMS))
def test_the_optimizer_matches_a_conic_solver(seed, sample_risk):
    problem = generate(seed, sample_risk)
    result = optimize_portfolio(problem.mu, problem.covariance, problem.target, **problem.kwargs)
    w = result.weights
    about = problem.description

    assert w.min() >= -FEASIBILITY, about
    assert (w <= problem.upper + FEASIBILITY).all(), about
    assert abs(w.sum() - 1) <= FEASIBILITY, about
    if "groups" in problem.kwargs:
        totals = np.bincount(problem.kwargs["groups"], w, len(problem.kwargs["group_caps"]))
        assert (totals <= problem.kwargs["group_caps"] + FEASIBILITY).all(), about

    least = problem.least
    unreachable = problem.target < least
    assert (result.status == "min_variance") == unreachable, (result.status, about)
    if unreachable:
        assert problem.volatility(w) <= least * (1 + 1e-6), about
        return
    assert problem.volatility(w) <= problem.target * (1 + FEASIBILITY), about
    reference = reference_objective(problem)
    shortfall = reference - problem.objective(w)
    assert shortfall <= OBJECTIVE * max(abs(reference), 1e-4), (shortfall, reference, about)
