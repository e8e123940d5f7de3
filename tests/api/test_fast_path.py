"""The fast path of the weights read (``WeightsFastPath``) answers exactly as the view does.

It serves the usual read without Flask's request machinery, so every answer it gives is
compared with the view's own answer to the same request (the app behind the middleware), and
every request it must not answer is shown to reach the view, whose checks answer it.
"""

from __future__ import annotations

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from service.api.fast_path import WeightsFastPath

from .conftest import bearer

WEIGHTS = "/v1/models/agg-plus-baseline/weights"
COUNTED = "RateLimit-Remaining"
"""Differs between the two answers: each request is counted."""


@pytest.fixture
def fast_path(api_app):
    """The middleware, with a record of the requests it passed on to the app."""
    middleware = api_app.wsgi_app
    assert isinstance(middleware, WeightsFastPath)
    passed_on = []
    view = middleware.wsgi_app

    def app_behind(environ, start_response):
        passed_on.append(environ["PATH_INFO"])
        return view(environ, start_response)

    middleware.wsgi_app = app_behind
    yield middleware, view, passed_on
    middleware.wsgi_app = view


def answer(wsgi_app, path: str, headers: dict) -> tuple[str, bytes, dict]:
    environ = EnvironBuilder(path=path, headers=headers).get_environ()
    body, status, response_headers = run_wsgi_app(wsgi_app, environ, buffered=True)
    shown = {name: value for name, value in response_headers.items() if name != COUNTED}
    return status, b"".join(body), shown


@pytest.mark.parametrize(
    "accept",
    [None, "application/json", "text/csv", "text/csv; q=0.5, application/json", "*/*"],
)
def test_the_usual_read_is_answered_by_the_fast_path_as_the_view_answers_it(
    fast_path, make_key, accept
):
    middleware, view, passed_on = fast_path
    headers = {**bearer(make_key()), **({"Accept": accept} if accept else {})}
    answer(middleware, WEIGHTS, headers)  # a key's first read: the view reads the ledger
    assert passed_on == [WEIGHTS]
    fast = answer(middleware, WEIGHTS, headers)  # now its record is in the cache
    assert passed_on == [WEIGHTS]
    assert fast == answer(view, WEIGHTS, headers)
    assert fast[0] == "200 OK"


@pytest.mark.parametrize(
    ("path", "key", "headers", "status"),
    [
        (f"{WEIGHTS}?format=csv", {}, {}, 200),
        (WEIGHTS, {}, {"If-None-Match": "*"}, 304),
        (WEIGHTS, {}, {"Accept": "image/png"}, 406),
        (WEIGHTS, {"scopes": ["performance:read"]}, {}, 403),
        (WEIGHTS, {"models": ["hy-plus-baseline"]}, {}, 404),
        (WEIGHTS, {"rate_limit": 1}, {}, 429),
        ("/v1/models/no-such-model/weights", {}, {}, 404),
        ("/v1/models/a:b/weights", {}, {}, 404),
    ],
)
def test_every_other_request_goes_on_to_the_view(
    fast_path, make_key, client, path, key, headers, status
):
    middleware, _, passed_on = fast_path
    secret = make_key(**key)
    client.get("/v1/models", headers=bearer(secret))  # the key's record is now in the cache
    response = client.get(path, headers={**bearer(secret), **headers})
    assert response.status_code == status
    assert passed_on == ["/v1/models", path.split("?")[0]]
    if key.get("rate_limit") == 1:  # its one request was /v1/models
        again = client.get(path, headers=bearer(secret))
        assert again.status_code == 429
        assert again.headers["RateLimit-Remaining"] == "0"  # counted once each, not twice


def test_a_revoked_key_and_no_key_go_on_to_the_view(api_app, fast_path, make_key, client):
    _, _, passed_on = fast_path
    admin = bearer(make_key(scopes=["admin"]))
    secret = make_key()
    for _ in range(2):  # the view's read caches the key; the fast path answers the second
        assert client.get(WEIGHTS, headers=bearer(secret)).status_code == 200
    keys = client.get("/v1/keys", headers=admin).json["data"]
    key_id = next(k["id"] for k in keys if k["scopes"] == ["models:read"])
    assert client.delete(f"/v1/keys/{key_id}", headers=admin).status_code == 200
    assert client.get(WEIGHTS, headers=bearer(secret)).status_code == 401
    assert client.get(WEIGHTS).status_code == 401
    assert passed_on == [WEIGHTS, "/v1/keys", f"/v1/keys/{key_id}", WEIGHTS, WEIGHTS]
