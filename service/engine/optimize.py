"""Long-only portfolio optimization: the most expected return at a target volatility.

The problem, for n assets::

    maximize    mu' w  -  kappa * ||w - w_prev||^2
    subject to  sqrt(w' S w) <= target,  sum(w) = 1,  0 <= w <= u,
                sum of w over each group g <= cap_g.

The risk constraint is handled by its Lagrangian: for a multiplier ``lam`` the problem becomes
the quadratic program ``minimize 0.5 w'(lam S + 2 kappa I) w - (mu + 2 kappa w_prev)' w`` over
the polytope, whose solution's volatility falls as ``lam`` grows. A safeguarded secant search on
``log lam`` finds the multiplier at which the volatility meets the target; each quadratic
program is solved exactly by a primal active-set method, warm-started from the previous one.
Because the groups partition the assets, the polytope is laminar: filling the assets greedily
in order of expected return gives its best vertex, which is also the feasible starting point.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.linalg import lapack

MAX_SEARCH_STEPS = 200
VOLATILITY_TOLERANCE = 1e-9
# Step components below this are rounding errors of a step that is zero in exact arithmetic.
STEP_NOISE = 1e-14
MAX_LOG_MULTIPLIER = 60.0


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
    initial_weights=None,
    initial_multiplier: float | None = None,
) -> OptimizationResult:
    """The richer interface of ``max_return_at_risk``, with group caps and turnover.

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
    )
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

    @classmethod
    def build(cls, mu, sigma, target, upper, groups, caps, previous, kappa) -> _Problem:
        mu = np.asarray(mu, dtype=float)
        if mu.ndim != 1 or len(mu) == 0:
            raise ValueError("expected_returns must be a non-empty vector")
        n = len(mu)
        mu = _array(mu, "expected_returns", (n,))
        sigma = _array(sigma, "covariance", (n, n))
        if not np.allclose(sigma, sigma.T, rtol=1e-10, atol=1e-14):
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
        return cls(mu, sigma, float(target), upper, groups, caps, previous, float(kappa))

    @property
    def cappable(self) -> np.ndarray:
        """Groups whose cap can bind: a cap of 1 or more never does, given the budget."""
        return self.caps < 1.0

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

    def solve(self, initial_weights=None, initial_multiplier=None) -> OptimizationResult:
        vertex = self.greedy_vertex()
        if self.kappa == 0 and self.volatility(vertex) <= self.target:
            return self.result(vertex, "unconstrained")
        start = vertex
        if initial_weights is not None:
            initial = np.asarray(initial_weights, dtype=float)
            if initial.shape == vertex.shape and self.is_feasible(initial):
                start = initial.copy()
        guess = None
        if initial_multiplier is not None and np.isfinite(initial_multiplier):
            guess = float(np.log(initial_multiplier)) if initial_multiplier > 0 else None
        return self.search(_ActiveSet.start(self, start), guess)

    def search(self, state: _ActiveSet, t: float | None = None) -> OptimizationResult:
        """Find the multiplier whose solution has the target volatility.

        Newton steps on ``log lam`` (the slope comes from the working set's KKT system), kept
        inside the bracket of a too-risky and a within-target multiplier once there is one.
        """
        if t is None:
            spread = max(float(np.std(self.mu)), 1e-12)
            scale = float(np.sqrt(np.median(np.diag(self.sigma)))) or 1.0
            t = float(np.log(spread / (self.target * scale)))
        low = high = None  # (log lam, excess volatility, state): too risky / within target
        checked_free = False
        for _ in range(MAX_SEARCH_STEPS):
            lam = float(np.exp(t))
            state = state.solve(self, lam)
            volatility = self.volatility(state.w)
            excess = volatility - self.target
            if excess > 0:
                low = (t, excess, state)
            else:
                high = (t, excess, state)
                if -excess <= VOLATILITY_TOLERANCE * self.target:
                    return self.result(state.w, "optimal", lam)
            # Aim a little inside the target so that Newton lands on the feasible side.
            aim = volatility - self.target * (1 - VOLATILITY_TOLERANCE / 2)
            slope = state.volatility_slope(self, lam, volatility)
            newton = t - aim / slope if slope < 0 else np.nan
            if high is None:
                if t > MAX_LOG_MULTIPLIER:
                    return self.result(self.min_variance(state), "min_variance")
                t = newton if t < newton < t + 8 else t + 2
            elif low is None:
                if self.kappa > 0 and not checked_free:
                    # The penalty keeps the problem bounded without risk: is that within target?
                    free = state.solve(self, 0.0)
                    if self.volatility(free.w) <= self.target:
                        return self.result(free.w, "unconstrained")
                    checked_free = True
                if t < -MAX_LOG_MULTIPLIER:
                    return self.result(state.w, "unconstrained")
                t = newton if t - 8 < newton < t else t - 2
            else:
                t = _bracketed(newton, low, high)
        return self.result(high[2].w, "optimal", float(np.exp(high[0])))

    def min_variance(self, state: _ActiveSet) -> np.ndarray:
        return state.solve(self, lam=1.0, linear=np.zeros(len(self.mu)), kappa=0.0).w


def _bracketed(newton: float, low: tuple, high: tuple) -> float:
    """The Newton step if it falls inside the bracket, else a secant step kept well inside."""
    (t0, f0, _), (t1, f1, _) = low, high
    lo, hi = min(t0, t1), max(t0, t1)
    if lo < newton < hi:
        return float(newton)
    secant = t1 - f1 * (t1 - t0) / (f1 - f0)
    margin = 0.05 * (hi - lo)
    return float(np.clip(secant, lo + margin, hi - margin))


@dataclass
class _ActiveSet:
    """A feasible point and its working set: fixed variables and the groups held at their cap.

    ``at_zero`` and ``at_upper`` mark variables fixed at a bound; ``capped`` marks groups in the
    working set. The set is kept linearly independent together with the budget constraint.
    """

    w: np.ndarray
    at_zero: np.ndarray
    at_upper: np.ndarray
    capped: np.ndarray

    @classmethod
    def start(cls, problem: _Problem, w: np.ndarray) -> _ActiveSet:
        at_zero = w <= 0
        at_upper = (w >= problem.upper) & ~at_zero
        if (at_zero | at_upper).all():
            # A vertex: release the largest holding so the budget row stays independent.
            i = int(np.argmax(w))
            at_zero[i] = at_upper[i] = False
        return cls(w, at_zero, at_upper, np.zeros(len(problem.caps), dtype=bool))

    def volatility_slope(self, problem: _Problem, lam: float, volatility: float) -> float:
        """d volatility / d log lam with this working set held fixed."""
        free = np.flatnonzero(~(self.at_zero | self.at_upper))
        if volatility <= 0 or len(free) == 0:
            return 0.0
        risk_gradient = problem.sigma @ self.w
        hessian = lam * problem.sigma[np.ix_(free, free)]
        hessian.flat[:: len(free) + 1] += 2 * problem.kappa
        rows = _constraint_rows(problem.groups[free], np.flatnonzero(self.capped))
        direction, _ = _equality_qp_step(hessian, rows, risk_gradient[free])
        return float(lam * (risk_gradient[free] @ direction) / volatility)

    def solve(
        self,
        problem: _Problem,
        lam: float,
        linear: np.ndarray | None = None,
        kappa: float | None = None,
    ) -> _ActiveSet:
        """Solve ``min 0.5 w'(lam S + 2 kappa I)w - c'w`` from this point; return the optimum."""
        kappa = problem.kappa if kappa is None else kappa
        c = (problem.mu if linear is None else linear) + 2 * kappa * problem.previous
        w, at_zero, at_upper, capped = (
            self.w.copy(),
            self.at_zero.copy(),
            self.at_upper.copy(),
            self.capped.copy(),
        )
        sigma, groups, upper = problem.sigma, problem.groups, problem.upper
        gradient = lam * (sigma @ w) + 2 * kappa * w - c
        for _ in range(20 * len(w) + 100):
            free = np.flatnonzero(~(at_zero | at_upper))
            rows = _constraint_rows(groups[free], np.flatnonzero(capped))
            hessian = lam * sigma[np.ix_(free, free)]
            if kappa:
                hessian.flat[:: len(free) + 1] += 2 * kappa
            step, multipliers = _equality_qp_step(hessian, rows, gradient[free])
            size, blocking = _ratio_test(w, free, step, problem, capped)
            if size > 0:
                w[free] = np.clip(w[free] + size * step, 0.0, upper[free])
                change = lam * (sigma[:, free] @ (size * step))
                change[free] += 2 * kappa * size * step
                gradient += change
            if blocking is not None:
                kind, index = blocking
                if kind == "zero":
                    w[index], at_zero[index] = 0.0, True
                elif kind == "upper":
                    w[index], at_upper[index] = upper[index], True
                else:
                    capped[index] = True
                continue
            drop = _most_negative_multiplier(
                gradient, multipliers, groups, at_zero, at_upper, capped
            )
            if drop is None:
                return _ActiveSet(_exact_budget(w, at_zero | at_upper), at_zero, at_upper, capped)
            kind, index = drop
            if kind == "zero":
                at_zero[index] = False
            elif kind == "upper":
                at_upper[index] = False
            else:
                capped[index] = False
        raise RuntimeError("the active-set method did not converge (degenerate problem?)")


def _constraint_rows(free_groups: np.ndarray, capped_groups: np.ndarray) -> np.ndarray:
    """Equality rows over the free variables: the budget, then each capped group."""
    rows = np.ones((1 + len(capped_groups), len(free_groups)))
    rows[1:] = free_groups[None, :] == capped_groups[:, None]
    return rows


def _equality_qp_step(
    hessian: np.ndarray, rows: np.ndarray, gradient: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The step p minimizing 0.5 p'Hp + g'p with rows p = 0, and the rows' multipliers."""
    n, m = len(gradient), len(rows)
    kkt = np.zeros((n + m, n + m))
    kkt[:n, :n] = hessian
    kkt[:n, n:] = rows.T
    kkt[n:, :n] = rows
    rhs = np.concatenate([-gradient, np.zeros(m)])
    # LAPACK's gesv directly: these systems are small and solved thousands of times, where the
    # argument checks of the high-level wrappers cost more than the factorization.
    *_, solution, info = lapack.dgesv(kkt, rhs)
    if info != 0:
        solution = linalg.lstsq(kkt, rhs, check_finite=False)[0]
    return solution[:n], solution[n:]


def _ratio_test(w, free, step, problem: _Problem, capped) -> tuple[float, tuple | None]:
    """The longest step up to 1 that stays feasible, and the constraint that blocks it.

    A constraint that the working set already implies (fixing the last free member of a capped
    group, say) cannot block in exact arithmetic; its apparent movement is rounding noise, and
    adding it would make the working set linearly dependent, so it is not a candidate.
    """
    free_groups = problem.groups[free]
    in_capped = capped[free_groups]
    members = np.bincount(free_groups, minlength=len(problem.caps))
    outside = len(free) - int(in_capped.sum())  # free variables in no capped group
    fixable = np.where(in_capped, members[free_groups] >= 2, outside >= 2)
    current = w[free]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(
            step < -STEP_NOISE,
            current / -step,
            np.where(step > STEP_NOISE, (problem.upper[free] - current) / step, np.inf),
        )
    ratios[~fixable] = np.inf
    k = int(np.argmin(ratios))
    size, blocking = 1.0, None
    if ratios[k] < 1.0:
        size = max(float(ratios[k]), 0.0)
        blocking = ("zero" if step[k] < 0 else "upper", int(free[k]))
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
    return size, blocking


def _most_negative_multiplier(gradient, multipliers, groups, at_zero, at_upper, capped):
    """The working-set constraint whose multiplier says the objective improves without it."""
    caps = np.zeros(len(capped))
    caps[capped] = multipliers[1:]
    reduced = gradient + multipliers[0] + caps[groups]
    tolerance = 1e-12 * (1.0 + np.abs(gradient).max())
    bounds = np.where(at_zero, reduced, np.where(at_upper, -reduced, np.inf))
    k = int(np.argmin(bounds))
    worst, drop = -tolerance, None
    if bounds[k] < worst:
        worst, drop = bounds[k], ("zero" if at_zero[k] else "upper", k)
    if capped.any():
        g = int(np.argmin(np.where(capped, caps, np.inf)))
        if caps[g] < worst:
            drop = ("cap", g)
    return drop


def _exact_budget(w: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Put the rounding error of the budget on the largest free weight."""
    free = np.flatnonzero(~fixed)
    if len(free):
        i = free[np.argmax(w[free])]
        w[i] -= w.sum() - 1.0
    return w
