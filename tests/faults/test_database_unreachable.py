"""The database becomes unreachable while requests flow, then comes back, with no restart.

The app reaches PostgreSQL through :class:`TcpProxy`, a forwarder in the test process; the test
cuts it (closes its listener and every connection: the app's pooled connections drop and new
ones are refused) rather than stopping the machine's PostgreSQL, which other suites share.
Clients call a real gunicorn all along. What they must see:

* reads the cache answers (weights, with a key already checked) go on;
* pushes, and reads that need the ledger, answer 503 with ``Retry-After``, never 500 (nor 401 for
  a key the cache does not hold yet);
* nothing is stored half-way: every push is a version, its idempotency record and its audit event,
  or none of them, and retrying each push with its ``Idempotency-Key`` once the database is back
  records it exactly once;
* once the database is back the service works again without a restart.
"""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest
import requests
from sqlalchemy import create_engine, make_url, text

from service.ledger.database import driver_url
from tests.live import free_port, serve

from .conftest import (
    TIMEOUT,
    Answer,
    Pusher,
    Traffic,
    assert_no_server_error,
    assert_seeded_weights,
    assert_unavailable,
    bearer,
    seed_service,
    sent_weights,
)

READ = "agg-plus-baseline"
"""Three seeded versions, in the cache; read all along."""
PUSHED = "agg-plus-ig"
"""No seeded version; every push goes here."""
KEYS = {
    "reader": ["models:read"],
    "pusher": ["rebalances:write", "models:read"],
    "unused": ["models:read"],
}
"""``unused`` makes no call before the database is cut: the cache does not hold it."""
ROUNDS = 3
PHASES = ("up", "cut", "back")


class TcpProxy:
    """Forwards a port of loopback to ``upstream`` (host, port) until :meth:`cut`."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._silent = False

    def start(self) -> None:
        """Forward every new connection (listening again on :attr:`port` if it was closed)."""
        with self._lock:
            self._silent = False
            held, self._sockets = self._sockets, set()
        for sock in held:  # connections accepted while silent
            close(sock)
        if self._listener is None:
            self._listener = socket.create_server(("127.0.0.1", self.port))
            threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def cut(self, silent: bool = False) -> None:
        """Close every connection, then refuse new ones or, if ``silent``, accept them and
        answer nothing, as a host that stopped answering would."""
        with self._lock:
            self._silent = True
            sockets, self._sockets = self._sockets, set()
            if not silent and self._listener is not None:
                sockets.add(self._listener)
                self._listener = None
        for sock in sockets:
            close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            with self._lock:
                if self._silent:
                    self._sockets.add(client)
                    continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                close(client)
                continue
            with self._lock:
                self._sockets |= {client, server}
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=pump, args=(source, target), daemon=True).start()


def pump(source: socket.socket, target: socket.socket) -> None:
    """Copy bytes from ``source`` to ``target`` until either closes; then close both."""
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    close(source)
    close(target)


def close(sock: socket.socket) -> None:
    """Close ``sock`` at once, waking a thread blocked on it."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def proxy(database_url):
    url = make_url(database_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    yield proxy
    proxy.cut()


@pytest.fixture
def service(environ, database_url, proxy):
    """gunicorn on the ledger through the proxy; seeded (straight) with versions and keys."""
    secrets = seed_service(environ, KEYS)
    through = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    with serve({**environ, "DATABASE_URL": through.render_as_string(hide_password=False)}) as base:
        yield base, secrets


@pytest.fixture
def ledger(database_url):
    """An engine on the ledger, straight (not through the proxy)."""
    engine = create_engine(driver_url(database_url))
    yield engine
    engine.dispose()


def ledger_pushes(ledger) -> dict:
    """What the ledger holds of the pushes to PUSHED: versions, idempotency records, audit."""
    with ledger.connect() as connection:
        versions = connection.execute(
            text("SELECT version, content_hash FROM rebalances WHERE model_id = :m"),
            {"m": PUSHED},
        ).all()
        records = connection.execute(
            text("SELECT idempotency_key, response FROM idempotency_records")
        ).all()
        events = connection.execute(
            text("SELECT version, detail FROM audit_events WHERE action = 'push'")
        ).all()
    return {
        "versions": dict(versions),
        "records": {key: response for key, response in records},
        "events": {detail["idempotency_key"]: version for version, detail in events},
    }


def test_pushes_answer_503_store_nothing_half_way_and_cached_reads_go_on(service, proxy, ledger):
    base, secrets = service

    def get(path: str, key: str = "reader"):
        headers = bearer(secrets[key])
        return lambda http: http.get(base + path, headers=headers, timeout=TIMEOUT)

    pusher = Pusher(base, secrets["pusher"], PUSHED)
    clients = {
        "weights": get(f"/v1/models/{READ}/weights"),
        "weights as of": get(f"/v1/models/{READ}/weights?as_of=2024-08-15"),
        "models": get("/v1/models"),
        "versions": get(f"/v1/models/{READ}/rebalances"),
        "health": lambda http: http.get(f"{base}/v1/health", timeout=TIMEOUT),
        "push": pusher,
    }
    with Traffic(clients) as traffic:
        traffic.phase("up", ROUNDS)
        proxy.cut()
        traffic.phase("cut", ROUNDS)
        unused = get(f"/v1/models/{READ}/weights", key="unused")
        assert_unavailable(Answer.of(unused(requests.Session()), "unused", "cut"))
        proxy.start()
        traffic.phase("back", ROUNDS)
    assert unused(requests.Session()).status_code == 200

    assert_no_server_error(traffic.answers)
    assert_seeded_weights(traffic, READ, PHASES)
    for client, status in (("models", 200), ("versions", 200), ("push", 201)):
        assert {a.status for a in traffic.of(client, "up") + traffic.of(client, "back")} == {
            status
        }, client
        for answer in traffic.of(client, "cut"):
            assert_unavailable(answer)
    health = (("up", "ok", 200), ("cut", "down", 503), ("back", "ok", 200))
    for phase, ledger_state, status in health:
        for answer in traffic.of("health", phase):
            assert answer.status == status, answer
            assert (answer.json()["redis"], answer.json()["ledger"]) == ("ok", ledger_state)

    # Nothing half-way: each push is all of a version, its idempotency record and its audit
    # event, or none of them.
    held = ledger_pushes(ledger)
    assert set(held["records"]) == set(held["events"])
    assert sorted(held["events"].values()) == sorted(held["versions"])
    for key, version in held["events"].items():
        assert held["records"][key]["version"] == version
        assert held["records"][key]["hash"] == held["versions"][version]
    answered = [a for a in traffic.answers if a.client == "push" and a.status == 201]
    assert {a.json()["version"] for a in answered} <= set(held["versions"])

    # Each push retried with its Idempotency-Key is recorded once: anew if it was not, else its
    # first answer again.
    with requests.Session() as http:
        retried = {key: pusher(http, key) for key in pusher.sent}
    assert {r.status_code for r in retried.values()} == {201}
    replayed = {k for k, r in retried.items() if r.headers.get("Idempotent-Replayed") == "true"}
    assert replayed == set(held["records"])
    held = ledger_pushes(ledger)
    assert set(held["records"]) == set(held["events"]) == set(pusher.sent)
    assert sorted(held["versions"]) == list(range(1, len(pusher.sent) + 1))
    for key, response in retried.items():
        assert held["events"][key] == response.json()["version"]
        assert response.json()["weights"] == pytest.approx(sent_weights(pusher.sent[key]))


def test_a_database_that_stops_answering_costs_a_503_not_a_hang(service, proxy, ledger):
    """The database's host stops answering: the app's connections are lost and new ones are
    accepted but never answered. A request waits for the connection timeout, not for ever."""
    base, secrets = service
    reader, pusher = bearer(secrets["reader"]), Pusher(base, secrets["pusher"], PUSHED)
    with requests.Session() as http:
        models = f"{base}/v1/models"
        weights = f"{base}/v1/models/{READ}/weights"
        assert http.get(models, headers=reader, timeout=TIMEOUT).status_code == 200
        assert http.get(weights, headers=reader, timeout=TIMEOUT).status_code == 200
        assert pusher(http).status_code == 201
        proxy.cut(silent=True)
        assert_unavailable(Answer.of(http.get(models, headers=reader, timeout=TIMEOUT), "", ""))
        assert_unavailable(Answer.of(pusher(http), "", ""))
        assert http.get(weights, headers=reader, timeout=TIMEOUT).json()["version"] == 3
        proxy.start()
        assert http.get(models, headers=reader, timeout=TIMEOUT).status_code == 200
        keys = list(pusher.sent)
        retried = pusher(http, keys[1])
        assert (retried.status_code, retried.json()["version"]) == (201, 2)
        assert "Idempotent-Replayed" not in retried.headers
    assert sorted(ledger_pushes(ledger)["versions"]) == [1, 2]
