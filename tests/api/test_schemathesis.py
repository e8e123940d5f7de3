"""schemathesis over every operation of the committed ``openapi.yaml``, against a live server,
with a key holding every scope and with no key: no 5xx, and every answer (status, content type,
headers, body) as the document says (issue 5, "Bad input").

The server is a real gunicorn (``tests/live.py``) configured through its environment as in
production: the ledger on the machine's PostgreSQL (``PLUSALPHA_TEST_POSTGRES_URL``, emptied
first), the cache on database 7 of the machine's Redis (``PLUSALPHA_TEST_FUZZ_REDIS_URL``,
flushed before and after). The module is skipped, saying why, only when one of them cannot be
reached. Before it starts, the ledger gets ``SEED_VERSIONS`` and the keys, and the cache the
performance documents of every model (short backtests): a "not computed yet" 503 is the service
working as designed, not what this test looks for. The rate limit is raised out of reach, so
that no answer is a 429 the fuzzing itself caused. The fuzzing pushes versions and creates and
revokes keys: this ledger is its own.

schemathesis runs as its command line, in a process of its own, rather than through its pytest
plugin: importing schemathesis patches Hypothesis for the whole process (the printer of
falsifying examples becomes a no-op and the buffer of generated data grows), which would change
what every other Hypothesis test of the suite reports and generates.

The run is deterministic (``--generation-deterministic``, one worker) and bounded
(``MAX_EXAMPLES`` a phase and operation); schemathesis runs Hypothesis without a deadline. The
checks are all of schemathesis' but ``positive_data_acceptance``: a request the document allows
may still be refused with 422 for a rule JSON Schema cannot say (weights summing to 1 within
1e-6, tickers we know, an effective date not before the latest version's, a cursor this API
gave, ``from`` below ``to``), and that refusal is documented. Every ``key_id`` sent is the id of
a key made to be revoked (``[parameters]`` of the configuration): otherwise the fuzzer, which
reuses the ids the API answered, revokes or rotates the key it runs with, and every later answer
is a 401.

To what it generates, the run adds bodies a parser cannot read (issue 22; ``schemathesis_hooks.py``,
loaded through ``SCHEMATHESIS_HOOKS``): nesting 1,000 and 20,000 levels deep, NULs and lone
surrogates in strings and keys, JSON sent as ``text/plain``, as a form or with no
``Content-Type``. Each kind must have gone over the wire and been refused, every time, with a 4xx
problem, and, with the key, at least once with the parser's own status (:data:`HOSTILE_STATUS`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest
import requests
import yaml

from service.api.extensions import get_redis, get_session
from service.api.scopes import SCOPES
from service.app import create_app
from service.config import settings_from_env
from service.engine.backtest import run_backtests
from service.engine.performance import truncate
from service.ledger import create_key
from service.worker.jobs import publish_performance

from ..live import serve
from .conftest import (
    close_app,
    emptied_services,
    flush_redis,
    machine_redis_url,
    postgres_url,
    seed,
)

DOCUMENT = Path(__file__).resolve().parents[2] / "openapi.yaml"
FUZZ_REDIS_DB = 7
REDIS_URL = machine_redis_url("PLUSALPHA_TEST_FUZZ_REDIS_URL", FUZZ_REDIS_DB)
PERFORMANCE_AS_OF = "2018-12"
UNREACHABLE_RATE_LIMIT = "1000000000"
MAX_EXAMPLES = 50
RUN_TIMEOUT = 600
"""Seconds: a run takes a minute or two (on a busy machine); past this, something hangs."""
METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
CALLS = "hostile-calls.jsonl"
"""The file, in the run's working directory, where the hooks list the hostile requests sent."""
HOSTILE_STATUS = {
    "nested": 400,
    "NUL": 422,
    "lone surrogate": 422,
    "Content-Type: text/plain": 415,
    "Content-Type: application/x-www-form-urlencoded": 415,
    "Content-Type: none": 415,
}
"""Each kind of unreadable body the hooks send, and the status the parser refuses it with."""
PROBLEM = "application/problem+json"


class Server(NamedTuple):
    base: str
    key: str
    """The secret of a key holding every scope."""
    victim: str
    """The id of a key that every ``key_id`` of the run names."""


@pytest.fixture(scope="module")
def server(tmp_path_factory, postgres_unreachable, small_sample):
    emptied_services(postgres_unreachable, REDIS_URL)
    environ = {
        "PLUSALPHA_VAR_DIR": str(tmp_path_factory.mktemp("fuzz")),
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": postgres_url(),
        "PLUSALPHA_RATE_LIMIT": UNREACHABLE_RATE_LIMIT,
    }
    app = create_app(settings_from_env(environ))
    short = truncate(small_sample, pd.Period(PERFORMANCE_AS_OF, "M"))
    try:
        seed(app)
        with app.app_context():
            session = get_session()
            _, secret = create_key(session, name="fuzz", tenant="t", scopes=list(SCOPES))
            victim, _ = create_key(session, name="victim", tenant="t", scopes=["models:read"])
            session.commit()
            publish_performance(get_redis(), short, run_backtests(short))
            victim_id = victim.id
    finally:
        close_app(app)
    with serve(environ) as base:
        yield Server(base, secret, victim_id)
    flush_redis(REDIS_URL)


def operations() -> list[str]:
    """Every operation of the document, as schemathesis names them (``GET /v1/models``)."""
    paths = yaml.safe_load(DOCUMENT.read_text())["paths"]
    return [f"{m.upper()} {path}" for path, item in paths.items() for m in item if m in METHODS]


def schemathesis(server: Server, workdir: Path, authorization: str | None) -> dict:
    """Run schemathesis over every operation; its JSON report (the output if it has none)."""
    config = workdir / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.key_id" = "{server.victim}"\n')
    report = workdir / "report.json"
    command = [
        Path(sys.executable).with_name("schemathesis"),
        "--config-file",
        config,
        "run",
        DOCUMENT,
        "--url",
        server.base,
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--workers",
        "1",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        report,
    ]
    if authorization:
        command += ["--header", f"Authorization: {authorization}"]
    run = subprocess.run(
        [str(part) for part in command],
        cwd=workdir,  # where schemathesis keeps its own files, and the hooks theirs
        env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    output = f"{run.stdout[-30000:]}\n{run.stderr[-5000:]}"
    assert report.exists(), output
    return {**json.loads(report.read_text()), "output": output}


def hostile_answers(workdir: Path) -> dict[str, list[tuple[int, str]]]:
    """The ``(status, Content-Type)`` of each answer to a hostile request, by kind."""
    answers: dict[str, list[tuple[int, str]]] = {}
    calls = workdir / CALLS
    for line in calls.read_text().splitlines() if calls.exists() else []:
        call = json.loads(line)
        answers.setdefault(call["kind"], []).append((call["status"], call["content_type"]))
    return answers


@pytest.mark.parametrize("with_key", [True, False], ids=["all scopes", "no key"])
def test_every_operation_answers_as_documented(server, tmp_path, with_key):
    authorization = f"Bearer {server.key}" if with_key else None
    report = schemathesis(server, tmp_path, authorization)
    assert report["exit_code"] == 0, report["output"]
    assert (report["failures"], report["errors"]) == ([], []), report["output"]
    assert report["operations"]["tested"] == len(operations()), report["operations"]
    answers = hostile_answers(tmp_path)
    assert set(answers) >= set(HOSTILE_STATUS), answers.keys()
    for kind, answered in answers.items():
        refused = {(400 <= status < 500, media_type) for status, media_type in answered}
        assert refused == {(True, PROBLEM)}, (kind, answered)
        if with_key and kind in HOSTILE_STATUS:
            assert HOSTILE_STATUS[kind] in {status for status, _ in answered}, (kind, answered)
    if with_key:
        # The key was accepted everywhere, and it still is: the run did not revoke it.
        assert report["warnings"]["missing_auth"] == [], report["output"]
        response = requests.get(
            f"{server.base}/v1/models", headers={"Authorization": authorization}, timeout=30
        )
        assert response.status_code == 200
