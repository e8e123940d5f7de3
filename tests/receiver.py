"""A webhook receiver on loopback for the tests and the benchmark: a threaded ``http.server``
that keeps every request it gets and answers as the test tells it.

``answers`` maps a path to what to answer its next requests, consumed in order (then
``default``): a status,
``(status, headers)``, ``(status, headers, body)``, or :data:`HANG` (hold the request for
``hang_seconds``, then close it unanswered). :meth:`verified` checks each request's signature
with ``standardwebhooks``, as a platform's receiver would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

HANG = "hang"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    port: int = 0
    answers: dict[str, list] = field(default_factory=dict)
    default: int = 200
    hang_seconds: float = 5.0
    requests: list[Received] = field(default_factory=list)
    lock: threading.Condition = field(
        default_factory=lambda: threading.Condition(threading.RLock())
    )

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def next_answer(self, path: str):
        with self.lock:
            waiting = self.answers.get(path)
            return waiting.pop(0) if waiting else self.default

    def keep(self, received: Received) -> None:
        with self.lock:
            self.requests.append(received)
            self.lock.notify_all()

    def of(self, path: str | None) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 60) -> list[Received]:
        """The requests (to ``path``, else all) once there are ``count`` of them
        (AssertionError after ``timeout`` seconds)."""
        with self.lock:
            arrived = self.lock.wait_for(lambda: len(self.of(path)) >= count, timeout)
            assert arrived, f"{len(self.of(path))} of {count} webhooks arrived"
            return self.of(path)

    def verified(self, secret: str, path: str | None = None) -> list[dict]:
        """Every request's payload, each verified with the secret (raises if one fails)."""
        return [Webhook(secret).verify(r.body, r.headers) for r in self.of(path)]


def handler_of(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver.keep(Received(self.path, headers, body, time.monotonic()))
            answer = receiver.next_answer(self.path)
            if answer == HANG:
                time.sleep(receiver.hang_seconds)
                self.close_connection = True
                return
            status, extra, text = (
                (*answer, None)[:3] if isinstance(answer, tuple) else (answer, {}, None)
            )
            text = (text or f"answered {status}").encode()
            self.send_response(status)
            for name, value in {"Content-Length": str(len(text)), **extra}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, *args):
            pass

    return Handler


@contextmanager
def receiving(port: int = 0, **settings) -> Iterator[Receiver]:
    """A running receiver on 127.0.0.1 (a free port by default), stopped at the end."""
    receiver = Receiver(**settings)
    server = ThreadingHTTPServer(("127.0.0.1", port), handler_of(receiver))
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
