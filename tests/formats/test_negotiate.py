"""negotiate: the format parameter wins, then the Accept header with q-values."""

from __future__ import annotations

import pytest

from service.formats import FORMATS, NotAcceptable, UnknownFormat, negotiate

IREBAL = "application/vnd.plusalpha.irebal+csv"
ORION = "application/vnd.plusalpha.orion+json"


@pytest.mark.parametrize(
    ("param", "accept", "expected"),
    [
        ("csv", "application/json", "csv"),
        ("irebal", None, "irebal"),
        ("orion", "text/html", "orion"),
        ("json", "application/json;q=0", "json"),
        (" CSV ", None, "csv"),
        ("Orion", "*/*", "orion"),
    ],
)
def test_parameter_wins(param, accept, expected):
    assert negotiate(param, accept) is FORMATS[expected]


@pytest.mark.parametrize("param", ["xml", "", "json2", "text/csv"])
def test_unknown_parameter_lists_the_formats(param):
    with pytest.raises(UnknownFormat) as info:
        negotiate(param, "application/json")
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert repr(param) in message
    for name in ("json", "csv", "irebal", "orion"):
        assert name in message
    assert info.value.valid == ("json", "csv", "irebal", "orion")


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "json"),
        ("", "json"),
        ("   ", "json"),
        ("*/*", "json"),
        ("application/json", "json"),
        ("text/csv", "csv"),
        (IREBAL, "irebal"),
        (ORION, "orion"),
        ("Text/CSV", "csv"),
        ("text/csv; charset=utf-8", "csv"),
        ("text/*", "csv"),
        ("application/*", "json"),
        # q-values
        ("application/json;q=0.5, text/csv", "csv"),
        ("text/csv;q=0.2, " + ORION + ";q=0.9", "orion"),
        ("*/*;q=0.1, " + IREBAL, "irebal"),
        ("text/csv;q=0.8, application/json;q=0.9", "json"),
        ("text/csv; Q=1.0 , application/json;q=0.999", "csv"),
        # A more specific range overrides a wildcard, also to exclude.
        ("application/json;q=0, */*", "csv"),
        ("text/csv;q=0, text/*, application/json;q=0.5", "json"),
        ("application/*;q=0.3, " + ORION + ";q=0.4", "orion"),
        # Ties: the more specific range, then the first listed, then the registry order.
        ("application/*, " + ORION, "orion"),
        ("text/csv, application/json", "csv"),
        ("application/json, text/csv", "json"),
        (IREBAL + ", " + ORION, "irebal"),
        (ORION + ", " + IREBAL, "orion"),
        # Malformed ranges are skipped; a header with none left counts as absent.
        ("text/csv;q=abc, application/json;q=0.5", "json"),
        ("text/csv;q=1.5, application/json;q=0.5", "json"),
        ("garbage", "json"),
        ("*/csv, text/csv", "csv"),
        (",,text/csv,", "csv"),
        ("text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8", "json"),
    ],
)
def test_accept_header(accept, expected):
    assert negotiate(None, accept) is FORMATS[expected]


@pytest.mark.parametrize(
    "accept",
    [
        "text/html",
        "application/xml, text/html;q=0.9",
        "application/json;q=0",
        "*/*;q=0",
        "text/*;q=0, application/*;q=0",
        "application/vnd.plusalpha.other+json",
    ],
)
def test_not_acceptable(accept):
    with pytest.raises(NotAcceptable) as info:
        negotiate(None, accept)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert accept in message
    for media_type in ("application/json", "text/csv", IREBAL, ORION):
        assert media_type in message
