"""Real gunicorn servers of the pages, and Debian's Chromium to read them.

Each server gets a data directory of its own (a SQLite ledger under it) and a ``redis-server``
of its own (``tests.faults.conftest.RedisServer``: an embedded Redis would outlive gunicorn's
stop by seconds), holding what the worker publishes for two short backtests (to 2018-12: the
performance documents and the rendered fact sheets), the model definitions and seeded versions,
and two keys: ``reader`` (every model, ``performance:read``) and ``licensee``
(``agg-plus-baseline`` only). The browser is Debian's ``chromium`` package driven by Playwright
(never a downloaded browser); the browser tests are skipped, saying why, only when no Chromium
is found.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest

from service.api.extensions import get_redis, get_session
from service.app import create_app
from service.config import settings_from_env
from service.engine.backtest import run_backtests
from service.engine.performance import truncate
from service.ledger import create_key
from service.worker.jobs import performance_bodies, store_documents
from tests.api.conftest import close_app, seed
from tests.faults.conftest import RedisServer
from tests.live import serve

MODELS_RUN = ("agg-plus-baseline", "hy-plus-baseline")
AS_OF = "2018-12"
KEYS = {
    "reader": {"scopes": ["performance:read", "models:read"]},
    "licensee": {"scopes": ["performance:read", "models:read"], "models": ["agg-plus-baseline"]},
}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")


class Server(NamedTuple):
    base: str
    keys: dict[str, str]


@pytest.fixture(scope="session")
def page_bodies(small_sample) -> dict[str, bytes]:
    short = truncate(small_sample, pd.Period(AS_OF, "M"))
    return performance_bodies(short, run_backtests(short, MODELS_RUN))


def prepare(environ: dict[str, str], bodies: dict[str, bytes]) -> dict[str, str]:
    """Seed the ledger and the cache of ``environ``; the keys' secrets by role."""
    app = create_app(settings_from_env(environ))
    try:
        seed(app)
        with app.app_context():
            session = get_session()
            keys = {
                role: create_key(session, name=role, tenant="t", **fields)[1]
                for role, fields in KEYS.items()
            }
            session.commit()
            store_documents(get_redis(), bodies)
    finally:
        close_app(app)
    return keys


def start(tmp_path_factory, bodies, **settings) -> Iterator[Server]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH: the page servers start their own")
    var_dir = tmp_path_factory.mktemp("pages")
    redis_server = RedisServer(var_dir / "redis")
    redis_server.start()
    environ = {"PLUSALPHA_VAR_DIR": str(var_dir), "REDIS_URL": redis_server.url}
    try:
        keys = prepare(environ, bodies)
        with serve({**environ, **settings}) as base:
            yield Server(base, keys)
    finally:
        redis_server.kill()


@pytest.fixture(scope="session")
def site(tmp_path_factory, page_bodies) -> Iterator[Server]:
    """A server of the defaults of the sample data: every model on the public site."""
    yield from start(tmp_path_factory, page_bodies)


@pytest.fixture(scope="session")
def site_off(tmp_path_factory, page_bodies) -> Iterator[Server]:
    """A server with ``PLUSALPHA_PUBLIC_MODELS=none``: no public site, the API's pages only."""
    yield from start(tmp_path_factory, page_bodies, PLUSALPHA_PUBLIC_MODELS="none")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = os.environ.get("PLUSALPHA_CHROMIUM") or next(
        (path for name in CHROMIUM_CANDIDATES if (path := shutil.which(name))), None
    )
    if not found:
        pytest.skip("no Chromium found (install Debian's chromium package): browser tests skipped")
    return found


@pytest.fixture(scope="session")
def browser(chromium_path):
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
