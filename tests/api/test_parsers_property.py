"""Property tests of the request parsers (issue 5, "Bad input"): whatever a client sends, the
answer is what the request means or a problem naming the input at fault, never a 500.

* Every query parameter parser: ``as_of``, ``format`` and the Accept header of the weights,
  ``limit`` and ``cursor`` of the pages of versions and of keys, ``from`` and ``to`` of the
  trades, ``format`` of the performance table, and any parameter no schema knows. Any string
  gives either the value parsed, checked against an oracle written here from the documented
  rules (the version in force on the date, the format, the page, the trades), or a problem
  naming the field and where it was: 422, 406 for Accept, 404 for a date or version that
  names nothing.
* Push validation (``schemas.models.PushSchema`` and the view's rules): bodies built to break
  the rules (unknown tickers, indices rather than ETFs, duplicates in any spelling, NaN and
  infinities, weights outside [0, 1], a sum more than 1e-6 from 1, an effective date before the
  latest version's) are answered 201 exactly when no rule is broken, else 422 naming only
  fields at fault; any ``Idempotency-Key`` is used or refused naming it; and any JSON body at
  all is a 201, 400 or 422, never a 500.

They use the Flask test client of ``tests/api/conftest.py``, on both backends. A fixture's app
serves every example of a test, so the oracles read what earlier examples changed (the latest
version after a push). The example counts are moderate, to keep the suite fast, and there is
no deadline: a backend's first request is slow.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import date, timedelta
from functools import cache

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from schemas.common import CURSOR_PATTERN
from schemas.models import FORMAT_NAMES, IDEMPOTENCY_KEY_MAX, MAX_VERSION, PRINTABLE
from schemas.performance import PERFORMANCE_FORMATS
from service.api.extensions import get_redis
from service.engine.backtest import run_backtests
from service.engine.performance import truncate
from service.formats import FORMATS, NotAcceptable, negotiate
from service.publishing import securities_catalog
from service.worker.jobs import publish_performance

from .conftest import SEED_VERSIONS, bearer

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
PROBLEM = "application/problem+json"
MODEL = "agg-plus-baseline"
WEIGHTS = f"/v1/models/{MODEL}/weights"
REBALANCES = f"/v1/models/{MODEL}/rebalances"
TRADES = f"/v1/models/{MODEL}/trades"
SEEDED = len(SEED_VERSIONS[MODEL])
IN_FORCE = [
    (effective, version) for version, (_, effective, _) in enumerate(SEED_VERSIONS[MODEL], 1)
]
PAGE_MAX = 100
WEIGHT_SUM_TOLERANCE = 1e-6

TEXT = st.text(st.characters(codec="utf-8"), max_size=30)
"""Any string a URL can carry."""
NUMERALS = st.integers(min_value=-3, max_value=2 * PAGE_MAX).map(str)
HUGE = st.integers(min_value=MAX_VERSION - 2, max_value=2**70).map(str)


@pytest.fixture
def reader(make_key):
    return bearer(make_key(scopes=["models:read", "performance:read"]))


@pytest.fixture
def pusher(make_key):
    return bearer(make_key(scopes=["rebalances:write", "models:read"]))


@pytest.fixture
def admin(make_key):
    return bearer(make_key(scopes=["admin", "models:read", "performance:read"]))


def problem_fields(response, status: int) -> set[tuple[str, str]]:
    """The (field, in) pairs of a problem+json answer of ``status``."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == PROBLEM
    problem = response.json
    assert (problem["status"], problem["type"]) == (status, "about:blank")
    return {(e["field"], e["in"]) for e in problem["errors"]}


def assert_refused(response, status: int, field: str, location: str = "query") -> None:
    assert problem_fields(response, status) == {(field, location)}


def integer(value: str) -> int | None:
    """The integer a query string holds, as marshmallow's Integer reads it; None if none."""
    try:
        return int(value)
    except ValueError:
        return None


# --- weights: as_of, format, Accept -----------------------------------------------------------


def in_force(on: date) -> int | None:
    """The seeded version in force on ``on``: the latest effective on or before it."""
    versions = [version for effective, version in IN_FORCE if effective <= on]
    return versions[-1] if versions else None


@SETTINGS
@given(value=st.one_of(st.dates().map(date.isoformat), st.from_regex(r"\d{4}-\d\d-\d\d"), TEXT))
def test_as_of_is_a_date_or_a_problem_naming_it(client, reader, value):
    response = client.get(WEIGHTS, query_string={"as_of": value}, headers=reader)
    try:
        on = date.fromisoformat(value)
    except ValueError:
        assert_refused(response, 422, "as_of")
        return
    version = in_force(on)
    if version is None:
        assert_refused(response, 404, "as_of")
    else:
        assert response.status_code == 200
        assert response.json["version"] == version


@st.composite
def any_case(draw, names):
    name = draw(st.sampled_from(names))
    return "".join(draw(st.sampled_from([c.lower(), c.upper()])) for c in name)


@SETTINGS
@given(value=st.one_of(any_case(FORMAT_NAMES), TEXT))
def test_format_is_a_format_in_any_case_or_a_422_naming_it(client, reader, value):
    response = client.get(WEIGHTS, query_string={"format": value}, headers=reader)
    if value.lower() in FORMAT_NAMES:
        assert response.status_code == 200
        assert response.mimetype == FORMATS[value.lower()].media_type
    else:
        assert_refused(response, 422, "format")


MEDIA_RANGE = st.builds(
    "{}{}".format,
    st.sampled_from(
        [f.accept_type for f in FORMATS.values()] + ["*/*", "text/*", "application/*", "x/y"]
    ),
    st.sampled_from(["", ";q=0", ";q=0.5", ";q=1", ";q=1.0001", ";q=-1", ";q=x", ";level=1"]),
)
ACCEPT = st.one_of(
    st.lists(MEDIA_RANGE, max_size=4).map(", ".join),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
)


@SETTINGS
@given(accept=ACCEPT)
def test_accept_gives_a_format_or_a_406_naming_it(client, reader, accept):
    response = client.get(WEIGHTS, headers={**reader, "Accept": accept})
    try:
        expected = negotiate(None, accept)
    except NotAcceptable:
        assert_refused(response, 406, "Accept", "headers")
        return
    assert response.status_code == 200
    assert response.mimetype == expected.media_type


# --- pages: limit and cursor ------------------------------------------------------------------


@SETTINGS
@given(value=st.one_of(NUMERALS, TEXT))
def test_limit_of_the_versions_is_a_page_size_or_a_422_naming_it(client, reader, value):
    response = client.get(REBALANCES, query_string={"limit": value}, headers=reader)
    limit = integer(value)
    if limit is None or not 1 <= limit <= PAGE_MAX:
        assert_refused(response, 422, "limit")
        return
    assert response.status_code == 200
    page = response.json
    assert [r["version"] for r in page["data"]] == list(range(SEEDED, 0, -1))[:limit]
    assert (page["next_cursor"] is None) == (limit >= SEEDED)


@SETTINGS
@given(value=st.one_of(NUMERALS, HUGE, TEXT))
def test_cursor_of_the_versions_is_a_version_or_a_422_naming_it(client, reader, value):
    response = client.get(REBALANCES, query_string={"cursor": value}, headers=reader)
    if not re.fullmatch("[0-9]{1,10}", value) or int(value) > MAX_VERSION:
        assert_refused(response, 422, "cursor")
        return
    assert response.status_code == 200
    before = [version for version in range(SEEDED, 0, -1) if version < int(value)]
    assert [r["version"] for r in response.json["data"]] == before


@SETTINGS
@given(limit=st.one_of(NUMERALS, TEXT), cursor=st.one_of(st.none(), st.integers(0, 5), TEXT))
def test_limit_and_cursor_of_the_keys_are_a_page_or_a_422_naming_them(
    client, make_key, admin, limit, cursor
):
    """``cursor``: None for none, a number for that key's id (keys made by the fixtures)."""
    for name in ("a", "b", "c"):
        make_key(name=name)
    ids = [k["id"] for k in client.get("/v1/keys?limit=100", headers=admin).json["data"]]
    if isinstance(cursor, int):
        cursor = ids[cursor % len(ids)]
    query = {"limit": limit} if cursor is None else {"limit": limit, "cursor": cursor}
    response = client.get("/v1/keys", query_string=query, headers=admin)
    size = integer(limit)
    faults = set()
    if cursor is not None and not re.fullmatch(CURSOR_PATTERN, cursor):
        faults.add(("cursor", "query"))  # not the shape of an id: refused as the query parses
    if size is None or not 1 <= size <= PAGE_MAX:
        faults.add(("limit", "query"))
    elif not faults and cursor is not None and cursor not in ids:
        faults.add(("cursor", "query"))  # an unknown id is only looked up once the query parsed
    if faults:
        assert problem_fields(response, 422) == faults
        return
    assert response.status_code == 200
    after = ids[ids.index(cursor) + 1 :] if cursor is not None else ids
    assert [k["id"] for k in response.json["data"]] == after[:size]


# --- trades: from and to ----------------------------------------------------------------------

VERSION_TEXT = st.one_of(
    st.none(), st.integers(min_value=-1, max_value=SEEDED + 2).map(str), HUGE, TEXT
)


@SETTINGS
@given(start=VERSION_TEXT, end=VERSION_TEXT)
def test_from_and_to_are_versions_or_a_problem_naming_them(client, reader, start, end):
    query = {name: value for name, value in (("from", start), ("to", end)) if value is not None}
    response = client.get(TRADES, query_string=query, headers=reader)
    parsed = {name: integer(value) for name, value in query.items()}
    invalid = {(n, "query") for n, v in parsed.items() if v is None or not 1 <= v <= MAX_VERSION}
    if invalid:
        assert problem_fields(response, 422) == invalid
        return
    target = parsed.get("to", SEEDED)
    if target > SEEDED:
        assert_refused(response, 404, "to")
        return
    source = parsed.get("from", target - 1)
    if source >= target:
        assert_refused(response, 422, "from")
        return
    assert response.status_code == 200
    answer = response.json
    assert (answer["from_version"], answer["to_version"]) == (source or None, target)


# --- performance: format ----------------------------------------------------------------------


@pytest.fixture
def performance(api_app, small_sample):
    """The performance documents of one model, as the worker publishes them."""
    short = truncate(small_sample, pd.Period("2016-12", "M"))
    with api_app.app_context():
        publish_performance(get_redis(), short, run_backtests(short, [MODEL]))


@SETTINGS
@given(value=st.one_of(st.sampled_from(PERFORMANCE_FORMATS), TEXT))
def test_performance_format_is_json_or_csv_or_a_422_naming_it(client, reader, performance, value):
    response = client.get("/v1/performance", query_string={"format": value}, headers=reader)
    if value not in PERFORMANCE_FORMATS:
        assert_refused(response, 422, "format")
        return
    assert response.status_code == 200
    media = {"json": "application/json", "csv": "text/csv", "html": "text/html"}
    assert response.mimetype == media[value]


# --- any parameter no schema knows ------------------------------------------------------------

QUERIES = {
    WEIGHTS: {"as_of", "format"},
    REBALANCES: {"limit", "cursor"},
    TRADES: {"from", "to"},
    "/v1/performance": {"format", "as_of"},
    f"/v1/models/{MODEL}/factsheet": {"format", "as_of"},
    "/v1/keys": {"limit", "cursor"},
}


@SETTINGS
@given(
    path=st.sampled_from(sorted(QUERIES)),
    # All digits: see the next test.
    name=TEXT.filter(lambda name: name and not name.isdigit()),
    value=TEXT,
)
def test_an_unknown_query_parameter_is_a_422_naming_it(client, admin, path, name, value):
    if name in QUERIES[path]:
        return
    response = client.get(path, query_string={name: value}, headers=admin)
    assert_refused(response, 422, name)


def test_an_unknown_query_parameter_of_digits_is_named_as_sent(client, admin):
    response = client.get(WEIGHTS, query_string={"0": "x"}, headers=admin)
    assert_refused(response, 422, "0")


# --- pushes -----------------------------------------------------------------------------------


@cache
def tickers(kind: str) -> list[str]:
    catalog = securities_catalog(None)
    return sorted(catalog.index[catalog["kind"] == kind])


ETF = st.deferred(lambda: st.sampled_from(tickers("etf")))
NOT_AN_ETF = st.one_of(st.deferred(lambda: st.sampled_from(tickers("index"))), st.text(max_size=25))
TICKER = st.one_of(ETF, NOT_AN_ETF)
BAD_WEIGHT = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, -1e-4, 1 + 1e-9, 1.2, -0.0]),
    st.floats(allow_nan=True, allow_infinity=True),
)


@st.composite
def push_weights(draw) -> list[tuple[str, float]]:
    """Weights of distinct ETFs summing to 1, then one rule broken, or none, or two (a ticker
    in lower case or with spaces around it breaks none)."""
    names = draw(st.lists(ETF, min_size=1, max_size=6, unique=True))
    raw = draw(st.lists(st.floats(0.01, 1), min_size=len(names), max_size=len(names)))
    weights = [w / math.fsum(raw) for w in raw]
    rules = st.sampled_from(["sum", "weight", "ticker", "twice", "spelling"])
    for rule in draw(st.lists(rules, max_size=2)):
        i = draw(st.integers(0, len(names) - 1))
        if rule == "sum":  # within the tolerance, or beyond it
            weights[i] += draw(st.sampled_from([5e-7, -5e-7, 2e-6, -2e-6, 0.1]))
        elif rule == "weight":
            weights[i] = draw(BAD_WEIGHT)
        elif rule == "ticker":
            names[i] = draw(NOT_AN_ETF)
        elif rule == "spelling":  # breaks no rule
            names[i] = draw(st.sampled_from([names[i].lower(), f" {names[i]}", f"{names[i]}\t"]))
        else:
            names[i] = names[i - 1]
    return list(zip(names, weights, strict=True))


def symbol(ticker: str) -> str:
    """The documented rule: a ticker is read without its surrounding spaces, in any case."""
    return ticker.strip().upper()


def faults(weights: list[tuple[str, float]], effective: date, latest: date) -> set[str]:
    """Every field the documented rules find at fault (an answer may name fewer of them: the
    view checks tickers and dates only once the body is well-formed)."""
    found = set()
    etfs = set(tickers("etf"))
    for i, (ticker, weight) in enumerate(weights):
        if symbol(ticker) not in etfs or symbol(ticker) in [symbol(t) for t, _ in weights[:i]]:
            found.add(f"weights[{i}].ticker")
        if not (math.isfinite(weight) and 0 <= weight <= 1):
            found.add(f"weights[{i}].weight")
    total = math.fsum(w for _, w in weights)
    if not (math.isfinite(total) and abs(total - 1) <= WEIGHT_SUM_TOLERANCE):
        found.add("weights")
    if effective < latest:
        found.add("effective_date")
    return found


def push(client, headers, body, idempotency_key: str | None = None):
    """POST the body as JSON text (NaN and Infinity as their JavaScript names)."""
    key = uuid.uuid4().hex if idempotency_key is None else idempotency_key
    headers = {**headers, "Idempotency-Key": key}
    return client.post(
        REBALANCES, data=json.dumps(body), content_type="application/json", headers=headers
    )


def latest_effective(client, headers) -> date:
    page = client.get(f"{REBALANCES}?limit=1", headers=headers).json
    return date.fromisoformat(page["data"][0]["effective_date"])


@SETTINGS
@given(
    weights=push_weights(),
    days=st.integers(min_value=-40, max_value=40),
)
def test_a_push_is_recorded_exactly_when_no_rule_is_broken(client, pusher, weights, days):
    """``days``: the effective date pushed, from the latest version's."""
    latest = latest_effective(client, pusher)
    effective = latest + timedelta(days=days)
    body = {
        "effective_date": effective.isoformat(),
        "weights": [{"ticker": t, "weight": w} for t, w in weights],
    }
    response = push(client, pusher, body)
    expected = faults(weights, effective, latest)
    event(f"{response.status_code}: {', '.join(sorted(expected)) or 'valid'}")
    if expected:
        named = problem_fields(response, 422)
        assert {location for _, location in named} == {"json"}
        fields = {field for field, _ in named}
        assert fields == expected if len(expected) == 1 else fields and fields <= expected
        assert latest_effective(client, pusher) == latest
        return
    assert response.status_code == 201, response.get_data(as_text=True)
    recorded = response.json["weights"]
    total = math.fsum(w for _, w in weights)
    expected = {symbol(t): w / total for t, w in weights}
    assert recorded == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert math.fsum(recorded.values()) == pytest.approx(1, abs=1e-9)


HEADER_TEXT = st.text(
    st.characters(max_codepoint=0xFF, exclude_characters="\r\n"),
    max_size=IDEMPOTENCY_KEY_MAX + 5,
)
BODY = {"effective_date": "2099-01-01", "weights": [{"ticker": "AGG", "weight": 1.0}]}


@SETTINGS
@given(value=st.one_of(st.uuids().map(str), HEADER_TEXT))
def test_any_idempotency_key_is_used_or_a_422_naming_it(client, pusher, value):
    response = push(client, pusher, BODY, idempotency_key=value)
    if len(value) <= IDEMPOTENCY_KEY_MAX and re.fullmatch(PRINTABLE, value) and value:
        assert response.status_code == 201, response.get_data(as_text=True)
    else:
        assert_refused(response, 422, "Idempotency-Key", "headers")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
PUSH_SHAPED = st.fixed_dictionaries(
    {
        "effective_date": st.one_of(st.dates().map(date.isoformat), JSON),
        "weights": st.one_of(
            st.lists(st.fixed_dictionaries({"ticker": st.one_of(TICKER, JSON), "weight": JSON})),
            JSON,
        ),
    },
    optional={"note": JSON},
)


@SETTINGS
@given(body=st.one_of(JSON, PUSH_SHAPED))
def test_any_json_body_is_a_push_or_a_problem_naming_the_body(client, pusher, body):
    response = push(client, pusher, body)
    event(str(response.status_code))
    if response.status_code == 201:
        return
    named = problem_fields(response, 422)
    assert named and {location for _, location in named} == {"json"}
