"""Settings: the one place that reads the environment.

Every variable, its meaning and its default is listed in ``VARIABLES`` and in
docs/configuration.md. A variable whose default is an integer must be a positive integer:
anything else stops the start with a message naming it, rather than serving with a limit
nobody chose.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping

# name -> (Flask config key, default, meaning)
VARIABLES = {
    "PLUSALPHA_DATA_DIR": (
        "DATA_DIR",
        None,
        "Data directory of securities and prices; the generated sample universe when unset.",
    ),
    "PLUSALPHA_VAR_DIR": (
        "VAR_DIR",
        "var",
        "Where the embedded Redis and the default SQLite ledger keep their files.",
    ),
    "REDIS_URL": (
        "REDIS_URL",
        None,
        "The Redis serving cache; an embedded Redis under PLUSALPHA_VAR_DIR when unset.",
    ),
    "DATABASE_URL": (
        "DATABASE_URL",
        None,
        "SQLAlchemy URL of the ledger; the SQLite file PLUSALPHA_VAR_DIR/plusalpha.db when unset.",
    ),
    "PLUSALPHA_RATE_LIMIT": (
        "RATE_LIMIT",
        1200,
        "Requests a key may make per rate-limit window, unless the key has a limit of its own.",
    ),
    "PLUSALPHA_MAX_BODY_BYTES": (
        "MAX_CONTENT_LENGTH",
        64 * 1024 * 1024,
        "The largest request body accepted, in bytes; a larger one is answered 413.",
    ),
    "PLUSALPHA_RATE_LIMIT_WINDOW": (
        "RATE_LIMIT_WINDOW",
        60,
        "The rate-limit window, in seconds (fixed windows, aligned on the clock).",
    ),
    "PLUSALPHA_METRICS_DIR": (
        "METRICS_DIR",
        None,
        "Where gunicorn's workers keep their metrics files (emptied when gunicorn starts); "
        "PLUSALPHA_VAR_DIR/metrics when unset.",
    ),
    "PLUSALPHA_PUBLIC_MODELS": (
        "PUBLIC_MODELS",
        None,
        "The models of the public site: all, none or a comma list of model ids; all on the "
        "sample data, none when PLUSALPHA_DATA_DIR is set.",
    ),
    "PLUSALPHA_FRAME_ANCESTORS": (
        "FRAME_ANCESTORS",
        None,
        "Origins that may frame the pages (space or comma separated); none when unset.",
    ),
    "PLUSALPHA_MAX_VARIANTS_PER_TENANT": (
        "MAX_VARIANTS_PER_TENANT",
        100,
        "Variants a tenant may have (retired ones not counted); one more is answered 422.",
    ),
    "PLUSALPHA_PUBLIC_MAX_AGE": (
        "PUBLIC_MAX_AGE",
        300,
        "Seconds browsers and proxies may keep a public page (Cache-Control max-age).",
    ),
    "PLUSALPHA_BASE_URL": (
        "BASE_URL",
        None,
        "The service's public URL (https://api.example.com), for the links in webhook events; "
        "the links are paths (/v1/...) when unset.",
    ),
    "PLUSALPHA_WEBHOOK_LIMIT": (
        "WEBHOOK_LIMIT",
        20,
        "Webhook subscriptions a tenant may have.",
    ),
    "PLUSALPHA_WEBHOOK_ALLOW_PRIVATE": (
        "WEBHOOK_ALLOW_PRIVATE",
        "false",
        "true lets webhook URLs be http and reach loopback, private and other internal "
        "addresses: for development and tests only, never in production (SSRF).",
    ),
    "PLUSALPHA_WEBHOOK_TIMEOUT": (
        "WEBHOOK_TIMEOUT",
        15,
        "Seconds a webhook receiver has to answer a delivery before it counts as failed.",
    ),
    "PLUSALPHA_WEBHOOK_RETRY_SCHEDULE": (
        "WEBHOOK_RETRY_SCHEDULE",
        "0,5,300,1800,7200,18000,36000,86400",
        "Seconds before each retry of a failed webhook delivery, comma separated (jittered; "
        "a longer Retry-After wins); the delivery fails after the last.",
    ),
    "PLUSALPHA_WEBHOOK_POLL_SECONDS": (
        "WEBHOOK_POLL_SECONDS",
        1,
        "Seconds between two looks of each RQ worker's dispatcher at the webhooks outbox.",
    ),
}

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's own variable: set (by :func:`prepare_metrics_dir`, in gunicorn's master)
before it is first imported, it puts the library in multiprocess mode, every process writing its
figures to files in that folder. Operators set ``PLUSALPHA_METRICS_DIR`` instead."""
METRICS_FILE = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_\d+\.db")
"""The names of prometheus_client's files: a kind of metric and the writing process's id."""


def public_models(settings: Mapping) -> frozenset[str] | None:
    """The model ids the public site shows (None: all), from PUBLIC_MODELS and DATA_DIR."""
    value = settings.get("PUBLIC_MODELS") or ("none" if settings.get("DATA_DIR") else "all")
    value = value.strip().lower()
    if value == "all":
        return None
    if value == "none":
        return frozenset()
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def flag(value: str | bool | None) -> bool:
    """A true/false setting: ``true``, ``1``, ``yes`` or ``on`` (any case) is true."""
    if isinstance(value, bool):
        return value
    return (value or "").strip().lower() in ("true", "1", "yes", "on")


def retry_schedule(value: str) -> list[float]:
    """The seconds of ``PLUSALPHA_WEBHOOK_RETRY_SCHEDULE``; ValueError naming the variable for
    anything but a comma list of numbers at least 0."""
    try:
        delays = [float(part) for part in value.split(",")]
    except ValueError:
        delays = []
    if not delays or any(not 0 <= d < float("inf") for d in delays):
        raise ValueError(
            f"PLUSALPHA_WEBHOOK_RETRY_SCHEDULE must be seconds separated by commas, not {value!r}"
        )
    return delays


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict:
    """The Flask config values that the environment sets (defaults where it does not)."""
    environ = os.environ if environ is None else environ
    settings = {}
    for name, (key, default, _) in VARIABLES.items():
        value = environ.get(name) or default
        settings[key] = positive_int(name, value) if isinstance(default, int) else value
    retry_schedule(settings["WEBHOOK_RETRY_SCHEDULE"])  # a bad one stops the start
    return settings


def positive_int(name: str, value: str | int) -> int:
    """``value`` as a positive integer; ValueError naming the variable when it is not one."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return number


def metrics_dir(settings: Mapping[str, str | None]) -> str:
    """The folder of the metrics files: PLUSALPHA_METRICS_DIR, else ``metrics`` in the var dir."""
    return os.path.abspath(settings["METRICS_DIR"] or os.path.join(settings["VAR_DIR"], "metrics"))


def prepare_metrics_dir(environ: MutableMapping[str, str] | None = None) -> str:
    """Empty the metrics folder of the environment's settings (creating it when missing) and
    name it in ``PROMETHEUS_MULTIPROC_DIR``, for the processes forked after this; the folder.

    Only the library's files (:data:`METRICS_FILE`) are removed, never the folder itself: a
    folder named by mistake (the var dir, with the embedded Redis's ``redis.db``) loses nothing
    else.
    """
    environ = os.environ if environ is None else environ
    folder = metrics_dir(settings_from_env(environ))
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if METRICS_FILE.fullmatch(name):
            os.remove(os.path.join(folder, name))
    environ[MULTIPROCESS_VARIABLE] = folder
    return folder


def multiprocess_metrics_dir() -> str | None:
    """The folder of this process's metrics files when in multiprocess mode (under gunicorn),
    else None: a process on its own keeps its figures in memory."""
    return os.environ.get(MULTIPROCESS_VARIABLE)


def ledger_url(settings: Mapping[str, str | None]) -> str:
    """The ledger's SQLAlchemy URL: DATABASE_URL, else the SQLite file under the var dir."""
    var_dir = os.path.abspath(settings["VAR_DIR"])
    return settings["DATABASE_URL"] or f"sqlite:///{os.path.join(var_dir, 'plusalpha.db')}"
