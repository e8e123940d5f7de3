"""Account trade lists: the rules for every input, hand-computed trades, warnings, bad input."""

from __future__ import annotations

import gc
import json
import math
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.engine.trades import (
    MODES,
    Drift,
    TradeInputError,
    TradeOptions,
    rebalance,
    rebalance_many,
)

SETTINGS = settings(max_examples=300, deadline=None)
POOL = [f"T{i:02d}" for i in range(80)]

# ---------------------------------------------------------------------------------------------
# Random accounts


@st.composite
def problems(draw, mode=None, fractional=None, plain=False):
    """``(holdings, cash, prices, targets, options)``: 1-60 holdings, a model of 1-40 tickers.

    ``plain`` leaves out restrictions, locks and min_trade.
    """
    model = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=40, unique=True))
    raw = draw(st.lists(st.floats(0.0, 1.0), min_size=len(model), max_size=len(model)))
    invested = draw(st.one_of(st.just(1.0), st.floats(0.5, 1.0)))
    total = sum(raw)
    if total == 0:
        raw, total = [1.0] * len(model), float(len(model))
    targets = {t: w / total * invested for t, w in zip(model, raw, strict=True)}
    held = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=60, unique=True))
    quantity = st.one_of(
        st.integers(0, 1_000_000).map(float),
        st.integers(0, 2_000).map(float),
        st.floats(0.0, 10_000.0).map(lambda v: round(v, 4)),
    )
    holdings = [{"ticker": t, "quantity": draw(quantity)} for t in held]
    cash = draw(st.one_of(st.just(0.0), st.floats(0.0, 1e4), st.floats(0.0, 1e7)))
    price_list = draw(st.lists(st.floats(1.0, 500.0), min_size=len(POOL), max_size=len(POOL)))
    prices = {t: round(p, 2) for t, p in zip(POOL, price_list, strict=True)}
    special = draw(st.lists(st.sampled_from(sorted(set(model) | set(held))), unique=True))
    cut = draw(st.integers(0, len(special)))
    options = TradeOptions(
        mode=draw(st.sampled_from(MODES)) if mode is None else mode,
        band=draw(st.floats(0.0, 0.1)),
        band_type=draw(st.sampled_from(["absolute", "relative"])),
        min_trade=0.0 if plain else draw(st.one_of(st.just(0.0), st.floats(0.0, 5_000.0))),
        cash_target=draw(st.one_of(st.just(0.0), st.floats(0.0, 0.2), st.floats(0.0, 1.0))),
        fractional=draw(st.booleans()) if fractional is None else fractional,
        restricted=frozenset() if plain else frozenset(special[:cut]),
        locked=frozenset() if plain else frozenset(special[cut:]),
    )
    return holdings, cash, prices, targets, options


def quantities(holdings):
    return {h["ticker"]: h["quantity"] for h in holdings}


def after(result):
    return {p.ticker: p.quantity for p in result.positions}


def shares_to_target(result, ticker):
    position = next(p for p in result.positions if p.ticker == ticker)
    return position.quantity - position.target * result.value / position.price


def warned(result, code):
    return {w.ticker for w in result.warnings if w.code == code}


# ---------------------------------------------------------------------------------------------
# The rules


@SETTINGS
@given(problems())
def test_no_short_position_and_no_negative_cash(problem):
    result = rebalance(*problem)
    assert all(p.quantity >= 0 for p in result.positions)
    assert result.cash >= -1e-9 * result.value
    assert result.cash + sum(p.value for p in result.positions) == pytest.approx(result.value)


@SETTINGS
@given(problems())
def test_modes_locks_and_restrictions(problem):
    holdings, _, _, _, options = problem
    result = rebalance(*problem)
    actions = {t.action for t in result.trades}
    if options.mode == "buy_only":
        assert "sell" not in actions
    if options.mode == "sell_only":
        assert "buy" not in actions
    before, now = quantities(holdings), after(result)
    for ticker in options.locked:
        assert now.get(ticker, 0.0) == before.get(ticker, 0.0)
    assert not {t.ticker for t in result.trades if t.action == "buy"} & options.restricted


@SETTINGS
@given(problems())
def test_no_trade_under_min_trade_and_whole_shares_are_whole(problem):
    holdings, _, prices, _, options = problem
    result = rebalance(*problem)
    before = quantities(holdings)
    for trade in result.trades:
        assert trade.quantity > 0 and trade.amount > 0
        assert trade.amount >= options.min_trade
        assert trade.amount == pytest.approx(trade.quantity * prices[trade.ticker])
        complete_sale = trade.action == "sell" and trade.quantity == before[trade.ticker]
        if not options.fractional and not complete_sale:
            assert trade.quantity == int(trade.quantity)


@SETTINGS
@given(problems(mode="full", fractional=True, plain=True))
def test_full_fractional_ends_on_the_model(problem):
    result = rebalance(*problem)
    if result.value == 0:
        assert [w.code for w in result.warnings] == ["empty_account"]
        return
    for position in result.positions:
        assert position.weight == pytest.approx(position.target, abs=1e-6)
    assert result.cash_weight == pytest.approx(result.cash_target, abs=1e-6)
    assert result.drift_after.max <= 1e-6
    assert not result.warnings


@SETTINGS
@given(problems(mode="full", fractional=False, plain=True))
def test_full_whole_shares_end_within_a_share_of_target(problem):
    result = rebalance(*problem)
    short_of_cash = warned(result, "cash")
    for position in result.positions:
        if position.ticker not in short_of_cash:
            assert abs(shares_to_target(result, position.ticker)) <= 1 + 1e-6


@SETTINGS
@given(problems())
def test_same_input_same_trades_whatever_the_order(problem):
    holdings, cash, prices, targets, options = problem
    first = rebalance(*problem)
    assert rebalance(*problem) == first
    shuffled = rebalance(holdings[::-1], cash, prices, dict(reversed(targets.items())), options)
    assert shuffled == first
    traded = [t.ticker for t in first.trades]
    assert len(traded) == len(set(traded)), "a ticker both bought and sold"
    sells = [t.ticker for t in first.trades if t.action == "sell"]
    assert [t.ticker for t in first.trades] == sorted(sells) + sorted(set(traded) - set(sells))


@SETTINGS
@given(problems(), st.floats(1e3, 1e9))
def test_an_account_on_target_gets_no_trades(problem, value):
    _, _, prices, targets, options = problem
    scale = 1 - options.cash_target
    holdings = [  # a weight under 1e-12 is none: the engine's rounding error (TINY)
        {"ticker": t, "quantity": w * scale * value / prices[t]}
        for t, w in targets.items()
        if w * scale > 1e-12
    ]
    cash = max(0.0, value * (1 - scale * sum(targets.values())))
    result = rebalance(holdings, cash, prices, targets, options)
    assert result.trades == ()
    used = {p.ticker for p in result.positions if p.quantity or p.target}
    assert [(w.ticker, w.code) for w in result.warnings] == [
        *((t, "not_needed") for t in sorted(options.restricted - used)),
        *((t, "not_needed") for t in sorted(options.locked - used)),
    ]
    assert result.drift_before.total < 1e-9


@SETTINGS
@given(problems())
def test_trading_twice_trades_nothing_more(problem):
    _, _, prices, targets, options = problem
    first = rebalance(*problem)
    holdings = [{"ticker": p.ticker, "quantity": p.quantity} for p in first.positions]
    assert rebalance(holdings, first.cash, prices, targets, options).trades == ()


@SETTINGS
@given(problems(mode="band"))
def test_band_trades_only_what_is_out_of_band(problem):
    holdings, cash, prices, targets, options = problem
    result = rebalance(*problem)
    before = quantities(holdings)
    for trade in result.trades:
        target = next(p.target for p in result.positions if p.ticker == trade.ticker)
        weight = before.get(trade.ticker, 0.0) * prices[trade.ticker] / result.value
        width = options.band * (1 if options.band_type == "absolute" else target)
        assert target == 0 or abs(weight - target) > width


def numbers(answer):
    """Every number of a JSON answer."""
    if isinstance(answer, dict):
        answer = list(answer.values())
    if isinstance(answer, list):
        return [n for item in answer for n in numbers(item)]
    return [answer] if isinstance(answer, float | int) and not isinstance(answer, bool) else []


@SETTINGS
@given(problems())
def test_no_number_of_an_answer_is_a_rounding_error_of_zero(problem):
    answer = rebalance(*problem).as_dict()
    noise = [x for x in numbers(answer) if x != 0 and abs(x) < 1e-12]
    assert noise == [], answer


# ---------------------------------------------------------------------------------------------
# Hand-computed examples: a $10,000 account, 3 holdings, a 2-ticker model

HOLDINGS = [
    {"ticker": "AAA", "quantity": 40},  # $4,000
    {"ticker": "BBB", "quantity": 60},  # $3,000
    {"ticker": "CCC", "quantity": 80},  # $2,000
]
PRICES = {"AAA": 100.0, "BBB": 50.0, "CCC": 25.0, "DDD": 20.0}
MODEL = {"AAA": 0.6, "DDD": 0.4}


def trades(result):
    return [(t.ticker, t.action, t.quantity, t.amount) for t in result.trades]


def test_full_rebalance_of_a_10000_account():
    result = rebalance(HOLDINGS, 1000, PRICES, MODEL)
    assert trades(result) == [
        ("BBB", "sell", 60, 3000),
        ("CCC", "sell", 80, 2000),
        ("AAA", "buy", 20, 2000),
        ("DDD", "buy", 200, 4000),
    ]
    assert after(result) == {"AAA": 60, "BBB": 0, "CCC": 0, "DDD": 200}
    assert result.cash == 0 and result.value == 10_000 and result.warnings == ()
    # |.4-.6| + .3 + .2 + |0-.4| + cash .1
    assert result.drift_before.total == pytest.approx(1.2)
    assert result.drift_before.max == pytest.approx(0.4)
    assert result.drift_after.total == pytest.approx(0)
    answer = json.loads(json.dumps(result.as_dict()))
    assert answer["trades"][0] == {
        "ticker": "BBB",
        "action": "sell",
        "quantity": 60,
        "amount": 3000,
    }
    assert answer["positions"][0] == {
        "ticker": "AAA",
        "quantity": 60,
        "price": 100,
        "value": 6000,
        "weight": 0.6,
        "target": 0.6,
    }
    assert answer["drift_before"] == {"total": pytest.approx(1.2), "max": pytest.approx(0.4)}
    assert answer["cash"] == 0 and answer["warnings"] == []


def test_the_cash_target_is_carved_out_of_the_model():
    result = rebalance(HOLDINGS, 1000, PRICES, MODEL, TradeOptions(cash_target=0.05))
    assert trades(result)[2:] == [("AAA", "buy", 17, 1700), ("DDD", "buy", 190, 3800)]
    assert result.cash == 500 and result.cash_target == pytest.approx(0.05)
    # A model holding 10% cash: the securities get 90% of the 95%.
    half = rebalance(HOLDINGS, 1000, PRICES, {"AAA": 0.5, "DDD": 0.4}, {"cash_target": 0.05})
    assert half.cash_target == pytest.approx(0.05 + 0.1 * 0.95)


def test_whole_shares_round_down_and_say_so():
    result = rebalance(HOLDINGS, 1000, {**PRICES, "DDD": 30.0}, MODEL)
    assert trades(result)[3] == ("DDD", "buy", 133, 3990)  # $4,000 / $30 = 133.3
    assert result.cash == pytest.approx(10)
    [warning] = result.warnings
    assert (warning.ticker, warning.code) == (None, "whole_shares")
    fractional = rebalance(HOLDINGS, 1000, {**PRICES, "DDD": 30.0}, MODEL, {"fractional": True})
    assert fractional.trades[3].quantity == pytest.approx(4000 / 30)


def test_whole_shares_sell_one_more_share_to_fund_a_buy():
    # $3,333 in 101 AAA at $33; 60/40 AAA/BBB. Selling 40 AAA ($1,320) does not buy 19 BBB
    # at $70 ($1,330): a 41st share is sold, and AAA ends 0.6 of a share under its target.
    prices = {"AAA": 33.0, "BBB": 70.0}
    result = rebalance([{"ticker": "AAA", "quantity": 101}], 0, prices, {"AAA": 0.6, "BBB": 0.4})
    assert trades(result) == [("AAA", "sell", 41, 1353), ("BBB", "buy", 19, 1330)]
    assert result.cash == pytest.approx(23)


def test_whole_shares_spend_left_over_cash_on_the_largest_shortfall():
    # $1,000 of cash, 50/50 at $300 and $290: 1 share each, then $410 left: a second share of
    # BBB (short $210) rather than of AAA (short $200).
    prices = {"AAA": 300.0, "BBB": 290.0}
    result = rebalance([], 1000, prices, {"AAA": 0.5, "BBB": 0.5})
    assert trades(result) == [("AAA", "buy", 1, 300), ("BBB", "buy", 2, 580)]
    assert result.cash == pytest.approx(120)


def test_band_mode_trades_what_is_out_of_band_back_to_target():
    holdings = [{"ticker": "AAA", "quantity": 52}, {"ticker": "BBB", "quantity": 44}]
    prices, model = {"AAA": 100.0, "BBB": 100.0}, {"AAA": 0.5, "BBB": 0.5}
    band = TradeOptions(mode="band", band=0.02, fractional=True)
    # AAA is 2 points over (on the edge, in band); BBB 6 under: buy it back to 50%.
    result = rebalance(holdings, 400, prices, model, band)
    assert trades(result) == [("BBB", "buy", 4, 400)]
    assert warned(result, "cash") == {"BBB"}  # 50% needs $600, the cash is $400
    relative = replace(band, band=0.2, band_type="relative")  # +-10 points of a 50% target
    assert rebalance(holdings, 400, prices, model, relative).trades == ()
    assert trades(rebalance(holdings, 400, prices, model, replace(band, mode="full"))) == [
        ("AAA", "sell", 2, 200),
        ("BBB", "buy", 6, 600),
    ]


def test_holdings_outside_the_model_are_sold_even_in_band():
    holdings = [{"ticker": "AAA", "quantity": 99}, {"ticker": "ZZZ", "quantity": 1}]
    prices = {"AAA": 100.0, "ZZZ": 100.0}
    result = rebalance(holdings, 0, prices, {"AAA": 1.0}, {"mode": "band", "band": 0.05})
    assert trades(result) == [("ZZZ", "sell", 1, 100)]


def test_buy_only_fills_the_largest_shortfall_first():
    # AAA is $1,500 short, BBB $500, CCC $1,000 over (not sold); $1,000 to invest: AAA gets it
    # all (water-filling), and both end $500 short.
    holdings = [
        {"ticker": "AAA", "quantity": 25},
        {"ticker": "BBB", "quantity": 35},
        {"ticker": "CCC", "quantity": 30},
    ]
    prices = {"AAA": 100.0, "BBB": 100.0, "CCC": 100.0}
    model = {"AAA": 0.4, "BBB": 0.4, "CCC": 0.2}
    result = rebalance(holdings, 1000, prices, model, {"mode": "buy_only"})
    assert trades(result) == [("AAA", "buy", 10, 1000)]
    assert warned(result, "cash") == {"AAA", "BBB"}
    assert result.cash == 0


def test_sell_only_raises_cash_to_its_target():
    holdings = [{"ticker": "AAA", "quantity": 50}, {"ticker": "BBB", "quantity": 50}]
    prices, model = {"AAA": 100.0, "BBB": 100.0}, {"AAA": 0.5, "BBB": 0.5}
    result = rebalance(holdings, 0, prices, model, {"mode": "sell_only", "cash_target": 0.1})
    assert trades(result) == [("AAA", "sell", 5, 500), ("BBB", "sell", 5, 500)]
    assert result.cash == 1000


def test_a_fractional_holding_outside_the_model_is_sold_whole():
    holdings = [{"ticker": "AAA", "quantity": 10}, {"ticker": "ZZZ", "quantity": Decimal("2.5")}]
    prices = {"AAA": 100.0, "ZZZ": 40.0}
    result = rebalance(holdings, 0, prices, {"AAA": 1.0})
    assert trades(result) == [("ZZZ", "sell", 2.5, 100), ("AAA", "buy", 1, 100)]
    assert result.cash == 0


# ---------------------------------------------------------------------------------------------
# Warnings

TWO = {"AAA": 0.5, "BBB": 0.5}
AT_100 = {"AAA": 100.0, "BBB": 100.0}


def test_a_restricted_model_ticker_is_not_bought():
    result = rebalance(
        [{"ticker": "AAA", "quantity": 100}], 0, AT_100, TWO, {"restricted": ["BBB"]}
    )
    assert trades(result) == [("AAA", "sell", 50, 5000)]
    assert result.cash == 5000
    assert [(w.ticker, w.code) for w in result.warnings] == [("BBB", "restricted")]


def test_a_locked_position_is_not_traded():
    result = rebalance([{"ticker": "AAA", "quantity": 100}], 0, AT_100, TWO, {"locked": {"AAA"}})
    assert result.trades == ()
    assert [(w.ticker, w.code) for w in result.warnings] == [("AAA", "locked"), ("BBB", "cash")]


def test_a_trade_under_min_trade_is_not_made():
    holdings = [{"ticker": "AAA", "quantity": 49}, {"ticker": "BBB", "quantity": 50}]
    options = {"min_trade": 500, "fractional": True}
    result = rebalance(holdings, 100, AT_100, TWO, options)
    assert result.trades == ()
    assert [(w.ticker, w.code) for w in result.warnings] == [("AAA", "min_trade")]


def test_not_enough_cash():
    holdings = [{"ticker": "AAA", "quantity": 60}]
    result = rebalance(holdings, 0, AT_100, TWO, {"mode": "buy_only", "fractional": True})
    assert result.trades == ()
    assert [(w.ticker, w.code) for w in result.warnings] == [("BBB", "cash")]


def test_an_empty_account():
    result = rebalance([{"ticker": "AAA", "quantity": 0}], 0, AT_100, TWO)
    assert result.trades == ()
    assert [(w.ticker, w.code) for w in result.warnings] == [(None, "empty_account")]
    assert result.value == 0 and result.cash_weight == 0


def test_a_model_whose_weights_sum_to_one_in_floats_leaves_no_cash_target():
    # 0.6 + 0.3 + 0.1 is 0.9999999999999999 in floats: the cash target was 1.1e-16.
    model = {"AAA": 0.6, "BBB": 0.3, "CCC": 0.1}
    result = rebalance([], 1000, PRICES, model, {"fractional": True})
    assert result.cash_target == 0 and result.cash == 0 and result.cash_weight == 0
    assert result.drift_after == Drift(total=0, max=0)
    with_cash = rebalance([], 1000, PRICES, model, {"cash_target": 0.05})
    assert with_cash.cash_target == 0.05


def test_an_account_of_cash_only_with_nothing_to_buy_takes_a_lock():
    # A cash target of 1 leaves no line at all: the lock once failed on an empty list.
    result = rebalance([], 1000, PRICES, MODEL, {"cash_target": 1.0, "locked": ["AAA"]})
    assert result.trades == () and result.positions == () and result.cash_target == 1
    assert [(w.ticker, w.code) for w in result.warnings] == [("AAA", "not_needed")]


def test_a_restricted_or_locked_ticker_neither_held_nor_in_the_model_is_named():
    holdings = [*HOLDINGS, {"ticker": "EEE", "quantity": 0}]
    options = {"restricted": ["DDD", "EEE", "ZZZ"], "locked": ["BBB", "YYY"]}
    result = rebalance(holdings, 1000, {**PRICES, "EEE": 10.0}, MODEL, options)
    unused = [(w.ticker, w.message) for w in result.warnings if w.code == "not_needed"]
    assert unused == [
        ("EEE", "EEE is neither held nor in the model: restricting it changed nothing"),
        ("ZZZ", "ZZZ is neither held nor in the model: restricting it changed nothing"),
        ("YYY", "YYY is neither held nor in the model: locking it changed nothing"),
    ]
    assert warned(result, "restricted") == {"DDD"} and warned(result, "locked") == {"BBB"}


# ---------------------------------------------------------------------------------------------
# A client's tickers: spaces around them dropped, case ignored

SPELLINGS = ["aaa", " AAA", "Aaa ", "\taaa\n"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_restricted_ticker_in_any_spelling_is_never_bought(mode, spelling):
    holdings = [{"ticker": "BBB", "quantity": 60}, {"ticker": "DDD", "quantity": 100}]
    options = {"mode": mode, "restricted": [spelling], "fractional": True}
    result = rebalance(holdings, 5000, PRICES, MODEL, options)
    assert "AAA" not in {t.ticker for t in result.trades if t.action == "buy"}
    if mode != "sell_only":
        assert warned(result, "restricted") == {"AAA"}
    assert result == rebalance(holdings, 5000, PRICES, MODEL, {**options, "restricted": ["AAA"]})


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_locked_ticker_in_any_spelling_is_never_traded(mode, spelling):
    holdings = [{"ticker": "AAA", "quantity": 90}, {"ticker": "BBB", "quantity": 10}]
    options = {"mode": mode, "locked": [spelling], "fractional": True}
    result = rebalance(holdings, 0, PRICES, MODEL, options)
    assert "AAA" not in {t.ticker for t in result.trades}
    assert after(result)["AAA"] == 90
    if mode != "buy_only":
        assert warned(result, "locked") == {"AAA"}
    assert result == rebalance(holdings, 0, PRICES, MODEL, {**options, "locked": ["AAA"]})
    assert result == rebalance(holdings, 0, PRICES, MODEL, {**options, "locked": ["AAA"]})


def test_holdings_and_prices_in_any_spelling_are_the_same_tickers():
    holdings = [{"ticker": f" {h['ticker'].lower()}", "quantity": h["quantity"]} for h in HOLDINGS]
    prices = {f"{t.lower()} ": p for t, p in PRICES.items()}
    assert rebalance(holdings, 1000, prices, MODEL) == rebalance(HOLDINGS, 1000, PRICES, MODEL)
    known = rebalance(holdings, 1000, prices, MODEL, known=["aaa", "bbb", "ccc ", "DDD"])
    assert trades(known) == trades(rebalance(HOLDINGS, 1000, PRICES, MODEL))


# ---------------------------------------------------------------------------------------------
# Bad input


def call(holdings=HOLDINGS, cash=1000, prices=PRICES, targets=MODEL, options=None, **kwargs):
    return rebalance(holdings, cash, prices, targets, options, **kwargs)


def one(**change):
    return [HOLDINGS[0], {**HOLDINGS[1], **change}, HOLDINGS[2]]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"holdings": one(quantity=-1)}, "holdings[1].quantity"),
        ({"holdings": one(quantity=math.nan)}, "holdings[1].quantity"),
        ({"holdings": one(quantity=math.inf)}, "holdings[1].quantity"),
        ({"holdings": one(quantity="12")}, "holdings[1].quantity"),
        ({"holdings": one(quantity=True)}, "holdings[1].quantity"),
        ({"holdings": one(ticker="AAA")}, "holdings[1].ticker"),
        ({"holdings": one(ticker="")}, "holdings[1].ticker"),
        ({"holdings": one(ticker=" ")}, "holdings[1].ticker"),
        ({"holdings": one(ticker="aaa ")}, "holdings[1].ticker"),
        ({"holdings": one(ticker=7)}, "holdings[1].ticker"),
        ({"prices": {**PRICES, " bbb": 50.0}}, "prices. bbb"),
        ({"holdings": one(ticker="XYZ")}, "prices.XYZ"),
        ({"holdings": [*HOLDINGS, 3]}, "holdings[3]"),
        ({"holdings": "AAA"}, "holdings"),
        ({"cash": -0.01}, "cash"),
        ({"cash": math.inf}, "cash"),
        ({"cash": None}, "cash"),
        ({"prices": {**PRICES, "BBB": math.nan}}, "prices.BBB"),
        ({"prices": {**PRICES, "BBB": 0}}, "prices.BBB"),
        ({"prices": {**PRICES, "BBB": -3}}, "prices.BBB"),
        ({"prices": {t: p for t, p in PRICES.items() if t != "DDD"}}, "prices.DDD"),
        ({"targets": {"AAA": 0.6, "DDD": math.nan}}, "targets.DDD"),
        ({"targets": {"AAA": 0.6, "DDD": -0.1}}, "targets.DDD"),
        ({"targets": {"AAA": 0.7, "DDD": 0.4}}, "targets"),
        ({"options": {"mode": "rebalance"}}, "options.mode"),
        ({"options": {"band": -0.01}}, "options.band"),
        ({"options": {"band": math.nan}}, "options.band"),
        ({"options": {"band_type": "percent"}}, "options.band_type"),
        ({"options": {"min_trade": -5}}, "options.min_trade"),
        ({"options": {"cash_target": 1.5}}, "options.cash_target"),
        ({"options": {"cash_target": -0.1}}, "options.cash_target"),
        ({"options": {"fractional": "yes"}}, "options.fractional"),
        ({"options": {"restricted": "AAA"}}, "options.restricted"),
        ({"options": {"locked": ["AAA"], "restricted": ["AAA", "DDD"]}}, "options.locked"),
        ({"options": {"locked": ["aaa"], "restricted": [" AAA"]}}, "options.locked"),
        ({"options": {"restricted": ["AAA", ""]}}, "options.restricted[1]"),
        ({"options": {"locked": [None]}}, "options.locked[0]"),
        ({"options": {"bands": 0.02}}, "options.bands"),
        ({"known": {"AAA", "BBB", "DDD"}}, "holdings[2].ticker"),
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(TradeInputError) as caught:
        call(**kwargs)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_a_bad_account_of_a_batch_names_the_account():
    accounts = [{"holdings": HOLDINGS, "cash": 0}, {"holdings": one(quantity=-1), "cash": 0}]
    with pytest.raises(TradeInputError) as caught:
        rebalance_many(accounts, PRICES, MODEL)
    assert caught.value.field == "accounts[1].holdings[1].quantity"
    with pytest.raises(TradeInputError) as caught:
        rebalance_many([{"holdings": HOLDINGS, "cash": math.nan}], PRICES, MODEL)
    assert caught.value.field == "accounts[0].cash"
    with pytest.raises(TradeInputError) as caught:
        rebalance_many([{"holdings": HOLDINGS}, HOLDINGS], PRICES, MODEL)
    assert caught.value.field == "accounts[1]"


def test_a_batch_is_each_account_rebalanced():
    accounts = [{"holdings": HOLDINGS[:k], "cash": 1000 * k} for k in range(4)]
    options = TradeOptions(cash_target=0.02, min_trade=100)
    assert rebalance_many(accounts, PRICES, MODEL, options) == [
        rebalance(a["holdings"], a["cash"], PRICES, MODEL, options) for a in accounts
    ]


def test_a_batch_leaves_the_garbage_collector_as_it_found_it():
    bad = [{"holdings": HOLDINGS, "cash": -1}]
    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            rebalance_many([{"holdings": HOLDINGS, "cash": 0}], PRICES, MODEL)
            assert gc.isenabled() is enabled
            with pytest.raises(TradeInputError):
                rebalance_many(bad, PRICES, MODEL)
            assert gc.isenabled() is enabled
        finally:
            gc.enable()
