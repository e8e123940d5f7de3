"""scripts/push_rebalance.py and scripts/pull_weights.py, run as a user runs them.

Against a real gunicorn server (SQLite ledger, the machine's Redis) for what the API answers,
and against a tiny scripted HTTP server for the retries, where the failures are made to order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import pytest
import redis
import requests

from service.api.extensions import get_session
from service.app import create_app
from service.ledger import create_key

from .api.conftest import seed
from .live import serve

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = (
    urlsplit(os.environ.get("PLUSALPHA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    ._replace(path="/12")
    .geturl()
)
FAST = ["--backoff", "0.01", "--timeout", "10"]
SEEDED = "agg-plus-baseline"


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run a client script from the repository root, as ``python scripts/X.py ...``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PLUSALPHA_URL", "PLUSALPHA_KEY")}
    return subprocess.run(
        [sys.executable, f"scripts/{script}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
    )


# --- against the real server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).flushdb()
    except redis.RedisError as error:
        pytest.skip(f"no Redis server at {REDIS_URL}: {error}")
    var_dir = tmp_path_factory.mktemp("clients")
    app = create_app(
        {"VAR_DIR": str(var_dir), "REDIS_URL": REDIS_URL, "DATABASE_URL": None, "DATA_DIR": None}
    )
    seed(app)
    with app.app_context():
        session = get_session()
        keys = {
            "read": create_key(session, name="read", tenant="t", scopes=["models:read"])[1],
            "write": create_key(
                session, name="write", tenant="t", scopes=["rebalances:write", "models:read"]
            )[1],
        }
        session.commit()
    with serve({"PLUSALPHA_VAR_DIR": str(var_dir), "REDIS_URL": REDIS_URL}) as base:
        yield base, keys


def pull(server, *args: str, key: str = "read") -> subprocess.CompletedProcess:
    base, keys = server
    return run("pull_weights.py", *args, "--base-url", base, "--key", keys[key], *FAST)


def push(server, *args: str, key: str = "write") -> subprocess.CompletedProcess:
    base, keys = server
    return run("push_rebalance.py", *args, "--base-url", base, "--key", keys[key], *FAST)


def api(server, path: str, **params) -> requests.Response:
    base, keys = server
    headers = {"Authorization": f"Bearer {keys['read']}"}
    response = requests.get(base + path, params=params, headers=headers, timeout=10)
    response.raise_for_status()
    return response


def versions(server, model_id: str) -> list[int]:
    data = api(server, f"/v1/models/{model_id}/rebalances", limit=100).json()["data"]
    return [row["version"] for row in data]


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("fmt", ["csv", "irebal", "orion", "json"])
def test_pull_writes_the_api_body_byte_for_byte(server, tmp_path, fmt):
    out = tmp_path / f"weights.{fmt}"
    result = pull(server, SEEDED, "--format", fmt, "--output", str(out))
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == api(server, f"/v1/models/{SEEDED}/weights", format=fmt).content
    assert not list(tmp_path.glob("*.part"))


def test_pull_to_stdout_with_as_of(server):
    result = pull(server, SEEDED, "--as-of", "2024-09-15")
    assert result.returncode == 0, result.stderr.decode()
    document = json.loads(result.stdout)
    assert document["version"] == 2 and document["hash"]
    assert (
        result.stdout
        == api(server, f"/v1/models/{SEEDED}/weights", as_of="2024-09-15", format="json").content
    )


def test_pulled_irebal_file_sums_to_100(server, tmp_path):
    out = tmp_path / "irebal.csv"
    assert pull(server, SEEDED, "--format", "irebal", "--output", str(out)).returncode == 0
    header, *rows = out.read_text().splitlines()
    assert header == "Symbol,Target %"
    assert sum(Decimal(row.split(",")[1]) for row in rows) == Decimal("100.00")


def test_pull_refused_names_the_problem(server, tmp_path):
    out = tmp_path / "never.csv"
    result = pull(server, "no-such-model", "--format", "csv", "--output", str(out))
    assert result.returncode == 1
    assert "HTTP 404" in result.stderr.decode()
    assert "model_id" in result.stderr.decode()
    assert not out.exists()
    result = pull(server, SEEDED, "--as-of", "2010-01-01")
    assert result.returncode == 1 and "as_of" in result.stderr.decode()


def test_pulled_csv_pushed_back_is_served_unchanged(server, tmp_path):
    pulled = tmp_path / "pulled.csv"
    assert (
        pull(
            server, SEEDED, "--as-of", "2024-09-15", "--format", "csv", "--output", str(pulled)
        ).returncode
        == 0
    )
    result = push(
        server,
        "agg-plus-aggressive",
        str(pulled),
        "--effective-date",
        "2024-11-01",
        "--note",
        "copied from agg-plus-baseline v2",
    )
    assert result.returncode == 0, result.stderr.decode()
    version = json.loads(result.stdout)
    assert version["model_id"] == "agg-plus-aggressive"
    assert version["version"] == 1 and version["source"] == "push"
    assert version["weights"] == {"AGG": 0.4, "LQD": 0.35, "TLT": 0.25}
    served = api(server, "/v1/models/agg-plus-aggressive/weights", as_of="2024-11-01", format="csv")
    assert served.content == pulled.read_bytes()
    document = api(server, "/v1/models/agg-plus-aggressive/weights", as_of="2024-11-01").json()
    assert document["version"] == 1 and document["hash"] == version["hash"]


def test_push_with_the_same_idempotency_key_twice_adds_one_version(server, tmp_path):
    weights = write_csv(tmp_path / "w.csv", "ticker,weight\nAGG,0.5\nHYG,0.25\nTLT,0.25\n")
    args = (
        "agg-plus-ig",
        str(weights),
        "--effective-date",
        "2024-11-01",
        "--idempotency-key",
        "nightly-2024-11-01",
    )
    first, second = push(server, *args), push(server, *args)
    assert first.returncode == 0 and second.returncode == 0, second.stderr.decode()
    assert json.loads(first.stdout) == json.loads(second.stdout)
    assert "no new version" in second.stderr.decode()
    assert versions(server, "agg-plus-ig") == [1]
    # The same Idempotency-Key with other weights is refused, not mistaken for a retry.
    other = write_csv(tmp_path / "other.csv", "ticker,weight\nAGG,1\n")
    reused = push(server, "agg-plus-ig", str(other), *args[2:])
    assert reused.returncode == 1
    assert "HTTP 422" in reused.stderr.decode() and "Idempotency-Key" in reused.stderr.decode()
    assert versions(server, "agg-plus-ig") == [1]
    # Without --idempotency-key every push is new.
    assert push(server, *args[:4]).returncode == 0
    assert versions(server, "agg-plus-ig") == [2, 1]


@pytest.mark.parametrize(
    ("csv_text", "expected"),
    [
        ("ticker\nAGG\n", "line 1: the header must be ticker,weight"),
        ("Symbol,Target %\nAGG,100.00\n", "line 1: the header must be ticker,weight"),
        ("ticker,weight\nAGG,0.5\nHYG\n", "line 3: expected 2 columns"),
        ("ticker,weight\nAGG,half\nHYG,0.5\n", "line 2: the weight of AGG must be a decimal"),
        ("ticker,weight\nAGG,nan\nHYG,0.5\n", "line 2: the weight of AGG must be a decimal"),
        ("ticker,weight\nAGG,0.5\nAGG,0.5\n", "line 3: AGG is listed twice"),
        ("ticker,weight\n,1\n", "line 2: the ticker is empty"),
        ("ticker,weight\n", "no weights"),
        ("", "line 1: the header must be ticker,weight"),
    ],
)
def test_bad_csv_is_refused_before_any_request(tmp_path, csv_text, expected):
    with scripted_server([]) as fake:
        result = push_to(fake, tmp_path, csv_text=csv_text)
    assert result.returncode == 2
    assert expected in result.stderr.decode()
    assert fake.requests == []


@pytest.mark.parametrize(
    ("csv_text", "effective", "field"),
    [
        ("ticker,weight\nAGG,0.5\nNOPE,0.5\n", "2024-12-01", "weights[1].ticker"),
        ("ticker,weight\nAGG,0.5\nHYG,0.4\n", "2024-12-01", "weights: The weights sum to"),
        ("ticker,weight\nAGG,1.5\nHYG,-0.5\n", "2024-12-01", "weights[0].weight"),
        ("ticker,weight\nAGG,1\n", "2024-09-01", "effective_date"),
    ],
)
def test_push_the_server_refuses_fails_naming_the_field(
    server, tmp_path, csv_text, effective, field
):
    weights = write_csv(tmp_path / "w.csv", csv_text)
    before = versions(server, SEEDED)
    result = push(server, SEEDED, str(weights), "--effective-date", effective)
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert "HTTP 422" in stderr and field in stderr
    assert "retry" not in stderr  # a 4xx is final
    assert versions(server, SEEDED) == before


def test_push_needs_the_write_scope(server, tmp_path):
    weights = write_csv(tmp_path / "w.csv", "ticker,weight\nAGG,1\n")
    result = push(server, SEEDED, str(weights), "--effective-date", "2024-12-01", key="read")
    assert result.returncode == 1
    assert "HTTP 403" in result.stderr.decode()
    assert "rebalances:write" in result.stderr.decode()


def test_a_key_is_required(tmp_path):
    result = run("pull_weights.py", SEEDED, "--base-url", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert "PLUSALPHA_KEY" in result.stderr.decode()


# --- retries, against a scripted server -------------------------------------------------------

DROP = "drop"  # close the connection without answering
FORWARDED = ("Authorization", "Content-Type", "Idempotency-Key")


class Forward(NamedTuple):
    """Pass the request on to the real server; with ``drop``, lose its answer on the way back."""

    base: str
    drop: bool = False


CREATED = {"model_id": "agg-plus-ig", "version": 7, "weights": {"AGG": 1.0}}


class ScriptedServer(ThreadingHTTPServer):
    """Answers each request with the next step of its script; records every request."""

    daemon_threads = True

    def __init__(self, script):
        super().__init__(("127.0.0.1", 0), ScriptedHandler)
        self.script = list(script)
        self.requests = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class ScriptedHandler(BaseHTTPRequestHandler):
    def handle_request(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.requests.append((self.command, self.path, dict(self.headers), body))
        step = self.server.script.pop(0) if self.server.script else (500, {}, b"script ended")
        if isinstance(step, Forward):
            headers = {name: self.headers[name] for name in FORWARDED if name in self.headers}
            answer = requests.request(
                self.command, step.base + self.path, headers=headers, data=body, timeout=10
            )
            kept = ("Content-Type", "Idempotent-Replayed", "Location")
            headers = {name: answer.headers[name] for name in kept if name in answer.headers}
            step = DROP if step.drop else (answer.status_code, headers, answer.content)
        if step == DROP:
            self.close_connection = True
            return
        status, headers, content = step
        if isinstance(content, dict):
            content = json.dumps(content).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = handle_request

    def log_message(self, *args):
        pass


class scripted_server:  # noqa: N801 - used as a context manager, like a function
    def __init__(self, script):
        self.server = ScriptedServer(script)

    def __enter__(self) -> ScriptedServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.server

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def problem(status: int, field: str) -> tuple:
    body = {
        "title": "Problem",
        "status": status,
        "detail": f"{field}: bad",
        "errors": [{"field": field, "in": "json", "message": "bad"}],
    }
    return status, {"Content-Type": "application/problem+json"}, body


def push_to(fake, tmp_path, *extra: str, csv_text="ticker,weight\nAGG,1\n"):
    """push_rebalance.py of ``csv_text`` to the scripted server ``fake``."""
    weights = write_csv(tmp_path / "w.csv", csv_text)
    return run(
        "push_rebalance.py",
        "agg-plus-ig",
        str(weights),
        "--effective-date",
        "2024-12-01",
        "--base-url",
        fake.url,
        "--key",
        "k",
        *FAST,
        *extra,
    )


def idempotency_keys(fake) -> list[str]:
    return [headers["Idempotency-Key"] for _, _, headers, _ in fake.requests]


def test_push_retries_503_with_one_idempotency_key(tmp_path):
    unavailable = (503, {"Retry-After": "0"}, {"title": "Service Unavailable"})
    with scripted_server([unavailable, unavailable, (201, {}, CREATED)]) as fake:
        result = push_to(fake, tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout) == CREATED
    assert len(fake.requests) == 3
    keys = idempotency_keys(fake)
    assert len(set(keys)) == 1 and len(keys[0]) == 36  # one uuid4 for the whole push
    assert len({body for *_, body in fake.requests}) == 1
    method, path, headers, body = fake.requests[0]
    assert (method, path) == ("POST", "/v1/models/agg-plus-ig/rebalances")
    assert headers["Authorization"] == "Bearer k"
    assert json.loads(body) == {
        "effective_date": "2024-12-01",
        "weights": [{"ticker": "AGG", "weight": 1.0}],
        "note": None,
    }


def test_push_retries_a_dropped_connection_with_the_same_key(tmp_path):
    with scripted_server([DROP, (201, {"Idempotent-Replayed": "true"}, CREATED)]) as fake:
        result = push_to(fake, tmp_path, "--idempotency-key", "mine")
    assert result.returncode == 0, result.stderr.decode()
    assert idempotency_keys(fake) == ["mine", "mine"]
    assert "no new version" in result.stderr.decode()


def test_a_push_whose_answer_is_lost_is_recorded_once(server, tmp_path):
    """The real server records the first try; its answer is lost; the retry gets the same."""
    base, keys = server
    weights = write_csv(tmp_path / "w.csv", "ticker,weight\nHYG,0.75\nJNK,0.25\n")
    with scripted_server([Forward(base, drop=True), Forward(base)]) as proxy:
        result = run(
            "push_rebalance.py",
            "hy-plus-aggressive",
            str(weights),
            "--effective-date",
            "2024-11-01",
            "--base-url",
            proxy.url,
            "--key",
            keys["write"],
            *FAST,
        )
    assert result.returncode == 0, result.stderr.decode()
    assert "ConnectionError" in result.stderr.decode()
    assert "no new version" in result.stderr.decode()
    assert len(proxy.requests) == 2 and len(set(idempotency_keys(proxy))) == 1
    assert json.loads(result.stdout)["version"] == 1
    assert versions(server, "hy-plus-aggressive") == [1]


@pytest.mark.parametrize("status", [429, 502, 504])
def test_push_retries_other_transient_statuses(tmp_path, status):
    with scripted_server([(status, {}, b""), (201, {}, CREATED)]) as fake:
        result = push_to(fake, tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert len(set(idempotency_keys(fake))) == 1 and len(fake.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422, 500])
def test_push_never_retries_other_failures(tmp_path, status):
    with scripted_server([problem(status, "weights[0].ticker"), (201, {}, CREATED)]) as fake:
        result = push_to(fake, tmp_path)
    assert result.returncode == 1
    assert len(fake.requests) == 1
    assert f"HTTP {status}" in result.stderr.decode()
    assert "json weights[0].ticker: bad" in result.stderr.decode()


def test_push_gives_up_after_its_retries_and_says_how_to_rerun(tmp_path):
    with scripted_server([DROP] * 3) as fake:
        result = push_to(fake, tmp_path, "--retries", "2")
    assert result.returncode == 1
    assert len(fake.requests) == 3
    key = idempotency_keys(fake)[0]
    assert "giving up after 3 tries" in result.stderr.decode()
    assert f"--idempotency-key {key}" in result.stderr.decode()


def test_pull_retries_then_writes_the_body(tmp_path):
    body = b"Symbol,Target %\nAGG,100.00\n$CASH,0.00\n"
    script = [DROP, (503, {"Retry-After": "0"}, b""), (200, {"Content-Type": "text/csv"}, body)]
    out = tmp_path / "model.csv"
    with scripted_server(script) as fake:
        result = run(
            "pull_weights.py",
            "agg-plus-ig",
            "--format",
            "irebal",
            "--as-of",
            "2024-12-01",
            "--output",
            str(out),
            "--base-url",
            fake.url,
            "--key",
            "k",
            *FAST,
        )
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == body
    assert len(fake.requests) == 3
    assert fake.requests[-1][1] == "/v1/models/agg-plus-ig/weights?format=irebal&as_of=2024-12-01"


def test_pull_json_without_a_hash_is_refused(tmp_path):
    with scripted_server([(200, {}, {"model_id": "x"})]) as fake:
        result = run("pull_weights.py", "x", "--base-url", fake.url, "--key", "k", *FAST)
    assert result.returncode == 1
    assert "no hash" in result.stderr.decode()
