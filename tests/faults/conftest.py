"""What every fault test drives: a private Redis, the ledger on PostgreSQL, the app's processes,
and clients calling a live server while the fault happens.

* :class:`RedisServer` is a ``redis-server`` of the test's own on a free port, keeping nothing on
  disk (``--save "" --appendonly no``): the test can kill it and start it again (empty, as a lost
  cache comes back) without touching the machine's Redis, which other suites share.
* ``database_url``: the PostgreSQL database at ``PLUSALPHA_TEST_POSTGRES_URL`` (see
  ``tests/ledger/conftest.py``), emptied of every table first. The ledger is real PostgreSQL
  because production runs on it and its failures (a dropped connection, a refused one) are the
  ones to survive.
* ``environ``: the service's environment on those two; gunicorn (``tests/live.py``), the
  worker (:func:`plusalpha`) and the seeding app (:func:`seed_service`) all read it.
* :class:`Traffic`: clients, one thread each, calling the server over and over while the test
  moves through the phases of a fault; every answer is kept with the phase it was sent in and the
  one it came back in, so a test checks what clients saw before, during and after the fault
  without timing anything.

A test is skipped, saying why, only when ``redis-server`` is missing or PostgreSQL cannot be
reached.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests

from service.api.extensions import get_session
from service.app import create_app
from service.config import VARIABLES, settings_from_env
from service.engine.data import write_data
from service.ledger import create_key
from tests.api.conftest import SEED_VERSIONS, close_app, seed
from tests.api.test_server import by_ticker, hash_of
from tests.ledger.conftest import (  # noqa: F401 (postgres_unreachable: a fixture)
    empty_postgres_database,
    postgres_unreachable,
    postgres_url,
)
from tests.live import START_TIMEOUT, free_port
from tests.worker.test_jobs import through_as_of

TIMEOUT = 30
"""Seconds a client waits for one answer (a guard against a hung server, not a measurement)."""
PHASE_TIMEOUT = 120
"""Seconds every client has to finish its rounds of a phase before the test gives up."""
ERROR_PAUSE_SECONDS = 0.05
"""How long a client waits after a call got no answer (a stopped server) before the next."""
PROBLEM = "application/problem+json"
PUSHED_EFFECTIVE = "2024-11-01"
"""The effective date of every push: after every seeded version, and every month of the data."""
RATE_LIMIT = 1_000_000
"""Requests a key of these tests may make per window: far above what their clients make, as
the faults tested are not the rate limiter's."""


# --- a private Redis ---------------------------------------------------------------------------


class RedisServer:
    """A ``redis-server`` on a free port of loopback that keeps nothing on disk."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=5)

    def start(self) -> None:
        """Start the server (again, on the same port) and wait until it answers PING."""
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        with self.client() as client:
            for _ in range(START_TIMEOUT * 20):
                if self.process.poll() is not None:
                    break
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    time.sleep(0.05)
        self.kill()
        pytest.fail(f"redis-server did not start on port {self.port}")

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its connections and data but answers nothing."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: the frozen server answers again, as it was."""
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: the server stops at once and everything it held is lost."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def private_redis(tmp_path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH: the fault tests start their own")
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


# --- the ledger and the service's environment ---------------------------------------------------


@pytest.fixture
def database_url(postgres_unreachable) -> str:  # noqa: F811 (the imported fixture)
    """The test PostgreSQL database, emptied of every table."""
    if postgres_unreachable:
        pytest.skip(postgres_unreachable)
    empty_postgres_database(postgres_url())
    return postgres_url()


@pytest.fixture
def environ(tmp_path, private_redis, database_url) -> dict[str, str]:
    """The service's environment: the private Redis, the PostgreSQL ledger, the sample data."""
    return {
        "PLUSALPHA_VAR_DIR": str(tmp_path / "var"),
        "REDIS_URL": private_redis.url,
        "DATABASE_URL": database_url,
    }


@pytest.fixture(scope="session")
def small_data_dir(small_sample, tmp_path_factory) -> str:
    """A data directory the worker backtests in seconds: the real-ticker ETFs to December 2018
    (the data of tests/worker), 37 monthly rebalances a model."""
    directory = tmp_path_factory.mktemp("faults-data")
    write_data(through_as_of(small_sample), directory)
    return str(directory)


def seed_service(environ: Mapping[str, str], keys: Mapping[str, list[str]], versions=True):
    """Migrate the ledger of ``environ``, publish the definitions and ``SEED_VERSIONS`` of
    tests/api (unless ``versions`` is false) and create a key per role, with
    :data:`RATE_LIMIT`; the secrets by role."""
    app = create_app(settings_from_env(environ))
    try:
        if versions:
            seed(app)
        with app.app_context():
            session = get_session()
            secrets = {
                role: create_key(
                    session, name=role, tenant="t", scopes=scopes, rate_limit=RATE_LIMIT
                )[1]
                for role, scopes in keys.items()
            }
            session.commit()
    finally:
        close_app(app)
    return secrets


class Pusher:
    """A client pushing a new version of ``model_id`` at every call, each with an
    Idempotency-Key and weights of its own (AGG's from ``first``, 0.001 more each time, LQD the
    rest); :attr:`sent` keeps every body by its key, in order. Called with a key already sent,
    it sends that push again, as a client retrying it would. :attr:`base` may change (a server
    restarted on another port)."""

    def __init__(self, base: str, secret: str, model_id: str, first: float = 0.2) -> None:
        self.base, self.model_id, self.first = base, model_id, first
        self.headers = bearer(secret)
        self.sent: dict[str, dict] = {}

    def __call__(self, http: requests.Session, idempotency_key: str | None = None):
        if idempotency_key is None:
            idempotency_key = uuid.uuid4().hex
            share = round(self.first + len(self.sent) / 1000, 6)
            weights = [{"ticker": "AGG", "weight": share}, {"ticker": "LQD", "weight": 1 - share}]
            self.sent[idempotency_key] = {"effective_date": PUSHED_EFFECTIVE, "weights": weights}
        url = f"{self.base}/v1/models/{self.model_id}/rebalances"
        headers = {**self.headers, "Idempotency-Key": idempotency_key}
        return http.post(url, json=self.sent[idempotency_key], headers=headers, timeout=TIMEOUT)


def sent_weights(body: Mapping) -> dict[str, float]:
    """The weights of a push's body by ticker, as an answer lists them."""
    return {w["ticker"]: w["weight"] for w in body["weights"]}


def listed_versions(base: str, headers: Mapping[str, str], model_id: str) -> dict[int, dict]:
    """Every version of the model as ``GET .../rebalances`` lists it, page after page."""
    found, cursor = {}, None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        url = f"{base}/v1/models/{model_id}/rebalances"
        page = requests.get(url, params=params, headers=headers, timeout=TIMEOUT).json()
        found |= {row["version"]: row for row in page["data"]}
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def wait_for(condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    """Return once ``condition()`` holds; fail saying ``what`` did not happen within
    ``timeout`` seconds (a guard against waiting for ever, not a measurement)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen")
        time.sleep(0.1)


def plusalpha(args: list[str], environ: Mapping[str, str], **popen) -> subprocess.Popen:
    """Start ``plusalpha ARGS`` with the app's variables taken from ``environ`` only."""
    env = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    command = Path(sys.executable).with_name("plusalpha")
    return subprocess.Popen([str(command), *args], env=env | dict(environ), **popen)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


# --- clients during a fault ----------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One call of a client: the phase it was sent in and the one it was answered in."""

    client: str
    sent: str
    answered: str
    status: int | None  # None: no HTTP answer at all (the error is in ``body``)
    headers: Mapping[str, str]
    body: bytes

    @classmethod
    def of(cls, response: requests.Response, client: str, sent: str, answered: str = "") -> Answer:
        """``response`` to a call of ``client`` sent in phase ``sent`` (answered in
        ``answered``, by default the same)."""
        status, headers = response.status_code, dict(response.headers)
        return cls(client, sent, answered or sent, status, headers, response.content)

    @property
    def phase(self) -> str | None:
        """The phase of the whole call, or None when the phase changed while it ran."""
        return self.sent if self.sent == self.answered else None

    def json(self):
        return json.loads(self.body)


Call = Callable[[requests.Session], requests.Response]


class Traffic:
    """Clients calling a server from threads, over and over, until the block ends.

    ``clients`` maps a name to a call; each runs in a thread of its own with its own HTTP session.
    :meth:`phase` names the phase of the fault and waits until every client has made ``rounds``
    calls entirely within it. Every call is kept in :attr:`answers`.
    """

    def __init__(self, clients: Mapping[str, Call]) -> None:
        self.clients = dict(clients)
        self.answers: list[Answer] = []
        self._phase = "start"
        self._done: Counter[tuple[str, str]] = Counter()
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._run, args=(name,), name=f"client-{name}", daemon=True)
            for name in self.clients
        ]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT + 5)
        if self._errors and exc[0] is None:
            raise self._errors[0]

    def phase(self, name: str, rounds: int) -> None:
        """Enter phase ``name``; return once every client made ``rounds`` calls within it.

        The phase ends there: calls made while the test changes the fault (until the next
        phase) belong to none.
        """
        with self._changed:
            self._phase = name
            finished = self._changed.wait_for(
                lambda: self._errors or all(self._done[c, name] >= rounds for c in self.clients),
                timeout=PHASE_TIMEOUT,
            )
            self._phase = f"after {name}"
        if self._errors:
            raise self._errors[0]
        assert finished, f"clients stalled in phase {name}: {dict(self._done)}"

    def of(self, client: str, phase: str) -> list[Answer]:
        """The answers of ``client`` to calls made entirely within ``phase``."""
        return [a for a in self.answers if a.client == client and a.phase == phase]

    def _run(self, name: str) -> None:
        call = self.clients[name]
        try:
            with requests.Session() as http:
                while not self._stop.is_set():
                    sent = self._phase
                    try:
                        response = call(http)
                    except requests.RequestException as error:
                        response = error
                        time.sleep(ERROR_PAUSE_SECONDS)
                    with self._changed:
                        if isinstance(response, requests.Response):
                            answer = Answer.of(response, name, sent, self._phase)
                        else:
                            error = repr(response).encode()
                            answer = Answer(name, sent, self._phase, None, {}, error)
                        self.answers.append(answer)
                        if answer.phase:
                            self._done[name, answer.phase] += 1
                        self._changed.notify_all()
        except BaseException as error:  # a bug of the call itself: fail the test with it
            with self._changed:
                self._errors.append(error)
                self._changed.notify_all()


def assert_unavailable(answer: Answer) -> None:
    """A 503 that a client can act on: problem+json with ``Retry-After``."""
    assert answer.status == 503, answer
    assert answer.headers["Content-Type"] == PROBLEM, answer
    assert int(answer.headers["Retry-After"]) > 0, answer
    problem = answer.json()
    assert (problem["status"], problem["title"]) == (503, "Service Unavailable")
    assert "://" not in problem["detail"], problem  # no URL (and so no password) leaks


def assert_seeded_weights(traffic: Traffic, model_id: str, phases: tuple[str, ...]) -> None:
    """Every read of the clients ``weights`` (today) and ``weights as of`` (a day the first
    seeded version is in force) in ``phases`` was a complete seeded version of ``model_id``: 200,
    the version in force, its weights, and a hash that matches them."""
    seeded = SEED_VERSIONS[model_id]
    for phase in phases:
        for answer in traffic.of("weights", phase) + traffic.of("weights as of", phase):
            assert answer.status == 200, answer
            document = answer.json()
            assert document["hash"] == hash_of(document["weights"])
            first = answer.client == "weights as of"
            version = 1 if first else len(seeded)
            expected = seeded[version - 1][2]
            assert (document["version"], by_ticker(document["weights"])) == (version, expected)


def assert_no_server_error(answers: list[Answer]) -> None:
    """Every call was answered, and no answer was a 5xx other than a 503 with ``Retry-After``
    (problem+json but from ``/v1/health``, whose 503 is its own document)."""
    unanswered = [a for a in answers if a.status is None]
    assert not unanswered, f"{len(unanswered)} calls got no answer, e.g. {unanswered[0]}"
    errors = Counter((a.client, a.sent, a.status) for a in answers if a.status >= 500)
    errors = {k: v for k, v in errors.items() if k[2] != 503}
    assert not errors, f"server errors (client, phase sent, status): {errors}"
    for answer in answers:
        if answer.status == 503 and answer.client == "health":
            assert int(answer.headers["Retry-After"]) > 0, answer
        elif answer.status == 503:
            assert_unavailable(answer)
