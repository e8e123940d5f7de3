"""The renderers: exact bodies, round trips, exact 100.00 totals and tolerance bands."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.formats import (
    CASH,
    FORMATS,
    IREBAL_HEADER,
    render_csv,
    render_irebal,
    render_json,
    render_orion,
    tolerance_band,
)
from service.formats.render import DUST, _dumps

from .strategies import documents, make_document, weight_vectors

SETTINGS = settings(max_examples=100, deadline=None)
TWO_DECIMALS = re.compile(r"(0|[1-9]\d{0,2})\.\d\d")
ORION_SECURITY_KEYS = [
    "ticker",
    "targetPercent",
    "lowerModelTolerancePercent",
    "upperModelTolerancePercent",
]

DOCUMENT = make_document({"AGG": 0.5, "BND": 0.3, "HYG": 0.2 - 4e-5, "TIP": 4e-5})


def read_csv(body: str) -> list[list[str]]:
    assert "\r" not in body and body.endswith("\n")
    return list(csv.reader(io.StringIO(body)))


def read_orion(body: str) -> dict:
    assert body.endswith("\n")
    return json.loads(body, parse_float=Decimal)


# json


def test_json_is_the_document_in_canonical_key_order():
    shuffled = dict(reversed(list(DOCUMENT.items())))
    shuffled["weights"] = [dict(reversed(list(h.items()))) for h in DOCUMENT["weights"]]
    body = render_json(shuffled)
    assert body.endswith("}\n")
    parsed = json.loads(body)
    assert parsed == DOCUMENT
    assert list(parsed) == list(DOCUMENT)
    assert [list(h) for h in parsed["weights"]] == [["ticker", "name", "sector", "weight"]] * 4
    assert render_json(DOCUMENT) == body


def test_json_keeps_extra_keys_after_the_known_ones():
    document = {"extra": 1, **DOCUMENT}
    assert list(json.loads(render_json(document)))[-1] == "extra"


@SETTINGS
@given(documents(max_size=50))
def test_json_floats_round_trip(document):
    """Float for float, less any holding of floating point's residue (below DUST)."""
    held = [h for h in document["weights"] if h["weight"] >= DUST]
    assert json.loads(render_json(document)) == {**document, "weights": held}


def test_a_weight_of_floating_point_residue_is_in_no_format():
    document = make_document({"AGG": 0.6, "BND": 0.4 - 8e-17, "SRLN": 8e-17})
    for fmt, spec in FORMATS.items():
        body = spec.render(document)
        assert "SRLN" not in body and "e-17" not in body, fmt
        assert "BND" in body, fmt


def test_json_refuses_nan():
    document = make_document({"AGG": 1.0})
    document["weights"][0]["weight"] = float("nan")
    with pytest.raises(ValueError):
        render_json(document)


# csv


def test_csv_body():
    assert render_csv(DOCUMENT) == ("ticker,weight\nAGG,0.5\nBND,0.3\nHYG,0.19996\nTIP,4e-05\n")


@SETTINGS
@given(documents())
def test_csv_round_trips_the_floats_exactly(document):
    """Float for float, less any holding of floating point's residue (below DUST)."""
    rows = read_csv(render_csv(document))
    assert rows[0] == ["ticker", "weight"]
    assert [(t, float(w)) for t, w in rows[1:]] == [
        (h["ticker"], h["weight"]) for h in document["weights"] if h["weight"] >= DUST
    ]


def test_csv_sorts_by_ticker():
    document = make_document({"AGG": 0.5, "BND": 0.5})
    document["weights"].reverse()
    assert read_csv(render_csv(document))[1][0] == "AGG"


# irebal


def test_irebal_body():
    assert render_irebal(DOCUMENT) == (
        "Symbol,Target %\nAGG,50.00\nBND,30.00\nHYG,20.00\n$CASH,0.00\n"
    )
    assert render_irebal(DOCUMENT, cash="0.025") == (
        "Symbol,Target %\nAGG,48.75\nBND,29.25\nHYG,19.50\n$CASH,2.50\n"
    )


def test_irebal_keeps_a_security_rounded_up_to_a_hundredth():
    document = make_document({"AGG": 0.5, "BND": 0.3, "HYG": 0.2 - 6e-5, "TIP": 6e-5})
    rows = read_csv(render_irebal(document))
    assert rows[1:] == [
        ["AGG", "50.00"],
        ["BND", "30.00"],
        ["HYG", "19.99"],
        ["TIP", "0.01"],
        ["$CASH", "0.00"],
    ]


def check_irebal(document, body, cash=Decimal(0)):
    rows = read_csv(body)
    assert tuple(rows[0]) == IREBAL_HEADER
    assert rows[-1] == [CASH, f"{cash * 100:.2f}"]
    assert all(TWO_DECIMALS.fullmatch(p) for _, p in rows[1:])
    assert sum(Decimal(p) for _, p in rows[1:]) == Decimal("100.00")
    securities = rows[1:-1]
    assert [t for t, _ in securities] == sorted(t for t, _ in securities)
    assert all(Decimal(p) > 0 for _, p in securities)
    weights = {h["ticker"]: h["weight"] for h in document["weights"]}
    scale = 1 - Fraction(cash)
    for ticker, p in securities:
        target = Fraction(weights[ticker]) * scale * 100
        assert abs(Fraction(Decimal(p)) - target) <= Fraction(1, 100) + Fraction(1, 10**9)
    # A security left out rounded to 0.00: its share was under a hundredth of a percent.
    for ticker in weights.keys() - {t for t, _ in securities}:
        assert Fraction(weights[ticker]) * scale * 100 < Fraction(1, 100) + Fraction(1, 10**9)


@SETTINGS
@given(documents())
def test_irebal_sums_to_exactly_100(document):
    body = render_irebal(document)
    check_irebal(document, body)
    assert render_irebal(document) == body


@SETTINGS
@given(documents(max_size=100), st.integers(min_value=0, max_value=9999))
def test_irebal_with_cash_sums_to_exactly_100(document, cash_bp):
    cash = Decimal(cash_bp) / 10000
    check_irebal(document, render_irebal(document, cash=cash), cash)


# orion


def test_orion_body():
    assert render_orion(DOCUMENT) == (
        "{\n"
        '  "name": "AGG+ Baseline",\n'
        '  "description": "The primary model.",\n'
        '  "externalId": "agg-plus-baseline",\n'
        '  "version": 12,\n'
        '  "securities": [\n'
        "    {\n"
        '      "ticker": "AGG",\n'
        '      "targetPercent": 50.00,\n'
        '      "lowerModelTolerancePercent": 45.00,\n'
        '      "upperModelTolerancePercent": 55.00\n'
        "    },\n"
        "    {\n"
        '      "ticker": "BND",\n'
        '      "targetPercent": 30.00,\n'
        '      "lowerModelTolerancePercent": 27.00,\n'
        '      "upperModelTolerancePercent": 33.00\n'
        "    },\n"
        "    {\n"
        '      "ticker": "HYG",\n'
        '      "targetPercent": 20.00,\n'
        '      "lowerModelTolerancePercent": 18.00,\n'
        '      "upperModelTolerancePercent": 22.00\n'
        "    }\n"
        "  ]\n"
        "}\n"
    )


def check_orion(document, body, tolerance=Decimal("0.10"), cash=Decimal(0)):
    parsed = read_orion(body)
    assert list(parsed) == ["name", "description", "externalId", "version", "securities"]
    assert parsed["name"] == document["name"]
    assert parsed["description"] == document["description"]
    assert parsed["externalId"] == document["model_id"]
    assert parsed["version"] == document["version"]
    securities = parsed["securities"]
    assert all(list(s) == ORION_SECURITY_KEYS for s in securities)
    assert sum(s["targetPercent"] for s in securities) == Decimal("100.00")
    for s in securities:
        target = s["targetPercent"]
        lower = s["lowerModelTolerancePercent"]
        upper = s["upperModelTolerancePercent"]
        for value in (target, lower, upper):
            assert isinstance(value, Decimal) and value.as_tuple().exponent == -2
        assert Decimal(0) <= lower <= target <= upper <= Decimal(100)
        assert target > 0
        assert abs(lower - target * (1 - tolerance)) <= Decimal("0.005") or lower == 0
        assert abs(upper - target * (1 + tolerance)) <= Decimal("0.005") or upper == 100
    tickers = [s["ticker"] for s in securities]
    if cash:
        assert tickers[-1] == CASH and securities[-1]["targetPercent"] == cash * 100
        tickers = tickers[:-1]
    assert CASH not in tickers
    assert tickers == sorted(tickers)
    # Same targets as the iRebal file.
    irebal = dict(read_csv(render_irebal(document, cash=cash))[1:])
    if not cash:
        del irebal[CASH]
    assert {s["ticker"]: f"{s['targetPercent']:.2f}" for s in securities} == irebal


@SETTINGS
@given(documents())
def test_orion_sums_to_exactly_100(document):
    body = render_orion(document)
    check_orion(document, body)
    assert render_orion(document) == body


@SETTINGS
@given(
    documents(max_size=100),
    st.integers(min_value=0, max_value=9999),
    st.decimals(min_value=0, max_value=3, places=3),
)
def test_orion_options(document, cash_bp, tolerance):
    cash = Decimal(cash_bp) / 10000
    body = render_orion(document, cash=cash, tolerance=tolerance)
    check_orion(document, body, tolerance, cash)


@given(
    st.integers(min_value=1, max_value=10000).map(lambda n: Decimal(n) / 100),
    st.decimals(min_value=0, max_value=5, places=4),
)
def test_tolerance_band_is_ordered(target, tolerance):
    lower, upper = tolerance_band(target, tolerance)
    assert Decimal(0) <= lower <= target <= upper <= Decimal(100)


def test_tolerance_band_rounding_and_limits():
    assert tolerance_band(Decimal("33.33"), Decimal("0.10")) == (Decimal("30.00"), Decimal("36.66"))
    assert tolerance_band(Decimal("0.05"), Decimal("0.10")) == (Decimal("0.04"), Decimal("0.06"))
    assert tolerance_band(Decimal("0.01"), Decimal("0.10")) == (Decimal("0.01"), Decimal("0.01"))
    assert tolerance_band(Decimal("95.00"), Decimal("0.10")) == (
        Decimal("85.50"),
        Decimal("100.00"),
    )
    assert tolerance_band(Decimal("40.00"), Decimal("2")) == (Decimal("0.00"), Decimal("100.00"))
    assert tolerance_band(Decimal("40.00"), Decimal("0")) == (Decimal("40.00"), Decimal("40.00"))


def test_orion_accepts_string_options():
    body = render_orion(DOCUMENT, tolerance="0.05", cash="0.01")
    check_orion(DOCUMENT, body, Decimal("0.05"), Decimal("0.01"))


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    )
)
def test_orion_json_writer_matches_json_dumps(value):
    assert _dumps(value) == json.dumps(value, indent=2)


# errors and the registry


@pytest.mark.parametrize(
    ("render", "options", "message"),
    [
        (render_irebal, {"cash": "1.5"}, "cash"),
        (render_irebal, {"cash": "0.00001"}, "multiple"),
        (render_orion, {"tolerance": "-0.1"}, "tolerance"),
        (render_orion, {"tolerance": "wide"}, "tolerance"),
    ],
)
def test_invalid_options(render, options, message):
    with pytest.raises(ValueError, match=message):
        render(DOCUMENT, **options)


@pytest.mark.parametrize("render", [render_csv, render_irebal, render_orion])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"weights": []}, "non-empty list"),
        (
            {"weights": [{"ticker": "AGG", "weight": 0.5}, {"ticker": "AGG", "weight": 0.5}]},
            "twice",
        ),
        ({"weights": [{"ticker": "", "weight": 1.0}]}, "ticker"),
        ({"weights": [{"ticker": "AGG", "weight": "1"}]}, "number"),
    ],
)
def test_invalid_documents(render, change, message):
    with pytest.raises(ValueError, match=message):
        render({**DOCUMENT, **change})


@pytest.mark.parametrize("render", [render_irebal, render_orion])
def test_weights_must_sum_to_one(render):
    with pytest.raises(ValueError, match="sum to 1"):
        render(make_document({"AGG": 60.0, "BND": 40.0}))


def test_orion_needs_a_name():
    with pytest.raises(ValueError, match="'name'"):
        render_orion({**DOCUMENT, "name": ""})


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError):
        render_irebal(DOCUMENT, tolerance=0.1)


def test_registry():
    assert list(FORMATS) == ["json", "csv", "irebal", "orion"]
    table = {
        name: (f.name, f.media_type, f.extension, f.accept_type, f.options)
        for name, f in FORMATS.items()
    }
    assert table == {
        "json": ("json", "application/json", "json", "application/json", frozenset()),
        "csv": ("csv", "text/csv", "csv", "text/csv", frozenset()),
        "irebal": (
            "irebal",
            "text/csv",
            "csv",
            "application/vnd.plusalpha.irebal+csv",
            frozenset({"cash"}),
        ),
        "orion": (
            "orion",
            "application/json",
            "json",
            "application/vnd.plusalpha.orion+json",
            frozenset({"cash", "tolerance"}),
        ),
    }
    assert FORMATS["json"].render is render_json
    assert FORMATS["csv"].render is render_csv
    assert FORMATS["irebal"].render is render_irebal
    assert FORMATS["orion"].render is render_orion
    for fmt in FORMATS.values():
        assert isinstance(fmt.render(DOCUMENT), str)


@SETTINGS
@given(weight_vectors(max_size=20))
def test_every_format_renders_every_document(weights):
    document = make_document(weights)
    for fmt in FORMATS.values():
        assert fmt.render(document).endswith("\n")
