"""The optimizer of ``optimize``, compiled with numba: the search and the active-set method.

``optimize``'s module docstring states the problem and the method; ``optimize_portfolio`` checks
the inputs and calls ``solve`` here, which works on plain arrays so that it compiles.

Why compiled: profiled on the backtests' solves, the method in numpy took about 37 active-set
iterations and 5 quadratic programs a solve, and the median iteration had two free variables,
so nearly all its time was numpy's per-call overhead (some fifty calls an iteration on arrays of
two to five elements, about 60 microseconds) rather than arithmetic. Compiled, an iteration
costs a microsecond or two: the backtests' solves ran 4x faster and the grid's 100-ETF problems,
where PyPortfolioOpt itself is fast, 5x (``scripts/bench_engine.py``; the README quotes the
figures). The cost is numba's start-up (about 0.15 s to import, 0.4 s to load the cached machine
code at the first solve of a process), and a compilation of about 30 s at the first solve after
a change of this file, whose result numba caches beside it (``cache=True``).

The problem is the tuple ``(mu, sigma, target, upper, groups, caps, cappable, previous, kappa,
eta, ceiling)``: ``mu``, ``upper``, ``previous`` (n,), ``sigma`` (n, n) C-contiguous, ``groups``
(n,) int64, ``caps`` and ``cappable`` (k,), the rest floats; ``ceiling`` is the most volatility
the search takes as within the target (see ``optimize._problem``). A state (a feasible point
and its working set) is the tuple ``(w, at_zero, at_upper, at_kink, capped)``: the weights
(n,), the masks (n,) of the variables fixed at zero, at their bound or at their previous weight
(the kink of the turnover cost), and the mask (k,) of the groups held at their cap. The working
set is kept linearly independent together with the budget: every capped group, and the free
variables outside the capped groups, keep at least one free variable.
"""

from __future__ import annotations

import numpy as np
from numba import njit

MAX_SEARCH_STEPS = 200
VOLATILITY_TOLERANCE = 1e-9
# The search aims this far inside the target: the working set's root is exact, so it lands
# there to rounding, and a frontier steep near the least risk loses little return to the aim.
VOLATILITY_AIM = 1e-11
# The smallest share of one term of the objective that floating point resolves against the other.
RESOLUTION = 1e-10
# A bracket of the price of risk narrower than this (in log lam) is a jump of the solution.
BRACKET_WIDTH = 1e-9
# Step components below this are rounding errors of a step that is zero in exact arithmetic.
STEP_NOISE = 1e-14
# Reduced-Hessian curvature below this share of the largest counts as none (a singular matrix).
CURVATURE_TOLERANCE = 1e-11

# The statuses ``solve`` returns (see ``optimize.OptimizationResult``).
OPTIMAL, UNCONSTRAINED, MIN_VARIANCE = 0, 1, 2
# What ``solve_qp`` returns.
CONVERGED, NO_CONVERGENCE, UNBLOCKED = 0, 1, 2
# The kinds of constraint that block a step (``ratio_test``).
NONE, ZERO, UPPER, KINK, CAP = 0, 1, 2, 3, 4

jit = njit(cache=True, error_model="numpy")


@jit
def covariance_flaw(sigma):
    """What is wrong with ``sigma`` (n, n) ("" when it is finite and symmetric to 1e-10 of its
    largest entry), and its largest entry in size.

    Two passes, each within 64-by-64 tiles that fit in the cache: for a 376-asset covariance,
    in 70 microseconds where numpy's four passes took about 400 (a check of every solve's input).
    """
    n = len(sigma)
    largest, poison = 0.0, 0.0
    for i in range(n):
        for j in range(n):
            largest = max(largest, abs(sigma[i, j]))
            poison += 0.0 * sigma[i, j]  # NaN once any entry is NaN or infinite
    if poison != 0.0:
        return "must be finite", np.nan
    asymmetry = 0.0
    for top in range(0, n, 64):
        for left in range(top, n, 64):
            for i in range(top, min(top + 64, n)):
                for j in range(max(left, i + 1), min(left + 64, n)):
                    asymmetry = max(asymmetry, abs(sigma[i, j] - sigma[j, i]))
    return ("must be symmetric" if asymmetry > 1e-10 * largest + 1e-14 else ""), largest


@jit
def free_blocks(at_zero, at_upper, at_kink, capped, groups):
    """The free variables, shape (f,), and the block of each: its group if capped, else -1."""
    count = 0
    for i in range(len(groups)):
        if not (at_zero[i] or at_upper[i] or at_kink[i]):
            count += 1
    free = np.empty(count, np.int64)
    blocks = np.empty(count, np.int64)
    j = 0
    for i in range(len(groups)):
        if not (at_zero[i] or at_upper[i] or at_kink[i]):
            free[j] = i
            blocks[j] = groups[i] if capped[groups[i]] else -1
            j += 1
    return free, blocks


@jit
def face(blocks):
    """The working set's face in the coordinates of the free variables, ``blocks`` (f,).

    The steps that keep each block's sum are ``Z y`` with ``Z = R[:, kept]``, an orthonormal
    basis, where ``R`` is block-diagonal: in each block, the Householder reflection that maps its
    first member's axis onto the block's normalized vector of ones, whose other columns sum to
    zero. Returns ``order`` (f,), the free variables grouped by block (by label, then position),
    ``starts``, where each block begins in ``order`` (and f), and ``kept`` (m,): every member but
    each block's first. ``reduce_vector``, ``reduce_matrix`` and ``expand`` apply ``Z`` in O(f)
    and O(f^2), without forming it.
    """
    f = len(blocks)
    order = np.argsort(blocks, kind="mergesort")
    starts = np.empty(f + 1, np.int64)
    count = 0
    for p in range(f):
        if p == 0 or blocks[order[p]] != blocks[order[p - 1]]:
            starts[count] = p
            count += 1
    starts[count] = f
    kept = np.empty(f - count, np.int64)
    j = 0
    for b in range(count):
        for p in range(starts[b] + 1, starts[b + 1]):
            kept[j] = order[p]
            j += 1
    return order, starts[: count + 1], kept


@jit
def reflect(x, order, starts):
    """``R x`` in place, for ``x`` (f,) in the coordinates of the free variables (see ``face``)."""
    for b in range(len(starts) - 1):
        lo, hi = starts[b], starts[b + 1]
        k = hi - lo
        if k < 2:
            continue
        c = -1.0 / np.sqrt(k)
        v0 = 1.0 + c
        along = v0 * x[order[lo]]
        for p in range(lo + 1, hi):
            along += c * x[order[p]]
        along *= 2.0 / (v0 * v0 + (k - 1) * c * c)
        x[order[lo]] -= along * v0
        for p in range(lo + 1, hi):
            x[order[p]] -= along * c
    return x


@jit
def reduce_vector(x, face):
    """``Z' x``, shape (m,)."""
    order, starts, kept = face
    return reflect(x.copy(), order, starts)[kept]


@jit
def reduce_matrix(matrix, face):
    """``Z' M Z`` of a symmetric ``matrix`` (f, f), shape (m, m)."""
    order, starts, kept = face
    right = matrix.copy()
    for i in range(len(right)):
        reflect(right[i], order, starts)  # the rows of M R
    both = np.ascontiguousarray(right.T)  # R M, as M and R are symmetric
    for i in range(len(both)):
        reflect(both[i], order, starts)  # R M R
    m = len(kept)
    reduced = np.empty((m, m))
    for a in range(m):
        for b in range(m):
            reduced[a, b] = both[kept[a], kept[b]]
    return reduced


@jit
def expand(y, face, f):
    """``Z y``, shape (f,)."""
    order, starts, kept = face
    x = np.zeros(f)
    x[kept] = y
    return reflect(x, order, starts)


@jit
def dot(x, y):
    total = 0.0
    for i in range(len(x)):
        total += x[i] * y[i]
    return total


@jit
def matvec(matrix, x):
    out = np.zeros(len(matrix))
    for i in range(len(matrix)):
        out[i] = dot(matrix[i], x)
    return out


@jit
def cholesky(matrix):
    """The lower Cholesky factor of ``matrix``, and whether it is regular to working precision."""
    m = len(matrix)
    factor = np.zeros((m, m))
    for j in range(m):
        pivot = matrix[j, j]
        for p in range(j):
            pivot -= factor[j, p] * factor[j, p]
        if not pivot > 0.0:
            return factor, False
        root = np.sqrt(pivot)
        factor[j, j] = root
        for i in range(j + 1, m):
            total = matrix[i, j]
            for p in range(j):
                total -= factor[i, p] * factor[j, p]
            factor[i, j] = total / root
    if m == 0:
        return factor, True
    least, largest = np.inf, 0.0
    for j in range(m):
        least = min(least, factor[j, j])
        largest = max(largest, matrix[j, j])
    return factor, least * least > CURVATURE_TOLERANCE * largest


@jit
def cholesky_solve(factor, rhs):
    """``matrix^-1 rhs`` from the lower Cholesky factor of ``matrix``."""
    m = len(rhs)
    x = rhs.copy()
    for i in range(m):
        for p in range(i):
            x[i] -= factor[i, p] * x[p]
        x[i] /= factor[i, i]
    for i in range(m - 1, -1, -1):
        for p in range(i + 1, m):
            x[i] -= factor[p, i] * x[p]
        x[i] /= factor[i, i]
    return x


@jit
def working_set_step(hessian, face, gradient):
    """A step over the free variables within the working set, and how far it may go.

    The Newton step to the face's minimizer with the limit 1 when the reduced Hessian ``Z'HZ``
    is positive definite. Otherwise, when the objective falls along a direction of (numerically)
    no curvature, that direction with the length that minimizes along it (inf when the
    curvature is zero); and when it does not, the Newton step on the curved subspace.
    ``hessian`` is (f, f), ``face`` as ``face`` returns it and ``gradient`` (f,).
    """
    f, m = len(gradient), len(face[2])
    if m == 0:
        return np.zeros(f), 1.0
    reduced_gradient = reduce_vector(gradient, face)
    reduced = reduce_matrix(hessian, face)
    factor, regular = cholesky(reduced)
    if regular:
        return expand(cholesky_solve(factor, -reduced_gradient), face, f), 1.0
    values, vectors = np.linalg.eigh(reduced)
    threshold = CURVATURE_TOLERANCE * max(values.max(), 0.0)
    projected = matvec(np.ascontiguousarray(vectors.T), reduced_gradient)
    tolerance = 1e-12 * (1.0 + np.abs(gradient).max())
    slopes = np.zeros(m)
    sloped = False
    for i in range(m):
        if values[i] <= threshold and abs(projected[i]) > tolerance:
            sloped = True
    if sloped:
        for i in range(m):
            if values[i] <= threshold:
                slopes += vectors[:, i] * -projected[i]
        direction = expand(slopes, face, f)
        direction /= np.abs(direction).max()
        slope, curvature = dot(gradient, direction), dot(direction, matvec(hessian, direction))
        return direction, (-slope / curvature if curvature > 0 else np.inf)
    for i in range(m):
        if values[i] > threshold:
            slopes += vectors[:, i] * (-projected[i] / values[i])
    return expand(slopes, face, f), 1.0


@jit
def ratio_test(
    w,
    free,
    blocks,
    step,
    limit,
    upper,
    groups,
    caps,
    cappable,
    capped,
    side,
    previous,
    lowest_index,
):
    """The longest step up to ``limit`` that stays feasible, and the constraint that blocks it.

    Returns the length, the kind of the blocking constraint (``NONE`` when none blocks) and its
    index (a variable's, or a group's for ``CAP``); a length of inf is a direction of no
    curvature that meets nothing. A constraint that the working set already implies (fixing the
    last free member of a block, say) cannot block in exact arithmetic; its apparent movement is
    rounding noise, and adding it would make the working set linearly dependent, so it is not a
    candidate. With a turnover cost (``side`` not all zero) reaching the previous weight from
    either side blocks too. Among ties the first is taken, which after a run of steps of length
    zero (``lowest_index``, the guard against cycling) is the one of lowest index.
    """
    f, k = len(free), len(caps)
    members = np.zeros(k, np.int64)
    outside = 0
    for a in range(f):
        members[groups[free[a]]] += 1
        if blocks[a] < 0:
            outside += 1
    size, kind, index = limit, NONE, -1
    best, best_at, to_kink = np.inf, -1, False
    for a in range(f):
        i, s = free[a], step[a]
        implied = members[groups[i]] < 2 if blocks[a] >= 0 else outside < 2
        if implied:
            continue
        ratio, kink = np.inf, False
        if abs(s) > STEP_NOISE:
            ratio = ((0.0 if s < 0 else upper[i]) - w[i]) / s
        if side[i] * s < -STEP_NOISE:
            reach = (previous[i] - w[i]) / s
            if reach < ratio:
                ratio, kink = reach, True
        if ratio < best:
            best, best_at, to_kink = ratio, a, kink
    if best_at >= 0 and best < limit:
        size = max(best, 0.0)
        kind = KINK if to_kink else (ZERO if step[best_at] < 0 else UPPER)
        index = free[best_at]
    if cappable.any():
        growth = np.zeros(k)
        for a in range(f):
            growth[groups[free[a]]] += step[a]
        totals = np.zeros(k)
        for i in range(len(w)):
            totals[groups[i]] += w[i]
        least, chosen = np.inf, -1
        for g in range(k):
            if (
                growth[g] > STEP_NOISE
                and not capped[g]
                and cappable[g]
                and members[g] >= 1
                and outside - members[g] >= 1
            ):
                ratio = max(caps[g] - totals[g], 0.0) / growth[g]
                if ratio < least:
                    least, chosen = ratio, g
        if chosen >= 0 and least < size:
            size, kind, index = least, CAP, chosen
    return size, kind, index


@jit
def reduced_gradient(gradient, free, blocks, groups, capped):
    """The reduced gradient, shape (n,), and the capped groups' multipliers, shape (k,).

    At the face's minimizer the gradient is constant over each block: minus the budget's
    multiplier over the free variables outside the capped groups, minus the budget's and the
    group's inside a capped group. Both are linear in ``gradient``.
    """
    k = len(capped)
    multipliers = np.zeros(k)
    total, count = 0.0, 0
    for a in range(len(free)):
        if blocks[a] < 0:
            total += gradient[free[a]]
            count += 1
    budget = -total / count
    if capped.any():
        totals = np.zeros(k)
        counts = np.zeros(k)
        for a in range(len(free)):
            if blocks[a] >= 0:
                totals[blocks[a]] += gradient[free[a]]
                counts[blocks[a]] += 1
        for g in range(k):
            if capped[g]:
                multipliers[g] = -totals[g] / counts[g] - budget
    reduced = np.empty(len(gradient))
    for i in range(len(gradient)):
        reduced[i] = gradient[i] + budget + multipliers[groups[i]]
    return reduced, multipliers


@jit
def constraints_to_drop(
    gradient, free, blocks, groups, at_zero, at_upper, at_kink, capped, eta, lowest_index
):
    """The working-set constraint whose multiplier says the objective improves most without it.

    A variable held at its previous weight may stay while its reduced gradient is within
    ``eta`` of zero. Returns the variable whose bound or kink to release (or -1), the capped
    group to release (or -1), and the reduced gradient, shape (n,): the one of the most negative
    multiplier, or with ``lowest_index`` (the guard against cycling after a run of steps of
    length zero) the first negative one, Bland's rule.
    """
    reduced, multipliers = reduced_gradient(gradient, free, blocks, groups, capped)
    tolerance = 1e-12 * (1.0 + np.abs(gradient).max())
    first, worst_at, worst = -1, -1, 0.0
    for i in range(len(gradient)):
        if eta and at_kink[i]:
            bound = eta - abs(reduced[i])
        elif at_zero[i]:
            bound = reduced[i]
        elif at_upper[i]:
            bound = -reduced[i]
        else:
            continue
        if bound < -tolerance:
            if first < 0:
                first = i
            if bound < worst:
                worst, worst_at = bound, i
    first_cap, cap_at, cap_worst = -1, -1, np.inf
    for g in range(len(capped)):
        if capped[g] and multipliers[g] < -tolerance:
            if first_cap < 0:
                first_cap = g
            if multipliers[g] < cap_worst:
                cap_worst, cap_at = multipliers[g], g
    if lowest_index:
        return first, (first_cap if first < 0 else -1), reduced
    if cap_at >= 0 and cap_worst < worst:
        return -1, cap_at, reduced
    return worst_at, -1, reduced


@jit
def exact_budget(w, fixed):
    """Put the rounding error of the budget on the largest weight not ``fixed``; returns ``w``."""
    largest = -1
    for i in range(len(w)):
        if not fixed[i] and (largest < 0 or w[i] > w[largest]):
            largest = i
    if largest >= 0:
        w[largest] -= w.sum() - 1.0
    return w


@jit
def solve_qp(
    sigma,
    c,
    lam,
    kappa,
    eta,
    upper,
    groups,
    caps,
    cappable,
    previous,
    w,
    at_zero,
    at_upper,
    at_kink,
    capped,
    side,
):
    """Solve ``min 0.5 w'(lam S + 2 kappa I)w - c'w + eta sum |w - previous|`` from the state.

    The state's arrays are updated in place to the optimum. Each iteration minimizes over the
    working set's face by a step in its null space; where the reduced Hessian is singular (a
    rank-deficient covariance) and the objective falls along a direction of no curvature, it
    moves along that direction until a constraint blocks, which the bounded polytope
    guarantees. Returns ``CONVERGED``, ``NO_CONVERGENCE`` or ``UNBLOCKED`` (a flat direction
    that met no constraint).
    """
    n = len(w)
    gradient = lam * product(sigma, w) + 2 * kappa * w - c
    if eta:
        gradient += eta * side
    stalled = 0  # consecutive steps of length zero
    for _ in range(20 * n + 100):
        free, blocks = free_blocks(at_zero, at_upper, at_kink, capped, groups)
        f = len(free)
        hessian = np.empty((f, f))
        for a in range(f):
            for b in range(f):
                hessian[a, b] = lam * sigma[free[a], free[b]]
            hessian[a, a] += 2 * kappa
        step, limit = working_set_step(hessian, face(blocks), gradient[free])
        size, kind, index = ratio_test(
            w,
            free,
            blocks,
            step,
            limit,
            upper,
            groups,
            caps,
            cappable,
            capped,
            side,
            previous,
            stalled > n,
        )
        if not np.isfinite(size):
            return UNBLOCKED
        if size > 0:
            for a in range(f):
                i, moved = free[a], size * step[a]
                w[i] = min(max(w[i] + moved, 0.0), upper[i])
                gradient[i] += 2 * kappa * moved
                for j in range(n):  # sigma is symmetric: its row for its column
                    gradient[j] += lam * moved * sigma[i, j]
            stalled = 0
        else:
            stalled += 1
        if kind == ZERO:
            w[index], at_zero[index] = 0.0, True
        elif kind == UPPER:
            w[index], at_upper[index] = upper[index], True
        elif kind == KINK:
            w[index], at_kink[index] = previous[index], True
            gradient[index] -= eta * side[index]
            side[index] = 0.0
        elif kind == CAP:
            capped[index] = True
        if kind != NONE or limit != 1.0:
            continue  # a constraint blocked, or a step along a flat direction
        release, uncap, reduced = constraints_to_drop(
            gradient, free, blocks, groups, at_zero, at_upper, at_kink, capped, eta, stalled > n
        )
        if uncap >= 0:
            capped[uncap] = False
        elif release >= 0:
            if at_kink[release]:  # off the kink, to the side the reduced gradient falls to
                side[release] = 1.0 if reduced[release] < 0 else -1.0
                gradient[release] += eta * side[release]
            at_zero[release] = at_upper[release] = at_kink[release] = False
        else:
            exact_budget(w, at_zero | at_upper | at_kink)
            return CONVERGED
    return NO_CONVERGENCE


# ---------------------------------------------------------------------------------------------
# The search for the price of risk


@jit
def form(sigma, x, y):
    """``x' S y``, over the entries where ``x`` and ``y`` are non-zero."""
    rows = np.flatnonzero(x)
    columns = np.flatnonzero(y)
    total = 0.0
    for i in rows:
        inner = 0.0
        for j in columns:
            inner += sigma[i, j] * y[j]
        total += x[i] * inner
    return total


@jit
def volatility(sigma, w):
    return np.sqrt(max(form(sigma, w, w), 0.0))


@jit
def product(sigma, w):
    """``S w`` over the non-zero weights, shape (n,)."""
    support = np.flatnonzero(w)
    out = np.zeros(len(w))
    for i in range(len(w)):
        total = 0.0
        for j in support:
            total += sigma[i, j] * w[j]
        out[i] = total
    return out


@jit
def totals_by_group(groups, w, k):
    totals = np.zeros(k)
    for i in range(len(w)):
        totals[groups[i]] += w[i]
    return totals


@jit
def is_feasible(problem, w):
    mu, sigma, target, upper, groups, caps, cappable, previous, kappa, eta, ceiling = problem
    if abs(w.sum() - 1) > 1e-12 or (w < 0).any() or (w > upper).any():
        return False
    return not (totals_by_group(groups, w, len(caps)) > caps + 1e-12).any()


@jit
def greedy_vertex(problem):
    """The best vertex of the polytope for ``mu``: fill assets by descending return."""
    mu, sigma, target, upper, groups, caps, cappable, previous, kappa, eta, ceiling = problem
    w = np.zeros(len(mu))
    room = caps.copy()
    left = 1.0
    for i in np.argsort(-mu, kind="mergesort"):
        take = min(upper[i], left, room[groups[i]])
        if take > 0:
            w[i] = take
            room[groups[i]] -= take
            left -= take
        if left <= 0:
            break
    return w


@jit
def near_previous(problem):
    """A feasible point that keeps every previous weight the constraints allow.

    Weights above their bound are cut to it, groups above their cap scaled down to it, and what
    is left of the budget is filled greedily in order of expected return.
    """
    mu, sigma, target, upper, groups, caps, cappable, previous, kappa, eta, ceiling = problem
    k = len(caps)
    w = np.minimum(np.maximum(previous, 0.0), upper)
    totals = totals_by_group(groups, w, k)
    if (totals > caps).any():
        for i in range(len(w)):
            if totals[groups[i]] > caps[groups[i]]:
                w[i] *= caps[groups[i]] / totals[groups[i]]
        totals = totals_by_group(groups, w, k)
    if w.sum() > 1.0:
        w /= w.sum()
        totals = totals_by_group(groups, w, k)
    room = caps - totals
    left = 1.0 - w.sum()
    for i in np.argsort(-mu, kind="mergesort"):
        if left <= 1e-15:
            break
        take = min(upper[i] - w[i], left, room[groups[i]])
        if take > 0:
            w[i] += take
            room[groups[i]] -= take
            left -= take
    w = exact_budget(w, (w <= 0) | (w >= upper) | (w == previous))
    return w if is_feasible(problem, w) else greedy_vertex(problem)


@jit
def start(problem, w):
    """The working set of a feasible point: its variables at a bound or (with a turnover cost)
    at their previous weight; at a vertex the largest holding is released, so that the budget
    row stays independent of the working set."""
    mu, sigma, target, upper, groups, caps, cappable, previous, kappa, eta, ceiling = problem
    at_zero = w <= 0
    at_upper = (w >= upper) & ~at_zero
    at_kink = np.zeros(len(w), np.bool_)
    if eta:
        at_kink = (w == previous) & ~at_zero & ~at_upper
    if (at_zero | at_upper | at_kink).all():
        i = np.argmax(w)
        at_zero[i] = at_upper[i] = at_kink[i] = False
    return w, at_zero, at_upper, at_kink, np.zeros(len(caps), np.bool_)


@jit
def sides(problem, state):
    """Which side of its previous weight each variable's turnover cost is on, shape (n,).

    +1 above (or at zero when it held none: moving up buys), -1 below (or at its upper bound
    when it held as much or more: moving down sells), 0 held at the previous weight.
    """
    previous = problem[7]
    w, at_zero, at_upper, at_kink, capped = state
    side = np.where(w > previous, 1.0, -1.0)
    for i in range(len(w)):
        if at_zero[i] and previous[i] <= 0:
            side[i] = 1.0
        if at_kink[i]:
            side[i] = 0.0
    return side


@jit
def solve_at(problem, state, lam, linear, kappa, eta):
    """The optimum of the quadratic program at ``lam``, solved from ``state`` (kept as it is)."""
    mu, sigma, target, upper, groups, caps, cappable, previous, _, _, _ = problem
    w, at_zero, at_upper, at_kink, capped = state
    kinks = at_kink.copy() if eta > 0 else np.zeros(len(w), np.bool_)
    new = (w.copy(), at_zero.copy(), at_upper.copy(), kinks, capped.copy())
    side = sides(problem, new) if eta else np.zeros(len(w))
    outcome = solve_qp(
        sigma,
        linear + 2 * kappa * previous,
        lam,
        kappa,
        eta,
        upper,
        groups,
        caps,
        cappable,
        previous,
        new[0],
        new[1],
        new[2],
        new[3],
        new[4],
        side,
    )
    if outcome == UNBLOCKED:
        raise RuntimeError("a direction of no curvature met no constraint")
    if outcome != CONVERGED:
        raise RuntimeError("the active-set method did not converge")
    return new


@jit
def log_multiplier_range(problem):
    """The logs of the least and the largest price of risk that floating point resolves.

    Below the least, the risk term moves the objective by under ``RESOLUTION`` of the largest
    expected return, so the answer there is the most rewarding portfolio to that precision;
    above the largest, the returns are as far below the risk gradient.
    """
    mu, sigma, target, upper, groups, caps, cappable, previous, kappa, eta, ceiling = problem
    returns = np.abs(mu + 2 * kappa * previous).max() + eta
    if returns == 0:
        returns = 1.0
    variance = np.diag(sigma).max()
    if variance == 0:
        variance = 1.0
    least = 2 * RESOLUTION * returns / variance
    largest = returns / (RESOLUTION * target**2)
    return np.log(least), np.log(max(largest, least))


@jit
def first_log_multiplier(problem):
    """A first guess of ``log lam``: the spread of returns over the target's variance."""
    mu, sigma, target = problem[0], problem[1], problem[2]
    spread = max(np.std(mu), 1e-12)
    scale = np.sqrt(np.median(np.diag(sigma)))
    if scale == 0:
        scale = 1.0
    return np.log(spread / (target * scale))


@jit
def root_multiplier(problem, state, lam, aim):
    """The ``lam`` at which this working set's minimizer has volatility ``aim``, or NaN.

    With the working set held as equalities the minimizer is ``w + Z d(lam)``, where the
    columns of ``Z`` span the steps that keep it. Without a turnover penalty
    ``d = -M^-1 Z'(S w) - M^-1 Z'r / lam`` (``M = Z'SZ``, ``r`` the linear term's gradient), so
    the variance is ``A + B / lam^2`` and the root is explicit; with one, Newton's method on the
    variance finds it. When the working set cannot reach ``aim``, NaN, or without a penalty the
    Newton step of the volatility towards it.
    """
    mu, sigma, target, upper, groups, caps, cappable, previous, kappa, eta, ceiling = problem
    w, at_zero, at_upper, at_kink, capped = state
    free, blocks = free_blocks(at_zero, at_upper, at_kink, capped, groups)
    steps = face(blocks)
    if len(steps[2]) == 0:
        return np.nan
    support = np.flatnonzero(w)
    f = len(free)
    risk_gradient = np.zeros(f)
    for a in range(f):
        for j in support:
            risk_gradient[a] += sigma[free[a], j] * w[j]
    variance = form(sigma, w, w)
    linear = 2 * kappa * (w - previous) - mu
    if eta:
        linear += eta * sides(problem, state)
    block = np.empty((f, f))
    for a in range(f):
        for b in range(f):
            block[a, b] = sigma[free[a], free[b]]
    sigma_z = reduce_vector(risk_gradient, steps)
    rho = reduce_vector(linear[free], steps)
    reduced = reduce_matrix(block, steps)
    factor, regular = cholesky(reduced)
    if not regular:
        return np.nan
    least = variance - dot(sigma_z, cholesky_solve(factor, sigma_z))  # the variance as lam grows
    if kappa:
        if aim**2 <= least:
            return np.nan
        return penalized_root(reduced, sigma_z, rho, variance, 2 * kappa, lam, aim**2)
    spread = dot(rho, cholesky_solve(factor, rho))
    if spread <= 0:
        return np.nan
    if aim**2 > least:
        return np.sqrt(spread / (aim**2 - least))
    # No root: the Newton step of the volatility in log lam, at most one unit.
    vol = np.sqrt(least + spread / lam**2)
    return lam * np.exp(min((vol - aim) * vol * lam**2 / spread, 1.0))


@jit
def penalized_root(reduced, sigma_z, rho, variance, penalty, lam, target_variance):
    """The ``lam`` at which the working set's minimizer has the target variance, by Newton.

    With the penalty ``p = 2 kappa`` the step is ``d = -(lam M + p I)^-1 (lam s + r)`` and the
    variance ``v + 2 s'd + d'Md`` falls with ``lam``; Newton's method on ``log lam``, kept
    inside the bracket of the values seen. NaN if no root is found.
    """
    identity = np.eye(len(reduced))
    lower, upper = 0.0, np.inf
    for _ in range(60):
        factor, regular = cholesky(lam * reduced + penalty * identity)
        if not regular:
            return np.nan
        d = -cholesky_solve(factor, lam * sigma_z + rho)
        curved = matvec(reduced, d)
        gradient = sigma_z + curved
        value = variance + 2 * dot(sigma_z, d) + dot(d, curved) - target_variance
        if abs(value) <= 1e-13 * target_variance:
            return lam
        if value > 0:
            lower = lam
        else:
            upper = lam
        slope = -2 * lam * dot(gradient, cholesky_solve(factor, gradient))  # d value / d log lam
        newton = -value / slope if slope < -abs(value) / 30 else np.nan  # at most e^30 away
        if np.isfinite(newton) and lower < lam * np.exp(newton) < upper:
            lam = lam * np.exp(newton)
        elif np.isfinite(upper):
            lam = np.sqrt(lower * upper) if lower > 0 else upper / 16
        else:
            lam *= 16
        if upper - lower <= 1e-15 * upper:
            return lam
    return np.nan


@jit
def root_log_multiplier(problem, state, lam, aim, lower, upper, bracketed, open_below, t_max):
    """The log of the working set's exact root when it falls inside the bracket, else NaN.

    The bracket is the open interval (``lower``, ``upper``) between the too-risky and the
    within-target multiplier seen (``bracketed`` when both were), or the resolvable range where
    one is missing; ``open_below`` when no too-risky one was seen.
    """
    root = root_multiplier(problem, state, lam, aim)
    if not root > 0:
        return np.nan
    t = np.log(root)
    if bracketed:
        # Strictly inside: a root on the bracket's edge would solve that problem again.
        margin = 0.01 * (upper - lower)
        return t if lower + margin < t < upper - margin else np.nan
    inside = lower < t < upper or (open_below and t == upper and upper == t_max)
    return t if inside and t != np.log(lam) else np.nan


@jit
def breakpoint_log_multiplier(problem, state, lam, lower, upper, risky, t_min):
    """Just past the next multiplier at which a vertex's working set changes, else NaN.

    A working set that leaves no freedom (a vertex) has no root: its solution stays put as
    ``lam`` moves, until a multiplier of the working set changes sign. The multipliers are
    affine in ``lam`` there (each is ``a lam + b``), so that point is explicit, and the search
    jumps just past it (towards more risk when the vertex is within target, less when it is
    too risky, ``risky``) instead of narrowing the bracket a few percent at a time. Without
    such a point below a vertex within target, the least multiplier resolvable is next: it is
    then the answer.
    """
    mu, sigma, target, upper_bounds, groups, caps, cappable, previous, kappa, eta, ceiling = problem
    w, at_zero, at_upper, at_kink, capped = state
    free, blocks = free_blocks(at_zero, at_upper, at_kink, capped, groups)
    if len(face(blocks)[2]):  # not a vertex
        return np.nan
    t = np.log(lam)
    constant = 2 * kappa * (w - previous) - mu
    if eta:
        constant += eta * sides(problem, state)
    a_reduced, a_caps = reduced_gradient(product(sigma, w), free, blocks, groups, capped)
    b_reduced, b_caps = reduced_gradient(constant, free, blocks, groups, capped)
    best = np.inf if risky else -np.inf
    for i in range(len(w)):
        if at_zero[i] or at_upper[i] or at_kink[i]:
            sign = -1.0 if at_upper[i] and not at_zero[i] else 1.0
            if at_kink[i]:  # two multipliers: eta less the reduced gradient, and eta plus it
                pairs = ((-a_reduced[i], eta - b_reduced[i]), (a_reduced[i], eta + b_reduced[i]))
            else:
                pairs = ((sign * a_reduced[i], sign * b_reduced[i]), (0.0, 0.0))
            for a, b in pairs:
                best = _nearer_crossing(a, b, lam, risky, best)
    for g in range(len(capped)):
        if capped[g]:
            best = _nearer_crossing(a_caps[g], b_caps[g], lam, risky, best)
    if risky:
        if not np.isfinite(best):
            return np.nan
        jump = np.log(best) + 1e-7 * max(1.0, abs(t))
    else:
        if not np.isfinite(best):
            return t_min if lower < t else np.nan
        jump = np.log(best) - 1e-7 * max(1.0, abs(t))
    return jump if lower < jump < upper and abs(jump - t) > BRACKET_WIDTH else np.nan


@jit
def _nearer_crossing(a, b, lam, risky, best):
    """The multiplier ``a lam + b`` crosses zero at ``-b / a``: the nearest such ``lam`` above
    ``lam`` where it turns negative (``risky``), or below it where it was negative, so far."""
    if a == 0:
        return best
    crossing = -b / a
    if risky:
        return min(best, crossing) if a < 0 and crossing > lam else best
    return max(best, crossing) if a > 0 and 0 < crossing < lam else best


@jit
def blend(problem, risky, safe):
    """The mix of a too-risky and a within-target portfolio that has the target volatility.

    Both are feasible, so the mix is; the objective is concave, so the mix is at least as good
    as the same mix of their objectives. The last resort of a search whose bracket has closed
    on a jump of floating-point origin.
    """
    sigma, ceiling = problem[1], problem[10]
    a, b = safe[0], risky[0]
    d = b - a
    # vol^2 of a + s d is p s^2 + 2 q s + r, with r <= target^2 < p + 2q + r.
    p, q, r = form(sigma, d, d), form(sigma, a, d), form(sigma, a, a)
    aim = (ceiling * (1 - VOLATILITY_AIM)) ** 2
    share = (-q + np.sqrt(max(q * q - p * (r - aim), 0.0))) / p if p > 0 else 1.0
    w = a + min(max(share, 0.0), 1.0) * d
    if volatility(sigma, w) > ceiling:
        w = a.copy()
    return exact_budget(w, w <= 0)


@jit
def secant_log_multiplier(problem, t0, risky, t1, safe):
    """The secant of the volatility over the bracket (t0, t1), kept well inside it."""
    sigma, ceiling = problem[1], problem[10]
    f0 = volatility(sigma, risky[0]) - ceiling
    f1 = volatility(sigma, safe[0]) - ceiling
    secant = t1 - f1 * (t1 - t0) / (f1 - f0) if f1 != f0 else 0.5 * (t0 + t1)
    margin = 0.05 * (t1 - t0)
    return min(max(secant, t0 + margin), t1 - margin)


@jit
def search(problem, state, t):
    """Find the price of risk whose solution has the target volatility, from ``state``.

    Each step solves the quadratic program at ``lam = exp(t)`` (``t`` NaN: a first guess), then
    moves ``t`` to the multiplier at which the solution's working set, held fixed, meets the
    target exactly; once a too-risky and a within-target multiplier bracket it, steps stay
    inside. Returns the weights, the status and the multiplier (NaN unless ``OPTIMAL``).
    """
    mu, sigma, target, upper, groups, caps, cappable, previous, kappa, eta, ceiling = problem
    t_min, t_max = log_multiplier_range(problem)
    first = first_log_multiplier(problem) if np.isnan(t) else t
    t = first = min(max(first, t_min), t_max)
    aim = ceiling * (1 - VOLATILITY_AIM)
    # The too-risky (low) and the within-target (high) multipliers and solutions seen.
    t_low, low, t_high, high = np.nan, state, np.nan, state
    least, have_least = state, False  # the minimum-variance portfolio, once it is needed
    for _ in range(MAX_SEARCH_STEPS):
        lam = np.exp(t)
        state = solve_at(problem, state, lam, mu, kappa, eta)
        vol = volatility(sigma, state[0])
        if vol > ceiling:
            t_low, low = t, state
        else:
            t_high, high = t, state
            if vol >= ceiling * (1 - VOLATILITY_TOLERANCE):
                return state[0], OPTIMAL, lam
            if t <= t_min:
                return state[0], UNCONSTRAINED, np.nan
        have_low, have_high = not np.isnan(t_low), not np.isnan(t_high)
        if have_low and have_high and t_high - t_low <= BRACKET_WIDTH:
            return blend(problem, low, high), OPTIMAL, np.exp(t_high)
        if not have_high and not have_least and (t >= t_max or t >= first + 8):
            # Only too-risky answers though the risk aversion has grown a thousandfold: is the
            # target reachable at all?
            zeros = np.zeros(len(mu))
            least, have_least = solve_at(problem, state, 1.0, zeros, 0.0, 0.0), True
            if volatility(sigma, least[0]) > target:
                return least[0], MIN_VARIANCE, np.nan
        lower = t_low if have_low else t_min
        upper_t = t_high if have_high else t_max
        root = root_log_multiplier(
            problem, state, lam, aim, lower, upper_t, have_low and have_high, not have_low, t_max
        )
        if np.isnan(root):
            risky = not have_high or t_high != t
            root = breakpoint_log_multiplier(problem, state, lam, lower, upper_t, risky, t_min)
        if not np.isnan(root):
            t = root
        elif not have_high:
            if t >= t_max:
                return blend(problem, state, least), OPTIMAL, np.nan
            t = min(t + 2, t_max)
        elif not have_low:
            t = max(t - 2, t_min)
        else:
            t = secant_log_multiplier(problem, t_low, low, t_high, high)
    if not np.isnan(t_low) and not np.isnan(t_high):
        return blend(problem, low, high), OPTIMAL, np.exp(t_high)
    raise RuntimeError("the search for the price of risk did not converge")


@jit
def solve(problem, initial, log_multiplier):
    """The optimum: its weights, status and multiplier; see ``optimize.optimize_portfolio``.

    ``initial`` is a starting point (empty for none, used only when feasible) and
    ``log_multiplier`` a first guess of ``log lam`` (NaN for none).
    """
    mu, sigma, target, upper, groups, caps, cappable, previous, kappa, eta, ceiling = problem
    vertex = greedy_vertex(problem)
    if kappa == 0 and eta == 0 and volatility(sigma, vertex) <= ceiling:
        return vertex, UNCONSTRAINED, np.nan
    w = vertex
    if eta and previous.any():
        # A linear turnover cost holds most weights at their previous values: start there with
        # them fixed, rather than reach each kink by an iteration of its own.
        w = near_previous(problem)
    elif len(initial) == len(mu) and is_feasible(problem, initial):
        w = initial.copy()
    return search(problem, start(problem, w), log_multiplier)
