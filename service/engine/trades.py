"""Account trade lists: rebalance an account to a model the way a platform's rebalancer would.

An account is holdings ``[{ticker, quantity}]`` and cash, valued at prices the caller supplies;
a model is target weights ``{ticker: weight}`` summing to at most 1 (the rest is the model's
cash). `rebalance` returns the trades, the account after them, its drift before and after and
warnings that say why a target was not reached; `rebalance_many` does the same for many
accounts against one model, checking the model, the prices and the options once.

Definitions
-----------
tickers
    A ticker the caller names (a holding's, a price's, a restricted or locked one) is read with
    its surrounding spaces dropped and its case ignored: ``" agg"`` is ``AGG``, and a holding
    of ``agg`` beside one of ``AGG`` is the same ticker held twice.
value ``V``
    Cash plus quantity times price. Trades are made at the given prices without costs, so they
    leave ``V`` unchanged; every weight is a value over ``V``.
targets
    The cash target ``c`` is carved out first: a security's target is ``T = w * (1 - c)`` and
    the cash target is ``1 - sum(T) = c + (1 - c) * (the model's own cash)``. A fully invested
    model therefore ends on exactly ``c`` in cash. Tickers of weight 0 are outside the model.
drift
    Over every line, cash included: ``total`` is the sum of ``|weight - target|`` (twice the
    one-way turnover that would put the account on target) and ``max`` the largest of them.
band
    A line is out of band when ``|weight - T| > band`` (``band_type="absolute"``, in weight) or
    ``> band * T`` (``"relative"``). The caller keeps a model's default as a `TradeOptions` and
    overrides it per request with ``dataclasses.replace``. Cash has no band.

Algorithm, per account (lines: the held and the model tickers, in ticker order)
---------------------------------------------------------------------------------
1. The mode picks the lines it wants traded: ``full`` every line off target, ``band`` the lines
   out of band, and holdings outside the model always; ``buy_only`` then keeps only the buys,
   ``sell_only`` only the sells. Locked lines are left alone and restricted ones are not
   bought, each with a warning; a restricted or locked ticker that is neither held nor in the
   model changes nothing, and a ``not_needed`` warning says so.
2. Sells bring a line down to its target (all of it when the target is 0). With whole shares
   a sale is the floor of the excess shares, so the line stays at or just above target; a
   complete sale may be fractional. Sales under ``min_trade`` are not made.
3. The budget for buys is the cash, plus the sales, less the cash target: buying never takes
   cash below the cash target, nor below zero. With whole shares a buy is the floor of the
   shortfall in shares; if those buys cost more than the budget, one more share is sold of
   each line still above target, largest excess first, until they do not.
4. If the budget still falls short, the buys (whole shares: their floors) are water-filled:
   each is cut to its shortfall less a common level, chosen so that they spend the budget
   exactly; the largest shortfalls are filled first and the smallest may get nothing. Buys
   under ``min_trade`` are dropped and the budget filled again over the others.
5. With whole shares, cash left over the cash target buys a share at a time of the line
   furthest below target that it affords and whose trade then clears ``min_trade``, until none
   is left; then the extra sales of step 3 that the buys did not need are taken back.

So nothing is sold short, cash never goes negative, no ticker is both bought and sold, and a
line ends within a share of its target unless a lock, a restriction, ``min_trade`` or cash
stops it: then a warning names it. Ties are broken by ticker: the same input gives the same
trades, whatever the order of the holdings. Differences under ``DUST * V`` are not traded, and
no number of the answer is the rounding error of a zero: one under ``TINY`` (a weight, shares)
or ``TINY * max(V, 1)`` (an amount) is zero.
"""

from __future__ import annotations

import gc
import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from numbers import Real

import numpy as np

from .models import BAND_TYPES, MODES

DEFAULT_BAND = 0.02
TARGET_SUM_TOLERANCE = 1e-9
DUST = 1e-9  # of the account value: smaller differences are on target
TINY = 1e-12  # of the account value: rounding errors of sums that are equal in exact arithmetic
EMPTY_BELOW = 1e-9
"""An account worth less than this (in dollars) is empty: such a sum is rounding, not money, and
at the extreme (5e-324) its target share counts underflow to zero."""
SHARE_EPS = 1e-9  # shares: 56.9999999999 shares are 57 whole shares

LOCKED, RESTRICTED, MIN_TRADE, CASH = "locked", "restricted", "min_trade", "cash"
WHOLE_SHARES, EMPTY_ACCOUNT, NOT_NEEDED = "whole_shares", "empty_account", "not_needed"
MESSAGES = {  # ticker, weight after, target, min_trade
    LOCKED: "{0} is locked: it stays at {1:.2%} against a target of {2:.2%}",
    RESTRICTED: "{0} is restricted: not bought, it stays at {1:.2%} against a target of {2:.2%}",
    MIN_TRADE: "{0} ends at {1:.2%} against a target of {2:.2%}: a trade is under {3:,.2f}",
    CASH: "{0} ends at {1:.2%} against a target of {2:.2%}: no more cash over the cash target",
    WHOLE_SHARES: "whole shares: {0} position(s) end within a share of target, {1} furthest at "
    "{2:.3%} of the account",
    EMPTY_ACCOUNT: "the account is worth nothing: no trades",
    NOT_NEEDED: "{0} is neither held nor in the model: {1} it changed nothing",
}


class TradeInputError(ValueError):
    """Bad input: ``field`` is its path (``"holdings[2].quantity"``), ``message`` the problem."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class TradeOptions:
    """How to rebalance: see the module docstring. ``fractional=False`` trades whole shares."""

    mode: str = "full"
    band: float = DEFAULT_BAND
    band_type: str = "absolute"
    min_trade: float = 0.0
    cash_target: float = 0.0
    fractional: bool = False
    restricted: frozenset[str] = frozenset()
    locked: frozenset[str] = frozenset()


# Trades, warnings and positions are slotted, not frozen: an answer for 1,000 accounts builds
# some 120,000 of them, and a frozen dataclass takes 0.7 us to build against 0.2 us.


@dataclass(slots=True)
class Trade:
    ticker: str
    action: str  # "buy" or "sell"
    quantity: float  # > 0
    amount: float  # quantity * price, > 0


@dataclass(slots=True)
class TradeWarning:
    ticker: str | None  # None for the account as a whole
    code: str
    message: str


@dataclass(slots=True)
class Position:
    ticker: str
    quantity: float
    price: float
    value: float
    weight: float
    target: float


@dataclass(frozen=True)
class Drift:
    total: float
    max: float


@dataclass(frozen=True)
class Rebalance:
    """The trades (sells, then buys, each in ticker order) and the account after them."""

    trades: tuple[Trade, ...]
    positions: tuple[Position, ...]  # every held or model ticker, in ticker order
    cash: float
    cash_weight: float
    cash_target: float
    value: float
    drift_before: Drift
    drift_after: Drift
    warnings: tuple[TradeWarning, ...]

    def as_dict(self) -> dict:
        """The answer as JSON-ready dicts and lists (`dataclasses.asdict` is ten times slower)."""
        answer = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("trades", "positions", "warnings"):
            answer[name] = [{k: getattr(r, k) for k in r.__slots__} for r in answer[name]]
        for name in ("drift_before", "drift_after"):
            answer[name] = {"total": answer[name].total, "max": answer[name].max}
        return answer


@dataclass(frozen=True)
class _Model:
    weights: dict[str, float]  # targets after the cash target, weight > TINY only
    cash_target: float  # 1 - sum(weights) as exact arithmetic has it (no 1.1e-16)
    prices: dict[str, float]
    options: TradeOptions
    known: frozenset[str] | None


def model_options(spec, chosen: Mapping) -> dict:
    """Options for an account traded to the model ``spec``: ``chosen`` (its None values left out)
    over the model's own tolerance band; checked when a trade list uses them."""
    given = {name: value for name, value in chosen.items() if value is not None}
    return {"band": spec.band, "band_type": spec.band_type, **given}


def rebalance(
    holdings: Sequence[Mapping],
    cash: float,
    prices: Mapping[str, float],
    targets: Mapping[str, float],
    options: TradeOptions | Mapping | None = None,
    *,
    known: Iterable[str] | None = None,
) -> Rebalance:
    """Trade one account to the model.

    Parameters
    ----------
    holdings : sequence of mappings
        ``{"ticker": str, "quantity": number >= 0}``, one per ticker.
    cash : float
        Cash in the account, >= 0.
    prices : mapping
        Price per ticker, > 0; every held and every model ticker needs one.
    targets : mapping
        The model's weights, >= 0, summing to at most 1.
    options : TradeOptions or mapping, optional
        A mapping is read as `TradeOptions` keyword arguments.
    known : iterable of str, optional
        If given, every held ticker must be in it.

    Raises
    ------
    TradeInputError
        With the path of the offending field.
    """
    return _account(holdings, cash, _model(prices, targets, options, known), "")


def rebalance_many(
    accounts: Sequence[Mapping],
    prices: Mapping[str, float],
    targets: Mapping[str, float],
    options: TradeOptions | Mapping | None = None,
    *,
    known: Iterable[str] | None = None,
) -> list[Rebalance]:
    """`rebalance` for each ``{"holdings": [...], "cash": number}`` of ``accounts``.

    Fields of an account are reported as ``"accounts[3].holdings[2].quantity"``; the first bad
    account raises.

    The cyclic garbage collector is paused meanwhile (as `timeit` does): the answers are some
    200 objects an account, none in a cycle, and the collections they would set off walk the
    whole heap of the process: a third of the time of a batch in a process that has loaded
    pandas.
    """
    model = _model(prices, targets, options, known)
    results = []
    collecting = gc.isenabled()
    gc.disable()
    try:
        for k, account in enumerate(accounts):
            if not isinstance(account, Mapping):
                raise TradeInputError(f"accounts[{k}]", "must be an object with holdings and cash")
            holdings, cash = account.get("holdings", ()), account.get("cash", 0.0)
            results.append(_account(holdings, cash, model, f"accounts[{k}]."))
    finally:
        if collecting:
            gc.enable()
    return results


# ---------------------------------------------------------------------------------------------
# Checking the input


def _number(value, field: str, *, positive: bool = False, maximum: float | None = None) -> float:
    if type(value) not in (float, int) and (  # spare the common case the ABC checks
        isinstance(value, bool) or not isinstance(value, Real | Decimal)
    ):
        raise TradeInputError(field, f"must be a number, not {value!r}")
    try:
        number = float(value)
    except (ValueError, OverflowError):  # a signalling NaN, an int too large for a float
        number = math.nan
    if not math.isfinite(number):
        raise TradeInputError(field, f"must be finite, not {value!r}")
    if positive and number <= 0:
        raise TradeInputError(field, f"must be positive, not {value!r}")
    if number < 0:
        raise TradeInputError(field, f"must not be negative, not {value!r}")
    if maximum is not None and number > maximum:
        raise TradeInputError(field, f"must be at most {maximum:g}, not {value!r}")
    return number


def _symbol(ticker, field: str) -> str:
    """A ticker as a client names it, read as the API reads it: surrounding spaces dropped and
    case ignored (``" mbb"`` is ``MBB``)."""
    if not isinstance(ticker, str) or not ticker.strip():
        raise TradeInputError(field, f"must be a ticker, not {ticker!r}")
    return ticker.strip().upper()


def _tickers(value, field: str) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TradeInputError(field, f"must be a list of tickers, not {value!r}")
    return frozenset(_symbol(t, f"{field}[{i}]") for i, t in enumerate(value))


def _options(options: TradeOptions | Mapping | None) -> TradeOptions:
    if options is None:
        options = TradeOptions()
    elif isinstance(options, Mapping):
        unknown = sorted(set(options) - {f.name for f in fields(TradeOptions)})
        if unknown:
            raise TradeInputError(f"options.{unknown[0]}", "unknown option")
        options = TradeOptions(**options)
    elif not isinstance(options, TradeOptions):
        raise TradeInputError("options", f"must be an object, not {options!r}")
    if options.mode not in MODES:
        raise TradeInputError("options.mode", f"must be one of {', '.join(MODES)}")
    if options.band_type not in BAND_TYPES:
        raise TradeInputError("options.band_type", f"must be one of {', '.join(BAND_TYPES)}")
    if not isinstance(options.fractional, bool):
        raise TradeInputError("options.fractional", "must be true or false")
    restricted = _tickers(options.restricted, "options.restricted")
    locked = _tickers(options.locked, "options.locked")
    if restricted & locked:
        ticker = min(restricted & locked)
        raise TradeInputError("options.locked", f"{ticker} is both locked and restricted")
    return TradeOptions(
        mode=options.mode,
        band=_number(options.band, "options.band"),
        band_type=options.band_type,
        min_trade=_number(options.min_trade, "options.min_trade"),
        cash_target=_number(options.cash_target, "options.cash_target", maximum=1.0),
        fractional=options.fractional,
        restricted=restricted,
        locked=locked,
    )


def _model(prices, targets, options, known) -> _Model:
    options = _options(options)
    if not isinstance(prices, Mapping) and not hasattr(prices, "items"):
        raise TradeInputError("prices", "must map tickers to prices")
    checked: dict[str, float] = {}
    for name, price in prices.items():
        ticker = _symbol(str(name), f"prices.{name}")
        if ticker in checked:
            raise TradeInputError(f"prices.{name}", f"{ticker} is priced twice")
        checked[ticker] = _number(price, f"prices.{name}", positive=True)
    if not isinstance(targets, Mapping):
        raise TradeInputError("targets", "must map tickers to weights")
    weights = {t: _number(w, f"targets.{t}") for t, w in targets.items()}
    if sum(weights.values()) > 1 + TARGET_SUM_TOLERANCE:
        raise TradeInputError("targets", f"weights sum to {sum(weights.values()):g}, over 1")
    missing = sorted(t for t, w in weights.items() if w > 0 and t not in checked)
    if missing:
        raise TradeInputError(f"prices.{missing[0]}", f"no price for {missing[0]}, in the model")
    scale = 1.0 - options.cash_target
    scaled = {t: w * scale for t, w in weights.items() if w * scale > TINY}
    own_cash = float(_exact(1.0 - math.fsum(w for w in weights.values() if w * scale > TINY)))
    cash_target = float(_exact(options.cash_target + scale * max(0.0, own_cash)))
    known = None if known is None else _tickers(known, "known")
    return _Model(scaled, cash_target, checked, options, known)


def _holdings(holdings, model: _Model, where: str) -> dict[str, float]:
    if isinstance(holdings, str | bytes) or not isinstance(holdings, Sequence):
        raise TradeInputError(f"{where}holdings", "must be a list of {ticker, quantity}")
    held: dict[str, float] = {}
    prices, known = model.prices, model.known
    for i, holding in enumerate(holdings):
        if type(holding) is dict:  # the fast path, for a holding that passes every check
            ticker, quantity = holding.get("ticker"), holding.get("quantity")
            if (
                type(ticker) is str
                and ticker
                and ticker in prices
                and ticker not in held
                and (known is None or ticker in known)
                and type(quantity) in (float, int)
                and 0 <= quantity < math.inf
            ):
                held[ticker] = float(quantity)
                continue
        ticker, quantity = _holding(holding, held, model, f"{where}holdings[{i}]")
        held[ticker] = quantity
    return held


def _holding(holding, held, model: _Model, path: str) -> tuple[str, float]:
    if not isinstance(holding, Mapping):
        raise TradeInputError(path, "must be an object with ticker and quantity")
    ticker = _symbol(holding.get("ticker"), f"{path}.ticker")
    if ticker in held:
        raise TradeInputError(f"{path}.ticker", f"{ticker} is held twice")
    if model.known is not None and ticker not in model.known:
        raise TradeInputError(f"{path}.ticker", f"unknown ticker {ticker}")
    if ticker not in model.prices:
        raise TradeInputError(f"prices.{ticker}", f"no price for {ticker}, which is held")
    return ticker, _number(holding.get("quantity"), f"{path}.quantity")


# ---------------------------------------------------------------------------------------------
# The trades of one account


def _account(holdings, cash, model: _Model, where: str) -> Rebalance:
    held = _holdings(holdings, model, where)
    cash = _number(cash, f"{where}cash")
    tickers = sorted(held.keys() | model.weights.keys())
    q = np.array([held.get(t, 0.0) for t in tickers])
    p = np.array([model.prices[t] for t in tickers])
    target = np.array([model.weights.get(t, 0.0) for t in tickers])
    opts = model.options
    # dtype: with no line at all (all cash, a cash target of 1), an empty list is not of floats
    locked = np.array([t in opts.locked for t in tickers] if opts.locked else False, dtype=bool)
    restricted = np.array(
        [t in opts.restricted for t in tickers] if opts.restricted else False, dtype=bool
    )
    value = cash + float(q @ p)
    lines, unused = (tickers, q, p, target, model.cash_target), _not_needed(held, model)
    if value < EMPTY_BELOW:
        nothing = np.zeros(len(tickers))
        warning = TradeWarning(None, EMPTY_ACCOUNT, MESSAGES[EMPTY_ACCOUNT])
        return _result(lines, cash, nothing, nothing, 0.0, (warning, *unused))
    sell, buy, reasons, wanted = _plan(q, p, target, cash, value, locked, restricted, opts)
    warnings = _warnings(tickers, q, p, target, value, sell, buy, reasons, wanted, opts)
    return _result(lines, cash, sell, buy, value, warnings + unused)


def _plan(q, p, target, cash, value, locked, restricted, opts: TradeOptions):
    """Shares to sell and to buy per line, why lines were held back, and the lines wanted."""
    whole, min_trade = not opts.fractional, opts.min_trade
    dust, tiny = DUST * value, TINY * value
    tau = target * value
    gap = tau - q * p  # > 0 below target
    if opts.mode == "band":
        width = opts.band * (1.0 if opts.band_type == "absolute" else target)
        off = np.abs(gap) > width * value + dust
    else:
        off = np.abs(gap) > dust
    off |= (target == 0) & (q > 0)
    wants_sell = off & (gap < 0) & (opts.mode != "buy_only")
    wants_buy = off & (gap > 0) & (opts.mode != "sell_only")
    reasons = dict.fromkeys(np.flatnonzero((wants_sell | wants_buy) & locked).tolist(), LOCKED)
    reasons.update(dict.fromkeys(np.flatnonzero(wants_buy & restricted).tolist(), RESTRICTED))
    can_sell = wants_sell & ~locked
    can_buy = wants_buy & ~locked & ~restricted

    sell = np.where(can_sell, -gap / p, 0.0)
    if whole:
        sell = np.floor(sell + SHARE_EPS)
    sell = np.where(can_sell & (target == 0), q, np.minimum(sell, q))
    small = (sell > 0) & (sell * p < min_trade)
    reasons.update(dict.fromkeys(np.flatnonzero(small).tolist(), MIN_TRADE))
    sell[small] = 0.0
    budget = cash + float(sell @ p) - (1.0 - target.sum()) * value
    need = np.where(can_buy, gap, 0.0)

    extra: list[tuple[int, float]] = []
    want = np.floor(need / p + SHARE_EPS) * p if whole else need  # whole shares: the floor
    if whole:
        cost = float(want[want >= min_trade].sum())
        if cost > budget + tiny and can_sell.any():
            budget, extra = _sell_more(q, p, tau, sell, can_sell, budget, cost, min_trade, dust)
    buy = _buy(want, p, budget, whole, min_trade, dust, tiny, reasons)
    if whole:
        left = _spend(need - buy * p, p, buy, budget - float(buy @ p), min_trade, dust)
        for i, shares in reversed(extra):  # take back the extra sales the buys did not need
            if shares * p[i] <= left:
                sell[i] -= shares
                left -= shares * p[i]
    return sell, buy, reasons, wants_sell | wants_buy


def _sell_more(q, p, tau, sell, can_sell, budget, cost, min_trade, dust):
    """Sell one more share of lines still above target, largest excess first, to fund ``cost``.

    Updates ``sell``; returns the new budget and the ``(line, shares)`` sold more, in order.
    """
    excess, extra = (q - sell) * p - tau, []
    for i in np.argsort(-excess, kind="stable"):
        if budget >= cost or excess[i] <= dust:
            break
        shares = min(q[i] - sell[i], 1.0)  # the rest of a fractional holding
        if can_sell[i] and shares > 0 and (sell[i] + shares) * p[i] >= min_trade:
            sell[i] += shares
            budget += shares * p[i]
            extra.append((i, shares))
    return budget, extra


def _spend(short, p, buy, left, min_trade, dust) -> float:
    """Buy one share at a time of the line furthest below target that cash ``left`` affords.

    Ties go to the first ticker. Updates ``buy``; returns the cash left.
    """
    heap = [(-s, i) for i, s in enumerate(short.tolist()) if s > dust]
    heapq.heapify(heap)
    price, shares = p.tolist(), buy.tolist()
    while heap:
        minus_short, i = heapq.heappop(heap)
        if price[i] > left or (shares[i] + 1) * price[i] < min_trade:
            continue  # cash only falls: it never will
        shares[i] += 1
        left -= price[i]
        if -minus_short - price[i] > dust:
            heapq.heappush(heap, (minus_short + price[i], i))
    buy[:] = shares
    return left


def _buy(need, p, budget, whole, min_trade, dust, tiny, reasons) -> np.ndarray:
    """Shares to buy: ``need`` (value) water-filled into ``budget``, without trades < min_trade."""
    active = need > 0
    while True:
        amount, level = _fill(np.where(active, need, 0.0), budget, tiny)
        amount[amount <= dust] = 0.0
        shares = np.floor(amount / p + SHARE_EPS) if whole else amount / p
        if whole and float(shares @ p) > budget + tiny:
            shares = np.floor(amount / p)
        small = (shares > 0) & (shares * p < min_trade)
        if not small.any():
            break
        for i in np.flatnonzero(small).tolist():
            reasons.setdefault(i, CASH if level > 0 and need[i] >= min_trade else MIN_TRADE)
        active &= ~small
    if level > 0:
        for i in np.flatnonzero(active).tolist():
            reasons.setdefault(i, CASH)
    return shares


def _fill(need: np.ndarray, budget: float, tiny: float) -> tuple[np.ndarray, float]:
    """``max(need - level, 0)`` with the lowest level >= 0 at which it sums to at most budget."""
    if need.sum() <= budget + tiny:
        return need.copy(), 0.0
    if budget <= 0:
        return np.zeros_like(need), math.inf
    ordered = np.sort(need)[::-1]
    levels = (np.cumsum(ordered) - budget) / np.arange(1, len(need) + 1)
    level = float(levels[np.argmax(levels >= np.append(ordered[1:], 0.0))])
    return np.maximum(need - level, 0.0), level


# ---------------------------------------------------------------------------------------------
# The answer


def _warnings(tickers, q, p, target, value, sell, buy, reasons, wanted, opts) -> tuple:
    after = (q - sell + buy) * p
    miss = np.abs(target * value - after)
    # Whole shares end within a share of target: only a larger miss needs a reason.
    large = (miss > (0.0 if opts.fractional else p) + DUST * value).tolist()
    rounded = wanted & (miss > DUST * value)
    weight, goal, warnings = (after / value).tolist(), target.tolist(), []
    for i, code in sorted(reasons.items()):
        if code in (LOCKED, RESTRICTED) or large[i]:
            rounded[i] = False
            text = MESSAGES[code].format(tickers[i], weight[i], goal[i], opts.min_trade)
            warnings.append(TradeWarning(tickers[i], code, text))
    if not opts.fractional and rounded.any():
        worst = int(np.argmax(np.where(rounded, miss, -1.0)))
        text = MESSAGES[WHOLE_SHARES].format(rounded.sum(), tickers[worst], miss[worst] / value)
        warnings.insert(0, TradeWarning(None, WHOLE_SHARES, text))
    return tuple(warnings)


def _not_needed(held: dict[str, float], model: _Model) -> tuple[TradeWarning, ...]:
    """A warning for each restricted or locked ticker that is neither held nor in the model."""
    opts = model.options
    return tuple(
        TradeWarning(ticker, NOT_NEEDED, MESSAGES[NOT_NEEDED].format(ticker, verb))
        for verb, listed in (("restricting", opts.restricted), ("locking", opts.locked))
        for ticker in sorted(listed)
        if not held.get(ticker) and ticker not in model.weights
    )


def _exact(values, tiny: float = TINY) -> np.ndarray:
    """``values`` with every one within ``tiny`` of zero made zero: such a number is the rounding
    error of a sum that is zero in exact arithmetic, not an amount or a weight."""
    return np.where(np.abs(values) < tiny, 0.0, values)


def _drift(
    weights: np.ndarray, cash_weight: float, target: np.ndarray, cash_target: float
) -> Drift:
    gaps = _exact(np.append(np.abs(weights - target), abs(cash_weight - cash_target)))
    return Drift(total=float(gaps.sum()), max=float(gaps.max()))


def _result(lines, cash, sell, buy, value, warnings) -> Rebalance:
    """The answer for the ``lines`` ``(tickers, q, p, target, cash_target)`` of an account.

    Every number is computed here, and here a rounding error is made zero: under ``TINY`` for a
    number of shares or a weight, under ``TINY`` times the account's value (or one, if less)
    for an amount, including the trades themselves.
    """
    tickers, q, p, target, cash_target = lines
    money = TINY * max(value, 1.0)
    sell, buy = (np.where((t >= TINY) & (t * p >= money), t, 0.0) for t in (sell, buy))
    trades = [
        Trade(tickers[i], action, shares, amount)
        for action, traded in (("sell", sell), ("buy", buy))
        for i, shares, amount in zip(
            np.flatnonzero(traded > 0).tolist(),
            traded[traded > 0].tolist(),
            (traded * p)[traded > 0].tolist(),
            strict=True,
        )
    ]
    quantity = _exact(q - sell + buy)
    cash_after = cash + float(sell @ p) - float(buy @ p)
    if -DUST * value < cash_after < money:  # a rounding error of a sum that is zero
        cash_after = 0.0
    scale = value if value > 0 else 1.0  # an empty account has no weights
    weights = _exact(quantity * p / scale)
    columns = (quantity, p, _exact(quantity * p, money), weights, target)
    positions = tuple(map(Position, tickers, *(column.tolist() for column in columns)))
    cash_weight = float(_exact(cash_after / scale))
    return Rebalance(
        trades=tuple(trades),
        positions=positions,
        cash=cash_after,
        cash_weight=cash_weight,
        cash_target=cash_target,
        value=float(value),
        drift_before=_drift(q * p / scale, cash / scale, target, cash_target),
        drift_after=_drift(weights, cash_weight, target, cash_target),
        warnings=warnings,
    )
