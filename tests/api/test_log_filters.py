"""Outage warnings are logged once per interval, with the count of those dropped."""

from __future__ import annotations

import logging

from service.api.log_filters import OncePerInterval


def records(filter_: OncePerInterval, *messages: tuple[int, str, tuple]) -> list[str]:
    """The messages ``filter_`` lets through, formatted."""
    shown = []
    for level, msg, args in messages:
        record = logging.LogRecord("t", level, __file__, 1, msg, args, None)
        if filter_.filter(record):
            shown.append(record.getMessage())
    return shown


def test_repeats_within_the_interval_are_dropped_and_counted_in_the_next_shown(monkeypatch):
    clock = iter([0.0, 1.0, 2.0, 3.0, 11.0, 12.0])
    monkeypatch.setattr("service.api.log_filters.time.monotonic", lambda: next(clock))
    quiet = OncePerInterval(interval=10)
    warning = (logging.WARNING, "redis unavailable: %s", ("refused",))
    other = (logging.WARNING, "ledger unavailable: %s", ("down",))
    shown = records(quiet, warning, warning, other, warning, warning, warning)
    assert shown == [
        "redis unavailable: refused",
        "ledger unavailable: down",
        "redis unavailable: refused (2 more like it in the last 10 s)",
    ]


def test_errors_always_pass():
    quiet = OncePerInterval(interval=10)
    error = (logging.ERROR, "unexpected error", ())
    assert records(quiet, error, error) == ["unexpected error", "unexpected error"]


def test_up_to_its_level_errors_are_dropped_too():
    quiet = OncePerInterval(interval=10, level=logging.ERROR)
    error = (logging.ERROR, "audit events not written yet; kept for the next flush", ())
    assert records(quiet, error, error) == [error[1]]
