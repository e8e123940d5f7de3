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
is also the feasible starting point.

Statuses are exact: ``min_variance`` when the least risk the constraints allow (solved for) is
above the target; ``unconstrained`` when a portfolio within the target earns the most expected
return to within ``RESOLUTION`` of the largest (tied best returns included).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack

from .threads import one_blas_thread

MAX_SEARCH_STEPS = 200
VOLATILITY_TOLERANCE = 1e-9
# The search aims this far inside the target: the working set's root is exact, so it lands
# there to rounding, and a frontier steep near the least risk loses little return to the aim.
VOLATILITY_AIM = 1e-11
# Step components below this are rounding errors of a step that is zero in exact arithmetic.
STEP_NOISE = 1e-14
# Reduced-Hessian curvature below this share of the largest counts as none (a singular matrix).
CURVATURE_TOLERANCE = 1e-11
# The smallest share of one term of the objective that floating point resolves against the other.
RESOLUTION = 1e-10
# A bracket of the price of risk narrower than this (in log lam) is a jump of the solution.
BRACKET_WIDTH = 1e-9
# Up to this many free variables the ratio test runs on Python floats (see _scalar_ratio_test).
SCALAR_FREE = 8


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
    problem = _Problem.build(
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
    with one_blas_thread():
        return problem.solve(initial_weights, initial_multiplier)


def _array(value, name: str, shape: tuple) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, not {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    return array


@dataclass
class _Problem:
    mu: np.ndarray
    sigma: np.ndarray
    target: float
    upper: np.ndarray
    groups: np.ndarray
    caps: np.ndarray
    previous: np.ndarray
    kappa: float
    eta: float

    @classmethod
    def build(cls, mu, sigma, target, upper, groups, caps, previous, kappa, eta=0.0) -> _Problem:
        mu = np.asarray(mu, dtype=float)
        if mu.ndim != 1 or len(mu) == 0:
            raise ValueError("expected_returns must be a non-empty vector")
        n = len(mu)
        mu = _array(mu, "expected_returns", (n,))
        sigma = _array(sigma, "covariance", (n, n))
        # sigma - sigma.T is exactly antisymmetric, so its largest entry is its largest in size.
        if (sigma - sigma.T).max() > 1e-10 * np.abs(sigma).max() + 1e-14:
            raise ValueError("covariance must be symmetric")
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
            groups, caps = np.zeros(n, dtype=int), np.ones(1)
        else:
            groups = np.asarray(groups)
            if groups.shape != (n,) or not np.issubdtype(groups.dtype, np.integer):
                raise ValueError(f"groups must be integers of shape ({n},)")
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
        if not np.isfinite(kappa) or kappa < 0:
            raise ValueError("turnover_penalty must be a non-negative number")
        if not np.isfinite(eta) or eta < 0:
            raise ValueError("turnover_cost must be a non-negative number")
        return cls(
            mu, sigma, float(target), upper, groups, caps, previous, float(kappa), float(eta)
        )

    def __post_init__(self) -> None:
        # Groups whose cap can bind: a cap of 1 or more never does, given the budget.
        self.cappable = self.caps < 1.0
        self.any_cappable = bool(self.cappable.any())

    def volatility(self, w: np.ndarray) -> float:
        return float(np.sqrt(max(w @ self.sigma @ w, 0.0)))

    def result(self, w: np.ndarray, status: str, lam: float = np.nan) -> OptimizationResult:
        return OptimizationResult(w, status, self.volatility(w), float(self.mu @ w), lam)

    def is_feasible(self, w: np.ndarray) -> bool:
        return bool(
            abs(w.sum() - 1) <= 1e-12
            and (w >= 0).all()
            and (w <= self.upper).all()
            and (np.bincount(self.groups, w, len(self.caps)) <= self.caps + 1e-12).all()
        )

    def greedy_vertex(self) -> np.ndarray:
        """The best vertex of the polytope for ``mu``: fill assets by descending return."""
        w = np.zeros(len(self.mu))
        room = self.caps.copy()
        left = 1.0
        for i in np.argsort(-self.mu, kind="stable"):
            take = min(self.upper[i], left, room[self.groups[i]])
            if take > 0:
                w[i] = take
                room[self.groups[i]] -= take
                left -= take
            if left <= 0:
                break
        return w

    def near_previous(self) -> np.ndarray:
        """A feasible point that keeps every previous weight the constraints allow.

        Weights above their bound are cut to it, groups above their cap scaled down to it, and
        what is left of the budget is filled greedily in order of expected return.
        """
        w = np.minimum(np.maximum(self.previous, 0.0), self.upper)
        totals = np.bincount(self.groups, w, len(self.caps))
        over = totals > self.caps
        if over.any():
            w *= np.where(over, self.caps / np.where(over, totals, 1.0), 1.0)[self.groups]
            totals = np.bincount(self.groups, w, len(self.caps))
        if w.sum() > 1.0:
            w /= w.sum()
            totals = np.bincount(self.groups, w, len(self.caps))
        room = self.caps - totals
        left = 1.0 - float(w.sum())
        for i in np.argsort(-self.mu, kind="stable"):
            if left <= 1e-15:
                break
            take = min(self.upper[i] - w[i], left, room[self.groups[i]])
            if take > 0:
                w[i] += take
                room[self.groups[i]] -= take
                left -= take
        w = _exact_budget(w, (w <= 0) | (w >= self.upper) | (w == self.previous))
        return w if self.is_feasible(w) else self.greedy_vertex()

    def solve(self, initial_weights=None, initial_multiplier=None) -> OptimizationResult:
        vertex = self.greedy_vertex()
        if self.kappa == 0 and self.eta == 0 and self.volatility(vertex) <= self.target:
            return self.result(vertex, "unconstrained")
        start = vertex
        if self.eta and self.previous.any():
            # A linear turnover cost holds most weights at their previous values: start there
            # with them fixed, rather than reach each kink by an iteration of its own.
            start = self.near_previous()
        elif initial_weights is not None:
            initial = np.asarray(initial_weights, dtype=float)
            if initial.shape == vertex.shape and self.is_feasible(initial):
                start = initial.copy()
        guess = None
        if initial_multiplier is not None and np.isfinite(initial_multiplier):
            guess = float(np.log(initial_multiplier)) if initial_multiplier > 0 else None
        return self.search(_ActiveSet.start(self, start), guess)

    def log_multiplier_range(self) -> tuple[float, float]:
        """The logs of the least and the largest price of risk that floating point resolves.

        Below the least, the risk term moves the objective by under ``RESOLUTION`` of the
        largest expected return, so the answer there is the most rewarding portfolio to that
        precision; above the largest, the returns are as far below the risk gradient.
        """
        returns = float(np.abs(self.mu + 2 * self.kappa * self.previous).max()) + self.eta or 1.0
        variance = float(np.diag(self.sigma).max()) or 1.0
        least = 2 * RESOLUTION * returns / variance
        largest = returns / (RESOLUTION * self.target**2)
        return float(np.log(least)), float(np.log(max(largest, least)))

    def first_log_multiplier(self) -> float:
        """A first guess of ``log lam``: the spread of returns over the target's variance."""
        spread = max(float(np.std(self.mu)), 1e-12)
        scale = float(np.sqrt(np.median(np.diag(self.sigma)))) or 1.0
        return float(np.log(spread / (self.target * scale)))

    def search(self, state: _ActiveSet, t: float | None = None) -> OptimizationResult:
        """Find the price of risk whose solution has the target volatility.

        Each step solves the quadratic program at ``lam = exp(t)``, then moves ``t`` to the
        multiplier at which the solution's working set, held fixed, meets the target exactly;
        once a too-risky and a within-target multiplier bracket it, steps stay inside.
        """
        t_min, t_max = self.log_multiplier_range()
        t = first = float(np.clip(self.first_log_multiplier() if t is None else t, t_min, t_max))
        aim = self.target * (1 - VOLATILITY_AIM)
        low = high = None  # (log lam, state): too risky / within target
        least = None  # the minimum-variance portfolio, once it is needed
        for _ in range(MAX_SEARCH_STEPS):
            lam = float(np.exp(t))
            state = state.solve(self, lam)
            volatility = self.volatility(state.w)
            if volatility > self.target:
                low = (t, state)
            else:
                high = (t, state)
                if volatility >= self.target * (1 - VOLATILITY_TOLERANCE):
                    return self.result(state.w, "optimal", lam)
                if t <= t_min:
                    return self.result(state.w, "unconstrained")
            if low is not None and high is not None and high[0] - low[0] <= BRACKET_WIDTH:
                return self.blend(low[1], high[1], float(np.exp(high[0])))
            if high is None and least is None and (t >= t_max or t >= first + 8):
                # Only too-risky answers though the risk aversion has grown a thousandfold:
                # is the target reachable at all?
                least = self.min_variance(state)
                if self.volatility(least.w) > self.target:
                    return self.result(least.w, "min_variance")
            root = self.root_log_multiplier(state, lam, aim, low, high, (t_min, t_max))
            if root is None:
                root = self.breakpoint_log_multiplier(state, lam, low, high, (t_min, t_max))
            if root is not None:
                t = root
            elif high is None:
                if t >= t_max:
                    return self.blend(state, least)
                t = min(t + 2, t_max)
            elif low is None:
                t = max(t - 2, t_min)
            else:
                t = self.secant_log_multiplier(low, high)
        if high is not None and low is not None:
            return self.blend(low[1], high[1], float(np.exp(high[0])))
        raise RuntimeError("the search for the price of risk did not converge")

    def root_log_multiplier(self, state, lam, aim, low, high, limits) -> float | None:
        """The log of the working set's exact root when it falls inside the bracket, else None.

        The bracket is the open interval between the too-risky and the within-target multiplier
        seen, or the resolvable range where one is missing.
        """
        lower = low[0] if low is not None else limits[0]
        upper = high[0] if high is not None else limits[1]
        root = state.root_multiplier(self, lam, aim)
        if root is None or root <= 0:
            return None
        t = float(np.log(root))
        if low is not None and high is not None:
            # Strictly inside: a root on the bracket's edge would solve that problem again.
            margin = 0.01 * (upper - lower)
            return t if lower + margin < t < upper - margin else None
        inside = lower < t < upper or (low is None and t == upper == limits[1])
        return t if inside and t != float(np.log(lam)) else None

    def breakpoint_log_multiplier(self, state, lam, low, high, limits) -> float | None:
        """Just past the next multiplier at which a vertex's working set changes, else None.

        A working set that leaves no freedom (a vertex) has no root: its solution stays put as
        ``lam`` moves, until a multiplier of the working set changes sign. The multipliers are
        affine in ``lam`` there, so that point is explicit, and the search jumps just past it
        (towards more risk when the vertex is within target, less when it is too risky)
        instead of narrowing the bracket a few percent at a time. Without such a point below a
        vertex within target, the least multiplier resolvable is next: it is then the answer.
        """
        free, blocks = state.free_blocks(self.groups)
        if len(free) != len(np.unique(blocks)):
            return None
        t = float(np.log(lam))
        lower = low[0] if low is not None else limits[0]
        upper = high[0] if high is not None else limits[1]
        risky = high is None or high[0] != t
        sides = state.sides(self) if self.eta else None
        constant = 2 * self.kappa * (state.w - self.previous) - self.mu
        if self.eta:
            constant = constant + self.eta * sides
        slope = self.sigma @ state.w
        a = _multiplier_values(slope, free, blocks, self.groups, state, 0.0)
        b = _multiplier_values(constant, free, blocks, self.groups, state, self.eta)
        with np.errstate(divide="ignore", invalid="ignore"):
            crossing = -b / a
        if risky:
            crossing = crossing[(a < 0) & (crossing > lam)]
            if not len(crossing):
                return None
            jump = float(np.log(crossing.min())) + 1e-7 * max(1.0, abs(t))
        else:
            crossing = crossing[(a > 0) & (crossing > 0) & (crossing < lam)]
            if not len(crossing):
                return limits[0] if lower < t else None
            jump = float(np.log(crossing.max())) - 1e-7 * max(1.0, abs(t))
        return jump if lower < jump < upper and abs(jump - t) > BRACKET_WIDTH else None

    def secant_log_multiplier(self, low: tuple, high: tuple) -> float:
        """The secant of the volatility over the bracket, kept well inside it."""
        (t0, risky), (t1, safe) = low, high
        f0, f1 = self.volatility(risky.w) - self.target, self.volatility(safe.w) - self.target
        secant = t1 - f1 * (t1 - t0) / (f1 - f0) if f1 != f0 else 0.5 * (t0 + t1)
        margin = 0.05 * (t1 - t0)
        return float(np.clip(secant, t0 + margin, t1 - margin))

    def min_variance(self, state: _ActiveSet) -> _ActiveSet:
        """The constrained minimum-variance portfolio, solved from ``state``."""
        return state.solve(self, lam=1.0, linear=np.zeros(len(self.mu)), kappa=0.0, eta=0.0)

    def blend(self, risky: _ActiveSet, safe: _ActiveSet, lam: float = np.nan):
        """The mix of a too-risky and a within-target portfolio that has the target volatility.

        Both are feasible, so the mix is; the objective is concave, so the mix is at least as
        good as the same mix of their objectives. The last resort of a search whose bracket
        has closed on a jump of floating-point origin.
        """
        a, b = safe.w, risky.w
        d = b - a
        # vol^2 of a + s d is p s^2 + 2 q s + r, with r <= target^2 < p + 2q + r.
        p, q, r = d @ self.sigma @ d, a @ self.sigma @ d, a @ self.sigma @ a
        aim = (self.target * (1 - VOLATILITY_AIM)) ** 2
        share = (-q + np.sqrt(max(q * q - p * (r - aim), 0.0))) / p if p > 0 else 1.0
        w = a + float(np.clip(share, 0.0, 1.0)) * d
        if self.volatility(w) > self.target:
            w = a
        return self.result(_exact_budget(w, w <= 0), "optimal", lam)


@dataclass
class _ActiveSet:
    """A feasible point and its working set: fixed variables and the groups held at their cap.

    ``at_zero``, ``at_upper`` and ``at_kink`` (shape (n,)) mark variables fixed at a bound or
    at their previous weight (the kink of the turnover cost); ``capped`` (shape (k,)) marks
    groups in the working set. The set is kept linearly independent together with the budget:
    every capped group, and the free variables outside the capped groups, keep at least one
    free variable.
    """

    w: np.ndarray
    at_zero: np.ndarray
    at_upper: np.ndarray
    capped: np.ndarray
    at_kink: np.ndarray

    @classmethod
    def start(cls, problem: _Problem, w: np.ndarray) -> _ActiveSet:
        at_zero = w <= 0
        at_upper = (w >= problem.upper) & ~at_zero
        at_kink = np.zeros(len(w), dtype=bool)
        if problem.eta:
            at_kink = (w == problem.previous) & ~at_zero & ~at_upper
        if (at_zero | at_upper | at_kink).all():
            # A vertex: release the largest holding so the budget row stays independent.
            i = int(np.argmax(w))
            at_zero[i] = at_upper[i] = at_kink[i] = False
        capped = np.zeros(len(problem.caps), dtype=bool)
        return cls(w, at_zero, at_upper, capped, at_kink)

    def sides(self, problem: _Problem) -> np.ndarray:
        """Which side of its previous weight each variable's turnover cost is on, shape (n,).

        +1 above (or at zero when it held none: moving up buys), -1 below (or at its upper
        bound when it held as much or more: moving down sells), 0 held at the previous weight.
        """
        previous = problem.previous
        side = np.where(self.w > previous, 1.0, -1.0)
        side[self.at_zero & (previous <= 0)] = 1.0
        side[self.at_kink] = 0.0
        return side

    def free_blocks(self, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The free variables, shape (f,), and the block of each: its group if capped, else -1.

        The working set's equalities say that each block's weights keep their sum.
        """
        free = np.flatnonzero(~(self.at_zero | self.at_upper | self.at_kink))
        if not self.capped.any():
            return free, np.full(len(free), -1)
        free_groups = groups[free]
        return free, np.where(self.capped[free_groups], free_groups, -1)

    def root_multiplier(self, problem: _Problem, lam: float, aim: float) -> float | None:
        """The ``lam`` at which this working set's minimizer has volatility ``aim``, if any.

        With the working set held as equalities the minimizer is ``w + Z d(lam)``, where the
        columns of ``Z`` span the steps that keep it. Without a turnover penalty
        ``d = -M^-1 Z'(S w) - M^-1 Z'r / lam`` (``M = Z'SZ``, ``r`` the linear term's gradient), so
        the variance is ``A + B / lam^2`` and the root is explicit; with one, Newton's method
        on the variance finds it. When the working set cannot reach ``aim``, None, or without a
        penalty the Newton step of the volatility towards it.
        """
        free, blocks = self.free_blocks(problem.groups)
        basis = _null_space(blocks)
        if basis.shape[1] == 0:
            return None
        risk_gradient = problem.sigma @ self.w
        variance = float(self.w @ risk_gradient)
        linear = 2 * problem.kappa * (self.w - problem.previous) - problem.mu
        if problem.eta:
            linear += problem.eta * self.sides(problem)
        sigma_z = basis.T @ risk_gradient[free]
        rho = basis.T @ linear[free]
        reduced = basis.T @ problem.sigma[free[:, None], free] @ basis
        factor = _cholesky(reduced)
        if factor is None:
            return None
        least = variance - sigma_z @ _solve(factor, sigma_z)  # the variance as lam grows
        if problem.kappa:
            if aim**2 <= least:
                return None
            return _penalized_root(reduced, sigma_z, rho, variance, 2 * problem.kappa, lam, aim**2)
        spread = rho @ _solve(factor, rho)
        if spread <= 0:
            return None
        if aim**2 > least:
            return float(np.sqrt(spread / (aim**2 - least)))
        # No root: the Newton step of the volatility in log lam, at most one unit.
        volatility = np.sqrt(least + spread / lam**2)
        return float(lam * np.exp(min((volatility - aim) * volatility * lam**2 / spread, 1.0)))

    def solve(
        self,
        problem: _Problem,
        lam: float,
        linear: np.ndarray | None = None,
        kappa: float | None = None,
        eta: float | None = None,
    ) -> _ActiveSet:
        """Solve ``min 0.5 w'(lam S + 2 kappa I)w - c'w + eta sum |w - previous|`` from here.

        Returns the optimum.

        A primal active-set method. Each iteration minimizes over the working set's face by a
        step in its null space; where the reduced Hessian is singular (a rank-deficient
        covariance) and the objective falls along a direction of no curvature, it moves along
        that direction until a constraint blocks, which the bounded polytope guarantees.
        """
        kappa = problem.kappa if kappa is None else kappa
        eta = problem.eta if eta is None else eta
        c = (problem.mu if linear is None else linear) + 2 * kappa * problem.previous
        state = _ActiveSet(
            self.w.copy(),
            self.at_zero.copy(),
            self.at_upper.copy(),
            self.capped.copy(),
            self.at_kink & (eta > 0),
        )
        w, at_zero, at_upper, capped = state.w, state.at_zero, state.at_upper, state.capped
        at_kink = state.at_kink
        sigma, groups, upper = problem.sigma, problem.groups, problem.upper
        previous = problem.previous
        side = state.sides(problem) if eta else None
        gradient = lam * (sigma @ w) + 2 * kappa * w - c
        if eta:
            gradient += eta * side
        stalled = 0  # consecutive steps of length zero
        for _ in range(20 * len(w) + 100):
            free, blocks = state.free_blocks(groups)
            hessian = lam * sigma[free[:, None], free]
            if kappa:
                hessian.flat[:: len(free) + 1] += 2 * kappa
            step, limit = _working_set_step(hessian, _null_space(blocks), gradient[free])
            size, blocking = _ratio_test(
                w, free, blocks, step, limit, problem, capped, side, stalled > len(w)
            )
            if size > 0:
                w[free] = np.minimum(np.maximum(w[free] + size * step, 0.0), upper[free])
                moved = size * step
                gradient += lam * (moved @ sigma[free])  # sigma is symmetric: rows for columns
                if kappa:
                    gradient[free] += 2 * kappa * moved
                stalled = 0
            else:
                stalled += 1
            if blocking is not None:
                kind, index = blocking
                if kind == "zero":
                    w[index], at_zero[index] = 0.0, True
                elif kind == "upper":
                    w[index], at_upper[index] = upper[index], True
                elif kind == "kink":
                    w[index], at_kink[index] = previous[index], True
                    gradient[index] -= eta * side[index]
                    side[index] = 0.0
                else:
                    capped[index] = True
                continue
            if limit != 1.0:
                continue  # a step along a flat direction: the face's minimizer is not reached
            release, uncap, reduced = _constraints_to_drop(
                gradient, free, blocks, groups, state, eta, stalled > len(w)
            )
            if uncap is not None:
                capped[uncap] = False
            elif len(release):
                kinks = release[at_kink[release]]
                if len(kinks):  # off the kink, to the side the reduced gradient falls to
                    side[kinks] = np.where(reduced[kinks] < 0, 1.0, -1.0)
                    gradient[kinks] += eta * side[kinks]
                at_zero[release] = at_upper[release] = at_kink[release] = False
            else:
                _exact_budget(w, at_zero | at_upper | at_kink)
                return state
        raise RuntimeError("the active-set method did not converge")


def _null_space(blocks: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the steps that keep each block's sum, shape (f, f - blocks).

    ``blocks`` (shape (f,)) labels each free variable. Each block of k variables contributes
    the last k - 1 columns of the Householder reflection that maps its first axis onto the
    block's normalized vector of ones.
    """
    if blocks[0] == blocks[-1] and (blocks == blocks[0]).all():
        return _householder_complement(len(blocks))
    return _block_null_space(np.asarray(blocks, dtype=np.int64).tobytes())


@functools.lru_cache(maxsize=4096)
def _block_null_space(key: bytes) -> np.ndarray:
    """``_null_space`` of several blocks, cached by their labels (read only).

    A solve meets the same few working sets again and again.
    """
    blocks = np.frombuffer(key, dtype=np.int64)
    labels = np.unique(blocks)
    basis = np.zeros((len(blocks), len(blocks) - len(labels)))
    column = 0
    for label in labels:
        members = np.flatnonzero(blocks == label)
        k = len(members)
        basis[members, column : column + k - 1] = _householder_complement(k)
        column += k - 1
    basis.setflags(write=False)
    return basis


@functools.cache
def _householder_complement(k: int) -> np.ndarray:
    """Columns 2..k of the reflection mapping the first axis onto ones/sqrt(k), shape (k, k-1).

    They are an orthonormal basis of the vectors whose entries sum to zero. Cached by size
    (read only): the working sets of one solve keep meeting the same sizes.
    """
    v = np.full(k, -1.0 / np.sqrt(k))
    v[0] += 1.0
    block = np.outer(v, v[1:]) * (-2.0 / (v @ v)) if k > 1 else np.zeros((1, 0))
    block[1:] += np.eye(k - 1)
    block.setflags(write=False)
    return block


def _cholesky(matrix: np.ndarray) -> np.ndarray | None:
    """The upper Cholesky factor, or None when ``matrix`` is singular to working precision."""
    if len(matrix) == 0:
        return matrix
    factor, info = lapack.dpotrf(matrix, lower=0, clean=0)
    if info != 0:
        return None
    if factor.diagonal().min() ** 2 <= CURVATURE_TOLERANCE * matrix.diagonal().max():
        return None
    return factor


def _solve(factor: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``matrix^-1 rhs`` from the upper Cholesky factor of ``matrix``."""
    solution, _ = lapack.dpotrs(factor, rhs, lower=0)
    return solution


def _working_set_step(
    hessian: np.ndarray, basis: np.ndarray, gradient: np.ndarray
) -> tuple[np.ndarray, float]:
    """A step over the free variables within the working set, and how far it may go.

    Returns the Newton step to the face's minimizer with the limit 1 when the reduced Hessian
    ``Z'HZ`` is positive definite. Otherwise, when the objective falls along a direction of
    (numerically) no curvature, that direction with the length that minimizes along it (inf
    when the curvature is zero); and when it does not, the Newton step on the curved subspace.
    ``hessian`` is (f, f), ``basis`` is ``Z`` (f, m) and ``gradient`` (f,).
    """
    if basis.shape[1] == 0:
        return np.zeros(len(gradient)), 1.0
    reduced_gradient = basis.T @ gradient
    reduced = basis.T @ hessian @ basis
    factor = _cholesky(reduced)
    if factor is not None:
        return basis @ _solve(factor, -reduced_gradient), 1.0
    values, vectors = np.linalg.eigh(reduced)
    flat = values <= CURVATURE_TOLERANCE * max(float(values.max()), 0.0)
    projected = vectors.T @ reduced_gradient
    tolerance = 1e-12 * (1.0 + float(np.abs(gradient).max()))
    if (np.abs(projected[flat]) > tolerance).any():
        direction = basis @ (vectors[:, flat] @ -projected[flat])
        direction /= np.abs(direction).max()
        slope, curvature = float(gradient @ direction), float(direction @ hessian @ direction)
        return direction, (-slope / curvature if curvature > 0 else np.inf)
    curved = ~flat
    return basis @ (vectors[:, curved] @ (-projected[curved] / values[curved])), 1.0


def _penalized_root(reduced, sigma_z, rho, variance, penalty, lam, target_variance):
    """The ``lam`` at which the working set's minimizer has the target variance, by Newton.

    With the penalty ``p = 2 kappa`` the step is ``d = -(lam M + p I)^-1 (lam s + r)`` and the
    variance ``v + 2 s'd + d'Md`` falls with ``lam``; Newton's method on ``log lam``, kept
    inside the bracket of the values seen. None if no root is found.
    """
    identity = np.eye(len(reduced))
    lower, upper = 0.0, np.inf
    for _ in range(60):
        factor = _cholesky(lam * reduced + penalty * identity)
        if factor is None:
            return None
        d = -_solve(factor, lam * sigma_z + rho)
        gradient = sigma_z + reduced @ d
        value = variance + 2 * sigma_z @ d + d @ reduced @ d - target_variance
        if abs(value) <= 1e-13 * target_variance:
            return lam
        if value > 0:
            lower = lam
        else:
            upper = lam
        slope = -2 * lam * float(gradient @ _solve(factor, gradient))  # d value / d log lam
        newton = -value / slope if slope < -abs(value) / 30 else np.nan  # at most e^30 away
        if np.isfinite(newton) and lower < lam * np.exp(newton) < upper:
            lam = float(lam * np.exp(newton))
        elif np.isfinite(upper):
            lam = float(np.sqrt(lower * upper)) if lower > 0 else upper / 16
        else:
            lam *= 16
        if upper - lower <= 1e-15 * upper:
            return lam
    return None


def _ratio_test(w, free, blocks, step, limit, problem: _Problem, capped, side, lowest_index: bool):
    """The longest step up to ``limit`` that stays feasible, and the constraint that blocks it.

    A constraint that the working set already implies (fixing the last free member of a block,
    say) cannot block in exact arithmetic; its apparent movement is rounding noise, and adding
    it would make the working set linearly dependent, so it is not a candidate. With a turnover
    cost (``side`` given, see ``_ActiveSet.sides``), reaching the previous weight from either
    side blocks too. Among ties the first is taken, or, with ``lowest_index`` (after a run of
    steps of length zero, the guard against cycling), the one of lowest index.
    """
    if len(free) <= SCALAR_FREE:
        return _scalar_ratio_test(w, free, blocks, step, limit, problem, capped, side)
    current = w[free]
    # The bound each variable heads to, reached at (bound - current) / step: the same floating
    # point operations as current / -step going down and (upper - current) / step going up.
    bound = np.where(step < 0, 0.0, problem.upper[free])
    ratios = np.divide(
        bound - current, step, out=np.full(len(free), np.inf), where=np.abs(step) > STEP_NOISE
    )
    at_kink = None
    if side is not None:
        towards = side[free] * step < -STEP_NOISE
        kinks = np.divide(
            problem.previous[free] - current, step, out=np.full(len(free), np.inf), where=towards
        )
        at_kink = kinks < ratios
        ratios = np.minimum(ratios, kinks)
    free_groups = problem.groups[free]
    if capped.any():  # then some free variables are inside capped groups: each keeps one
        members = np.bincount(free_groups, minlength=len(problem.caps))
        inside = blocks >= 0
        outside = len(free) - int(np.count_nonzero(inside))  # free variables in no capped group
        ratios[~np.where(inside, members[free_groups] >= 2, outside >= 2)] = np.inf
    else:
        members, outside = None, len(free)
        if outside < 2:
            ratios[:] = np.inf
    k = int(np.argmin(ratios))
    size, blocking = limit, None
    if ratios[k] < limit:
        size = max(float(ratios[k]), 0.0)
        if lowest_index:
            k = int(np.flatnonzero(ratios <= ratios[k])[0])
        kind = (
            "kink" if at_kink is not None and at_kink[k] else ("zero" if step[k] < 0 else "upper")
        )
        blocking = (kind, int(free[k]))
    if not problem.any_cappable:
        return size, blocking
    if members is None:
        members = np.bincount(free_groups, minlength=len(problem.caps))
    growth = np.bincount(free_groups, step, len(problem.caps))
    candidates = (growth > STEP_NOISE) & ~capped & problem.cappable
    candidates &= (members >= 1) & (outside - members >= 1)
    if candidates.any():
        groups = np.flatnonzero(candidates)
        room = problem.caps[groups] - np.bincount(problem.groups, w, len(problem.caps))[groups]
        group_ratios = np.maximum(room, 0.0) / growth[groups]
        g = int(np.argmin(group_ratios))
        if group_ratios[g] < size:
            size, blocking = float(group_ratios[g]), ("cap", int(groups[g]))
    if not np.isfinite(size):
        raise RuntimeError("a direction of no curvature met no constraint")
    return size, blocking


def _scalar_ratio_test(w, free, blocks, step, limit, problem: _Problem, capped, side):
    """``_ratio_test`` for a few free variables, in Python floats.

    The same operations in the same order, so the same answer to the last bit (ties go to the
    lowest index, as ``np.argmin`` breaks them), without fifty numpy calls on arrays of two to
    five elements: on the backtests' solves, where the median iteration has two free variables,
    it took the ratio test from about 60 to about 15 microseconds.
    """
    current, steps = w[free].tolist(), step.tolist()
    uppers = problem.upper[free].tolist()
    group_of, block_of = problem.groups[free].tolist(), blocks.tolist()
    sides = side[free].tolist() if side is not None else None
    previous = problem.previous[free].tolist() if side is not None else None
    members: dict[int, int] = {}
    for g in group_of:
        members[g] = members.get(g, 0) + 1
    outside = sum(1 for b in block_of if b < 0)
    best, k, to_kink = np.inf, -1, False
    for i, s in enumerate(steps):
        implied = members[group_of[i]] < 2 if block_of[i] >= 0 else outside < 2
        if implied:
            continue
        ratio, kink = np.inf, False
        if s < -STEP_NOISE or s > STEP_NOISE:
            ratio = ((0.0 if s < 0 else uppers[i]) - current[i]) / s
        if sides is not None and sides[i] * s < -STEP_NOISE:
            reach = (previous[i] - current[i]) / s
            if reach < ratio:
                ratio, kink = reach, True
        if ratio < best:
            best, k, to_kink = ratio, i, kink
    size, blocking = limit, None
    if k >= 0 and best < limit:
        size = max(best, 0.0)
        kind = "kink" if to_kink else ("zero" if steps[k] < 0 else "upper")
        blocking = (kind, int(free[k]))
    if problem.any_cappable:
        growth: dict[int, float] = {}
        for g, s in zip(group_of, steps, strict=True):
            growth[g] = growth.get(g, 0.0) + s
        candidates = sorted(
            g
            for g, grow in growth.items()
            if grow > STEP_NOISE
            and not capped[g]
            and problem.cappable[g]
            and outside - members[g] >= 1
        )
        if candidates:
            totals = np.bincount(problem.groups, w, len(problem.caps))
            least, chosen = np.inf, -1
            for g in candidates:
                ratio = max(float(problem.caps[g] - totals[g]), 0.0) / growth[g]
                if ratio < least:
                    least, chosen = ratio, g
            if least < size:
                size, blocking = least, ("cap", chosen)
    if not np.isfinite(size):
        raise RuntimeError("a direction of no curvature met no constraint")
    return size, blocking


def _constraints_to_drop(
    gradient, free, blocks, groups, state: _ActiveSet, eta: float, lowest_index: bool
) -> tuple[np.ndarray, int | None, np.ndarray]:
    """The working-set constraint whose multiplier says the objective improves most without it.

    At the face's minimizer the gradient is constant over each block: minus the budget's
    multiplier over the free variables outside the capped groups, minus the budget's and the
    group's inside a capped group. A variable held at its previous weight may stay while its
    reduced gradient is within ``eta`` of zero. Returns the bounds or kinks to release (none or
    one), the capped group to release (or None), the one of the most negative multiplier, and
    the reduced gradient, shape (n,); with ``lowest_index`` (the guard against cycling after a
    run of steps of length zero) the first negative one, Bland's rule.
    """
    capped = state.capped
    reduced, caps = _reduced_gradient(gradient, free, blocks, groups, capped)
    tolerance = 1e-12 * (1.0 + np.abs(gradient).max())
    bounds = np.where(state.at_zero, reduced, np.where(state.at_upper, -reduced, np.inf))
    if eta:
        bounds[state.at_kink] = eta - np.abs(reduced[state.at_kink])
    negative = np.flatnonzero(bounds < -tolerance)
    negative_caps = np.flatnonzero(capped & (caps < -tolerance))
    if lowest_index:
        if len(negative):
            return negative[:1], None, reduced
        return negative, (int(negative_caps[0]) if len(negative_caps) else None), reduced
    worst_bound = bounds[negative].min() if len(negative) else 0.0
    if len(negative_caps) and caps[negative_caps].min() < worst_bound:
        return negative[:0], int(negative_caps[np.argmin(caps[negative_caps])]), reduced
    return negative[bounds[negative] == worst_bound][:1], None, reduced


def _reduced_gradient(gradient, free, blocks, groups, capped) -> tuple[np.ndarray, np.ndarray]:
    """The reduced gradient, shape (n,), and the capped groups' multipliers, shape (k,).

    Both are linear in ``gradient``; see ``_constraints_to_drop``.
    """
    caps = np.zeros(len(capped))
    if not capped.any():
        return gradient + -float(gradient[free].sum() / len(free)), caps
    outside = blocks < 0
    budget = -float(gradient[free[outside]].mean())
    inside = ~outside
    totals = np.bincount(blocks[inside], gradient[free[inside]], len(capped))
    counts = np.bincount(blocks[inside], minlength=len(capped))
    caps[capped] = -totals[capped] / counts[capped] - budget
    return gradient + budget + caps[groups], caps


def _multiplier_values(gradient, free, blocks, groups, state: _ActiveSet, eta: float):
    """The working set's multipliers for ``gradient``, each non-negative at an optimum.

    Affine in ``gradient`` and ``eta``: one value per bound, two per kink (``eta`` less the
    reduced gradient and ``eta`` plus it) and one per capped group, in a fixed order.
    """
    reduced, caps = _reduced_gradient(gradient, free, blocks, groups, state.capped)
    kinks = reduced[state.at_kink]
    return np.concatenate(
        [
            reduced[state.at_zero],
            -reduced[state.at_upper],
            eta - kinks,
            eta + kinks,
            caps[state.capped],
        ]
    )


def _exact_budget(w: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Put the rounding error of the budget on the largest free weight."""
    free = np.flatnonzero(~fixed)
    if len(free):
        i = free[np.argmax(w[free])]
        w[i] -= w.sum() - 1.0
    return w
