"""Long-only portfolio optimization: the most expected return at a target volatility.

The problem, for n assets::

    maximize    mu' w  -  kappa * ||w - w_prev||^2  -  eta * sum |w - w_prev|
    subject to  sqrt(w' S w) <= target,  sum(w) = 1,  0 <= w <= u,
                sum of w over each group g <= cap_g.

The risk constraint is handled by its Lagrangian: for a multiplier ``lam`` the problem becomes
the quadratic program ``minimize 0.5 w'(lam S + 2 kappa I) w - (mu + 2 kappa w_prev)' w`` over
the polytope (plus the piecewise-linear turnover cost, whose kinks at ``w_prev`` the active set
treats as one more kind of bound), whose solution's volatility falls as ``lam`` grows. The
search for the multiplier at which the volatility meets the target jumps, each step, to the
multiplier at which the current working set, held fixed, meets it exactly (explicit without a
quadratic turnover penalty), kept inside the bracket of multipliers seen and within the range
floating point resolves. Each quadratic program is solved exactly by a primal active-set
method, warm-started from the previous one, that steps in the null space of its working set:
a singular reduced Hessian (a rank-deficient covariance) gives a direction of no curvature,
followed until a constraint blocks. Because the groups partition the assets, the polytope is
laminar: filling the assets greedily in order of expected return gives its best vertex, which
is also the feasible starting point. The method runs compiled (``solver``, which says why);
this module checks the inputs and states the results.

Statuses are exact: ``min_variance`` when the least risk the constraints allow (solved for) is
above the target; ``unconstrained`` when a portfolio within the target earns the most expected
return to within ``solver.RESOLUTION`` of the largest (tied best returns included).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from . import solver

STATUSES = {
    solver.OPTIMAL: "optimal",
    solver.UNCONSTRAINED: "unconstrained",
    solver.MIN_VARIANCE: "min_variance",
}


class RiskTargetUnreachable(UserWarning):
    """The target volatility is below the least risk the constraints allow."""


@dataclass(frozen=True)
class OptimizationResult:
    """An optimal portfolio.

    ``weights`` has shape (n,). ``status`` is ``"optimal"`` (the risk constraint binds),
    ``"unconstrained"`` (the most rewarding portfolio is already within the target) or
    ``"min_variance"`` (the target is below the least risk the constraints allow: the weights
    are the constrained minimum-variance portfolio). ``multiplier`` is the price of risk ``lam``
    at the optimum (NaN unless ``"optimal"``); pass it back as ``initial_multiplier`` to warm
    start a similar problem.
    """

    weights: np.ndarray
    status: str
    volatility: float
    expected_return: float
    multiplier: float = float("nan")


def max_return_at_risk(
    expected_returns, covariance, target_volatility: float, upper_bounds=None
) -> np.ndarray:
    """Long-only, fully invested weights of most expected return at a volatility target.

    Parameters
    ----------
    expected_returns : array_like, shape (n,)
        Annualized expected returns.
    covariance : array_like, shape (n, n)
        Annualized covariance, symmetric positive semi-definite.
    target_volatility : float
        The largest annualized volatility allowed, > 0.
    upper_bounds : float or array_like of shape (n,), optional
        The largest weight of each asset (1 by default); they must sum to at least 1.

    Returns
    -------
    np.ndarray, shape (n,)
        Weights ``w >= 0`` with ``sum(w) == 1``, ``w <= upper_bounds`` and
        ``sqrt(w' S w) <= target_volatility``. When the target is below the least risk the
        bounds allow, the minimum-variance portfolio, with a ``RiskTargetUnreachable`` warning.
    """
    result = optimize_portfolio(
        expected_returns, covariance, target_volatility, upper_bounds=upper_bounds
    )
    if result.status == "min_variance":
        warnings.warn(
            f"target volatility {target_volatility:.6g} is below the least the constraints allow "
            f"({result.volatility:.6g}): returning the minimum-variance portfolio",
            RiskTargetUnreachable,
            stacklevel=2,
        )
    return result.weights


def optimize_portfolio(
    expected_returns,
    covariance,
    target_volatility: float,
    *,
    upper_bounds=None,
    groups=None,
    group_caps=None,
    previous_weights=None,
    turnover_penalty: float = 0.0,
    turnover_cost: float = 0.0,
    initial_weights=None,
    initial_multiplier: float | None = None,
) -> OptimizationResult:
    """The richer interface of ``max_return_at_risk``, with group caps and turnover controls.

    Parameters
    ----------
    expected_returns, covariance, target_volatility, upper_bounds
        As in ``max_return_at_risk``.
    groups : array_like of int, shape (n,), optional
        The group (0 .. k-1) of each asset, e.g. its sector.
    group_caps : array_like, shape (k,), optional
        The largest total weight of each group.
    previous_weights : array_like, shape (n,), optional
        The current holdings, for the turnover penalty (zeros by default).
    turnover_penalty : float
        ``kappa`` >= 0 of the quadratic penalty ``kappa * ||w - previous_weights||^2``.
    turnover_cost : float
        ``eta`` >= 0 of the linear penalty ``eta * sum |w - previous_weights|``: a weight
        moves only when the expected return it gains beats ``eta`` per unit traded, so the
        trades are few and whole rather than many and small.
    initial_weights : array_like, shape (n,), optional
        A feasible starting point, such as last month's solution; ignored when infeasible.
    initial_multiplier : float, optional
        A first guess of the price of risk, such as last month's ``multiplier``.

    Returns
    -------
    OptimizationResult
    """
    problem = _problem(
        expected_returns,
        covariance,
        target_volatility,
        upper_bounds,
        groups,
        group_caps,
        previous_weights,
        turnover_penalty,
        turnover_cost,
    )
    mu, sigma = problem[0], problem[1]
    initial = np.empty(0)
    if initial_weights is not None:
        initial = np.ascontiguousarray(initial_weights, dtype=float)
        initial = initial if initial.shape == mu.shape else np.empty(0)
    guess = np.nan
    if (
        initial_multiplier is not None
        and np.isfinite(initial_multiplier)
        and initial_multiplier > 0
    ):
        guess = float(np.log(initial_multiplier))
    w, status, lam = solver.solve(problem, initial, guess)
    return OptimizationResult(
        w, STATUSES[status], float(solver.volatility(sigma, w)), float(mu @ w), float(lam)
    )


def compile_solver() -> None:
    """Compile the solver now, or load it from numba's cache, rather than at a first solve.

    Every input reaches ``solver`` with the same types and layout, so this one solve compiles
    all that any later one runs.
    """
    optimize_portfolio(
        [0.02, 0.01],
        np.diag([0.01, 0.0025]),
        0.06,
        upper_bounds=0.8,
        groups=[0, 1],
        group_caps=[0.8, 0.8],
        previous_weights=[0.5, 0.5],
        turnover_cost=0.01,
    )


def _array(value, name: str, shape: tuple) -> np.ndarray:
    array = np.ascontiguousarray(value, dtype=float)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, not {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    return array


def _problem(mu, sigma, target, upper, groups, caps, previous, kappa, eta) -> tuple:
    """The checked problem, as the tuple ``solver`` takes.

    Raises ValueError naming the first input that is malformed or makes the problem infeasible.
    """
    mu = np.asarray(mu, dtype=float)
    if mu.ndim != 1 or len(mu) == 0:
        raise ValueError("expected_returns must be a non-empty vector")
    n = len(mu)
    mu = _array(mu, "expected_returns", (n,))
    sigma = np.ascontiguousarray(sigma, dtype=float)
    if sigma.shape != (n, n):
        raise ValueError(f"covariance must have shape {(n, n)}, not {sigma.shape}")
    flaw, largest = solver.covariance_flaw(sigma)
    if flaw:
        raise ValueError(f"covariance {flaw}")
    if not np.isfinite(target) or target <= 0:
        raise ValueError("target_volatility must be a positive number")
    upper = np.asarray(1.0 if upper is None else upper, dtype=float)
    upper = _array(np.full(n, upper) if upper.ndim == 0 else upper, "upper_bounds", (n,))
    if (upper < 0).any():
        raise ValueError("upper_bounds must be non-negative")
    upper = np.minimum(upper, 1.0)
    if upper.sum() < 1 - 1e-12:
        raise ValueError(f"upper_bounds sum to {upper.sum():.6g}: no fully invested portfolio")
    if (groups is None) != (caps is None):
        raise ValueError("groups and group_caps go together")
    if groups is None:
        groups, caps = np.zeros(n, dtype=np.int64), np.ones(1)
    else:
        groups = np.asarray(groups)
        if groups.shape != (n,) or not np.issubdtype(groups.dtype, np.integer):
            raise ValueError(f"groups must be integers of shape ({n},)")
        groups = groups.astype(np.int64)
        caps = _array(caps, "group_caps", (np.asarray(caps).size,))
        if groups.min() < 0 or groups.max() >= len(caps):
            raise ValueError("groups must index group_caps")
        if (caps < 0).any():
            raise ValueError("group_caps must be non-negative")
        caps = np.minimum(caps, 1.0)
    reachable = np.minimum(np.bincount(groups, upper, len(caps)), caps).sum()
    if reachable < 1 - 1e-12:
        raise ValueError(
            f"group_caps and upper_bounds allow at most {reachable:.6g} invested: infeasible"
        )
    previous = np.zeros(n) if previous is None else _array(previous, "previous_weights", (n,))
    kappa, eta = float(kappa), float(eta)
    if not np.isfinite(kappa) or kappa < 0:
        raise ValueError("turnover_penalty must be a non-negative number")
    if not np.isfinite(eta) or eta < 0:
        raise ValueError("turnover_cost must be a non-negative number")
    cappable = caps < 1.0  # a cap of 1 or more never binds, given the budget
    # The rounding error of a portfolio's variance is at most about n eps max|S| (the weights
    # are non-negative and sum to 1): the search keeps that far inside the target, so that what
    # it finds within the target is, however the variance is summed. On real data this is
    # below 1e-11 of the target; it matters only for targets near floating point's resolution.
    target = float(target)
    variance = max(target**2, np.finfo(float).tiny)
    ceiling = target * (1 - min(n * np.finfo(float).eps * largest / variance, 0.5))
    return mu, sigma, target, upper, groups, caps, cappable, previous, kappa, eta, ceiling
