"""The optimizer: against PyPortfolioOpt, its invariants, pinned answers, fall-backs and checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from service.engine.optimize import (
    RiskTargetUnreachable,
    max_return_at_risk,
    optimize_portfolio,
)

# ---------------------------------------------------------------------------------------------
# Helpers


def factor_problem(n: int, rng: np.random.Generator, factors: int = 4):
    """A realistic long-only problem: expected returns and a factor-structured covariance.

    Annual volatilities are uniform in 1%..15%; each asset's systematic share of variance is in
    30%..95%, the rest specific; expected returns rise with volatility, in -2%..8%.
    """
    vols = rng.uniform(0.01, 0.15, n)
    loadings = rng.normal(0.0, 1.0, (n, factors)) * rng.uniform(0.2, 1.0, factors)
    share = rng.uniform(0.3, 0.95, n)
    loadings *= np.sqrt(share / (loadings**2).sum(axis=1))[:, None]
    correlation = loadings @ loadings.T
    correlation[np.diag_indices(n)] = 1.0
    covariance = correlation * np.outer(vols, vols)
    mu = np.clip(0.35 * vols + rng.normal(0.0, 0.012, n), -0.02, 0.08)
    return mu, covariance


def greedy_vertex(mu, upper) -> np.ndarray:
    """All in the best asset up to its bound, then the next, and so on (no group caps)."""
    upper = np.broadcast_to(np.asarray(upper, dtype=float), mu.shape)
    w, left = np.zeros(len(mu)), 1.0
    for i in np.argsort(-mu, kind="stable"):
        w[i] = min(upper[i], left)
        left -= w[i]
    return w


def volatility(w, covariance) -> float:
    return float(np.sqrt(max(w @ covariance @ w, 0.0)))


def largest_violation(w, covariance, target, upper) -> float:
    """The largest violation of the bounds, the budget and the risk target, in weight units."""
    upper = np.broadcast_to(np.asarray(upper, dtype=float), w.shape)
    return max(
        float(-w.min()),
        float((w - upper).max()),
        abs(float(w.sum()) - 1.0),
        volatility(w, covariance) - target,
    )


def assert_feasible(result, mu, covariance, target, upper=1.0, groups=None, caps=None):
    """Every constraint holds, and the result reports its own return and risk."""
    w = result.weights
    upper = np.broadcast_to(np.asarray(upper, dtype=float), w.shape)
    assert np.isfinite(w).all()
    assert (w >= 0).all()
    assert (w <= upper + 1e-12).all()
    assert abs(w.sum() - 1.0) <= 1e-9
    if groups is not None:
        totals = np.bincount(groups, w, len(caps))
        assert (totals <= np.asarray(caps) + 1e-12).all()
    if result.status != "min_variance":
        assert volatility(w, covariance) <= target * (1 + 1e-9)
    assert result.status in {"optimal", "unconstrained", "min_variance"}
    assert result.expected_return == pytest.approx(float(mu @ w), rel=1e-12, abs=1e-15)
    assert result.volatility == pytest.approx(volatility(w, covariance), rel=1e-12, abs=1e-15)


# ---------------------------------------------------------------------------------------------
# Against PyPortfolioOpt


@pytest.fixture(scope="module")
def efficient_frontier():
    """PyPortfolioOpt's EfficientFrontier class (the test extra); skips without it."""
    return pytest.importorskip("pypfopt").EfficientFrontier


PYPFOPT_CASES = [
    # n assets, position cap u, target as a fraction of the riskiest (greedy) portfolio's vol
    pytest.param(50, 0.10, 0.50, id="50-assets-u10"),
    pytest.param(120, 0.05, 0.60, id="120-assets-u5"),
    pytest.param(200, 0.30, 0.35, id="200-assets-u30"),
    pytest.param(420, 0.10, 0.50, id="420-assets-u10"),
    pytest.param(80, 1.00, 0.25, id="80-assets-uncapped"),
]


@pytest.mark.parametrize(("n", "u", "fraction"), PYPFOPT_CASES)
def test_matches_pyportfolioopt_efficient_risk(efficient_frontier, n, u, fraction):
    mu, covariance = factor_problem(n, np.random.default_rng(1000 + n))
    target = fraction * volatility(greedy_vertex(mu, u), covariance)

    ours = optimize_portfolio(mu, covariance, target, upper_bounds=u)
    assert ours.status == "optimal"  # the target binds
    np.testing.assert_array_equal(max_return_at_risk(mu, covariance, target, u), ours.weights)

    frontier = efficient_frontier(mu, covariance, weight_bounds=(0, u))
    frontier.efficient_risk(target)
    theirs = float(mu @ frontier.weights)

    assert ours.expected_return >= theirs - 1e-3 * abs(theirs)
    assert ours.expected_return <= theirs + 1e-6 * abs(theirs)
    assert largest_violation(ours.weights, covariance, target, u) <= 1e-8
    assert ours.volatility == pytest.approx(target, rel=1e-8)


# ---------------------------------------------------------------------------------------------
# Properties over random problems


@st.composite
def problems(draw):
    """A random problem: caps, groups, previous weights and a turnover penalty, all optional."""
    n = draw(st.integers(2, 24))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mu, covariance = factor_problem(n, rng, factors=draw(st.integers(1, 3)))
    if draw(st.booleans()):
        mu = np.round(mu, 2)  # ties
    bounds = draw(st.sampled_from(["none", "scalar", "vector"]))
    if bounds == "none":
        upper = None
    elif bounds == "scalar":
        upper = max(draw(st.floats(1.0 / n, 1.0)), 1.0 / n + 1e-9)
    else:
        upper = rng.uniform(0.0, 0.6, n)
        upper[rng.random(n) < 0.15] = 0.0
        if upper.sum() < 1.2:
            upper = np.minimum(upper + (1.2 - upper.sum()) / n, 1.0)
    kwargs = {"upper_bounds": upper}
    per_asset = np.broadcast_to(1.0 if upper is None else upper, (n,))

    k = draw(st.integers(0, 4))
    if k:
        groups = rng.integers(0, k, n)
        caps = rng.uniform(0.1, 1.0, k)
        while np.minimum(np.bincount(groups, per_asset, k), caps).sum() < 1.0:
            caps = np.minimum(caps * 1.5, 1.0)
        kwargs |= {"groups": groups, "group_caps": caps}

    if draw(st.booleans()):
        kwargs["previous_weights"] = rng.dirichlet(np.full(n, 0.5))
    if draw(st.booleans()):
        kwargs["turnover_penalty"] = draw(
            st.sampled_from([0.0, 1e-4, 1e-3, 0.01, 0.1, 1.0, 10.0, 100.0])
        )

    riskiest = volatility(greedy_vertex(mu, per_asset), covariance)
    target = riskiest * draw(st.floats(0.02, 1.5))
    return mu, covariance, target, kwargs


def random_feasible(rng, n, kwargs) -> np.ndarray:
    """A vertex of the constraint polytope: fill the assets in a random order."""
    upper = np.broadcast_to(
        1.0 if kwargs.get("upper_bounds") is None else kwargs["upper_bounds"], (n,)
    )
    groups = kwargs.get("groups", np.zeros(n, dtype=int))
    room = np.array(kwargs.get("group_caps", [1.0]), dtype=float)
    w, left = np.zeros(n), 1.0
    for i in rng.permutation(n):
        w[i] = max(min(upper[i], left, room[groups[i]]), 0.0)
        room[groups[i]] -= w[i]
        left -= w[i]
    w[np.argmax(w)] += 1.0 - w.sum()
    return w


PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(problems())
def test_the_answer_satisfies_every_constraint(problem):
    mu, covariance, target, kwargs = problem
    result = optimize_portfolio(mu, covariance, target, **kwargs)
    upper = 1.0 if kwargs.get("upper_bounds") is None else kwargs["upper_bounds"]
    assert_feasible(
        result, mu, covariance, target, upper, kwargs.get("groups"), kwargs.get("group_caps")
    )


@PROPERTY_SETTINGS
@given(problems(), st.integers(0, 2**32 - 1), st.data())
def test_warm_starts_never_change_the_answer(problem, seed, data):
    mu, covariance, target, kwargs = problem
    n = len(mu)
    rng = np.random.default_rng(seed)
    cold = optimize_portfolio(mu, covariance, target, **kwargs)

    start = data.draw(st.sampled_from(["cold", "perturbed", "vertex", "blend", "infeasible"]))
    if start == "cold":
        initial = cold.weights.copy()
    elif start == "perturbed":  # last month's answer to a nearby problem
        nearby = mu + rng.normal(0.0, 0.005, n)
        initial = optimize_portfolio(nearby, covariance, target * 1.1, **kwargs).weights
    elif start == "vertex":
        initial = random_feasible(rng, n, kwargs)
    elif start == "blend":
        initial = 0.5 * random_feasible(rng, n, kwargs) + 0.5 * cold.weights
    else:
        initial = np.full(n, 2.0 / n)  # sums to 2: must be ignored
    guess = data.draw(st.sampled_from(["none", "exact", "scaled", "junk"]))
    if guess == "none":
        multiplier = None
    elif guess == "exact":
        multiplier = cold.multiplier
    elif guess == "scaled":
        base = cold.multiplier if np.isfinite(cold.multiplier) else 1.0
        multiplier = base * data.draw(st.sampled_from([1e-3, 0.1, 0.7, 1.3, 10.0, 1e3]))
    else:
        multiplier = data.draw(st.sampled_from([0.0, -1.0, float("nan"), 1e-30, 1e30]))

    warm = optimize_portfolio(
        mu, covariance, target, initial_weights=initial, initial_multiplier=multiplier, **kwargs
    )
    # Any point with a volatility in [target * (1 - 1e-9), target] is an answer (the optimizer's
    # VOLATILITY_TOLERANCE), so where the risk binds the return is only defined up to what that
    # band of volatility buys: 1e-9 relative, plus 1e-9 times the frontier's elasticity.
    tolerance = 1e-9 * abs(cold.expected_return) + 1e-12
    if cold.status == "optimal":
        inside = optimize_portfolio(mu, covariance, target * (1 - 1e-6), **kwargs)
        tolerance += 2e-9 / 1e-6 * abs(cold.expected_return - inside.expected_return)
    assert abs(warm.expected_return - cold.expected_return) <= tolerance

    # The status too, unless the target sits (within that band) on the most rewarding or the
    # least risky portfolio's volatility, where either neighbouring status is right, or the best
    # returns are tied (see test_tied_returns_within_target_are_not_reported_as_binding).
    riskiest = optimize_portfolio(mu, covariance, 10.0, **kwargs).volatility
    least = optimize_portfolio(mu, covariance, 1e-12, **kwargs).volatility
    on_an_edge = min(abs(riskiest - target), abs(least - target)) <= 2e-9 * target
    if not on_an_edge and len(np.unique(mu)) == n:
        assert warm.status == cold.status


# ---------------------------------------------------------------------------------------------
# Pinned answers


def test_two_uncorrelated_assets_at_a_binding_target():
    # Vols 5% and 10%, returns 2% and 6%, target 6%: all risk budget goes to the better asset,
    # so (1 - w2)^2 * 0.0025 + w2^2 * 0.01 = 0.0036, the larger root: w2 = 0.2 + 0.8 / sqrt(5).
    covariance = np.diag([0.05**2, 0.10**2])
    result = optimize_portfolio([0.02, 0.06], covariance, 0.06)
    w2 = 0.2 + 0.8 / np.sqrt(5.0)
    assert result.status == "optimal"
    np.testing.assert_allclose(result.weights, [1 - w2, w2], rtol=0, atol=1e-9)
    assert result.volatility == pytest.approx(0.06, rel=1e-9)
    assert result.expected_return == pytest.approx(0.02 + 0.04 * w2, abs=1e-10)
    assert result.multiplier > 0


def test_a_loose_target_gives_the_greedy_vertex():
    mu = np.array([0.03, 0.05, 0.01, 0.04])
    covariance = np.diag([0.02, 0.08, 0.01, 0.05]) ** 2
    result = optimize_portfolio(mu, covariance, 0.5, upper_bounds=0.6)
    assert result.status == "unconstrained"
    np.testing.assert_array_equal(result.weights, [0.0, 0.6, 0.0, 0.4])
    assert np.isnan(result.multiplier)
    weights = max_return_at_risk(mu, covariance, 0.5, [1.0, 0.3, 1.0, 0.5])
    np.testing.assert_allclose(weights, [0.2, 0.3, 0.0, 0.5], rtol=0, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# The minimum-variance fall-back


def scipy_min_variance(covariance, upper) -> np.ndarray:
    n = len(covariance)
    solution = minimize(
        lambda w: w @ covariance @ w,
        np.full(n, 1.0 / n),
        jac=lambda w: 2 * covariance @ w,
        bounds=[(0.0, upper)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(n)}],
        method="SLSQP",
        options={"ftol": 1e-16, "maxiter": 1000},
    )
    assert solution.success, solution.message
    return solution.x


def test_an_unreachable_target_returns_the_constrained_min_variance_portfolio():
    mu, covariance = factor_problem(8, np.random.default_rng(7), factors=2)
    expected = scipy_min_variance(covariance, 0.25)
    least = volatility(expected, covariance)

    with pytest.warns(RiskTargetUnreachable, match="minimum-variance"):
        w = max_return_at_risk(mu, covariance, 0.5 * least, upper_bounds=0.25)
    np.testing.assert_allclose(w, expected, atol=1e-6)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the richer interface reports it in the status instead
        result = optimize_portfolio(
            mu, covariance, 0.5 * least, upper_bounds=0.25, turnover_penalty=0.3
        )
    assert result.status == "min_variance"
    np.testing.assert_allclose(result.weights, expected, atol=1e-6)
    assert result.volatility == pytest.approx(least, rel=1e-6)
    assert result.weights.sum() == pytest.approx(1.0, abs=1e-12)


def test_a_target_just_above_the_least_risk_is_reached():
    mu, covariance = factor_problem(8, np.random.default_rng(7), factors=2)
    least = volatility(scipy_min_variance(covariance, 0.25), covariance)
    result = optimize_portfolio(mu, covariance, least * 1.001, upper_bounds=0.25)
    assert result.status == "optimal"
    assert result.volatility <= least * 1.001 * (1 + 1e-9)


# ---------------------------------------------------------------------------------------------
# Turnover and group caps


def test_the_turnover_penalty_pulls_towards_the_previous_weights():
    mu, covariance = factor_problem(30, np.random.default_rng(11))
    previous = np.random.default_rng(12).dirichlet(np.ones(30))
    previous = np.minimum(previous, 0.2)
    previous /= previous.sum()
    target = 0.6 * volatility(greedy_vertex(mu, 0.2), covariance)
    distances = []
    for kappa in [0.0, 0.1, 1.0, 10.0]:
        result = optimize_portfolio(
            mu,
            covariance,
            target,
            upper_bounds=0.2,
            previous_weights=previous,
            turnover_penalty=kappa,
        )
        assert_feasible(result, mu, covariance, target, 0.2)
        distances.append(float(np.linalg.norm(result.weights - previous)))
    assert (np.diff(distances) < 0).all(), distances


def test_group_caps_bind_and_match_pyportfolioopt(efficient_frontier):
    rng = np.random.default_rng(21)
    n, u, caps = 60, 0.15, np.array([0.25, 0.4, 0.5, 0.6])
    mu, covariance = factor_problem(n, rng)
    groups = rng.integers(0, 4, n)
    target = 0.5 * volatility(greedy_vertex(mu, u), covariance)

    free = optimize_portfolio(mu, covariance, target, upper_bounds=u)
    over = np.bincount(groups, free.weights, 4) > caps + 1e-6
    assert over.any(), "the uncapped answer should break a cap"

    capped = optimize_portfolio(
        mu, covariance, target, upper_bounds=u, groups=groups, group_caps=caps
    )
    totals = np.bincount(groups, capped.weights, 4)
    assert (totals <= caps + 1e-12).all()
    assert totals[over] == pytest.approx(caps[over], abs=1e-9)
    assert largest_violation(capped.weights, covariance, target, u) <= 1e-8
    assert capped.expected_return < free.expected_return

    frontier = efficient_frontier(mu, covariance, weight_bounds=(0, u))
    frontier.add_sector_constraints(
        dict(enumerate(groups.tolist())), {}, dict(enumerate(caps.tolist()))
    )
    frontier.efficient_risk(target)
    theirs = float(mu @ frontier.weights)
    assert capped.expected_return >= theirs - 1e-3 * abs(theirs)
    assert capped.expected_return == pytest.approx(theirs, rel=1e-3)


# ---------------------------------------------------------------------------------------------
# Degenerate inputs


def degenerate_cases() -> dict:
    """Name -> (expected returns, covariance, upper bounds)."""
    rng = np.random.default_rng(31)
    mu, covariance = factor_problem(12, rng, factors=2)
    tied = mu.copy()
    tied[[1, 4, 7]] = tied.max()
    zero_cap = np.full(12, 0.3)
    zero_cap[np.argmax(mu)] = 0.0
    loadings = rng.normal(0.0, 0.05, (12, 3))
    twin = [0, 0, *range(2, 12)]  # asset 1 is a copy of asset 0
    riskless = covariance.copy()
    riskless[0], riskless[:, 0] = 0.0, 0.0
    return {
        "all-returns-tied": (np.full(12, 0.03), covariance, 0.2),
        "best-returns-tied": (tied, covariance, 0.2),
        "best-asset-capped-at-zero": (mu, covariance, zero_cap),
        "rank-3-covariance": (mu, loadings @ loadings.T, 0.25),
        "identical-twin-assets": (mu[twin], covariance[np.ix_(twin, twin)], 0.2),
        "riskless-asset": (mu, riskless, 0.3),
        "single-asset": (np.array([0.02]), np.array([[0.01]]), 1.0),
    }


@pytest.mark.parametrize("fraction", [0.02, 0.2, 1.0])
@pytest.mark.parametrize("name", list(degenerate_cases()))
def test_degenerate_inputs_do_not_break_it(name, fraction):
    mu, covariance, upper = degenerate_cases()[name]
    target = fraction * max(volatility(greedy_vertex(mu, upper), covariance), 0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RiskTargetUnreachable)
        weights = max_return_at_risk(mu, covariance, target, upper)
    result = optimize_portfolio(mu, covariance, target, upper_bounds=upper)
    np.testing.assert_array_equal(weights, result.weights)
    assert_feasible(result, mu, covariance, target, upper)
    if name == "best-asset-capped-at-zero":
        assert result.weights[np.argmax(mu)] == 0.0


def test_a_one_factor_covariance_does_not_break_it():
    # Rank 1: the volatility of w is |b'w|, and hedged portfolios have none.
    mu, b = np.array([0.07, 0.06, 0.03]), np.array([0.04, 0.02, -0.01])
    result = optimize_portfolio(mu, np.outer(b, b), 0.026)
    assert_feasible(result, mu, np.outer(b, b), 0.026)
    assert result.status == "optimal"


def test_tied_returns_within_target_are_not_reported_as_binding():
    # Both assets return 5%; a 70/30 hedge of them is far inside the 6.5% target, so the risk
    # constraint does not bind: any fully invested mix within the target is optimal.
    covariance = np.array([[0.13**2, -0.9 * 0.13 * 0.07], [-0.9 * 0.13 * 0.07, 0.07**2]])
    result = optimize_portfolio([0.05, 0.05], covariance, 0.065)
    assert_feasible(result, np.array([0.05, 0.05]), covariance, 0.065)
    assert result.expected_return == pytest.approx(0.05, abs=1e-15)
    assert result.status == "unconstrained" or result.volatility >= 0.065 * (1 - 1e-9)


# ---------------------------------------------------------------------------------------------
# Validation


def valid_inputs():
    covariance = np.diag([0.04, 0.09, 0.01]) ** 2
    return {"expected_returns": np.array([0.02, 0.05, 0.01]), "covariance": covariance}


def nan_at(values, index):
    values = np.array(values, dtype=float)
    values.flat[index] = np.nan
    return values


BAD_INPUTS = [
    pytest.param({"covariance": np.eye(4) * 1e-4}, "covariance", id="shape-mismatch"),
    pytest.param({"expected_returns": [0.02, 0.05]}, "covariance", id="short-returns"),
    pytest.param({"expected_returns": [[0.02, 0.05, 0.01]]}, "expected_returns", id="2d-returns"),
    pytest.param({"expected_returns": []}, "expected_returns", id="no-assets"),
    pytest.param(
        {"expected_returns": nan_at([0.02, 0.05, 0.01], 1)}, "expected_returns", id="nan-returns"
    ),
    pytest.param(
        {"covariance": nan_at(np.diag([0.04, 0.09, 0.01]) ** 2, 4)}, "covariance", id="nan-cov"
    ),
    pytest.param(
        {"covariance": np.diag([0.04, 0.09, 0.01]) ** 2 + np.triu(np.full((3, 3), 1e-4), 1)},
        "covariance",
        id="asymmetric-cov",
    ),
    pytest.param({"target_volatility": 0.0}, "target_volatility", id="zero-target"),
    pytest.param({"target_volatility": -0.05}, "target_volatility", id="negative-target"),
    pytest.param({"target_volatility": float("nan")}, "target_volatility", id="nan-target"),
    pytest.param({"target_volatility": float("inf")}, "target_volatility", id="inf-target"),
    pytest.param({"upper_bounds": [0.5, -0.1, 0.6]}, "upper_bounds", id="negative-bound"),
    pytest.param({"upper_bounds": 0.3}, "upper_bounds", id="bounds-below-one"),
    pytest.param({"upper_bounds": [0.5, 0.2, 0.2]}, "upper_bounds", id="vector-bounds-below-one"),
    pytest.param({"upper_bounds": [0.5, 0.6]}, "upper_bounds", id="bounds-wrong-length"),
    pytest.param({"upper_bounds": [0.5, np.nan, 0.6]}, "upper_bounds", id="nan-bound"),
    pytest.param({"groups": [0, 1, 1]}, "group_caps", id="groups-without-caps"),
    pytest.param({"group_caps": [0.5, 0.6]}, "groups", id="caps-without-groups"),
    pytest.param(
        {"groups": [0, 1, 1], "group_caps": [0.3, 0.5]}, "group_caps", id="caps-below-one"
    ),
    pytest.param(
        {"upper_bounds": [0.2, 0.5, 0.5], "groups": [0, 1, 1], "group_caps": [1.0, 0.6]},
        "group_caps",
        id="caps-and-bounds-below-one",
    ),
    pytest.param(
        {"groups": [0, 1, 2], "group_caps": [0.5, 0.6]}, "groups", id="group-out-of-range"
    ),
    pytest.param({"groups": [0, 1], "group_caps": [0.5, 0.6]}, "groups", id="groups-wrong-length"),
    pytest.param(
        {"groups": [0.0, 1.0, 1.0], "group_caps": [0.5, 0.6]}, "groups", id="non-integer-groups"
    ),
    pytest.param({"groups": [0, 1, 1], "group_caps": [0.5, -0.6]}, "group_caps", id="negative-cap"),
    pytest.param({"previous_weights": [0.5, 0.5]}, "previous_weights", id="previous-wrong-shape"),
    pytest.param({"turnover_penalty": -0.1}, "turnover_penalty", id="negative-turnover"),
    pytest.param({"turnover_penalty": float("nan")}, "turnover_penalty", id="nan-turnover"),
    pytest.param({"turnover_cost": -0.01}, "turnover_cost", id="negative-turnover-cost"),
    pytest.param({"turnover_cost": float("inf")}, "turnover_cost", id="inf-turnover-cost"),
]


@pytest.mark.parametrize(("change", "name"), BAD_INPUTS)
def test_bad_inputs_are_refused_naming_the_argument(change, name):
    arguments = valid_inputs() | {"target_volatility": 0.05} | change
    with pytest.raises(ValueError, match=name):
        optimize_portfolio(**arguments)


def test_the_valid_inputs_of_the_validation_tests_are_valid():
    result = optimize_portfolio(**valid_inputs(), target_volatility=0.05)
    assert result.status in {"optimal", "unconstrained"}
