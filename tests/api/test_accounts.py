"""Account trade lists through the API: one account, a batch, and every kind of bad input."""

from __future__ import annotations

import json

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job

from schemas.accounts import MAX_BATCH, MAX_HOLDINGS, MAX_JOB
from service.api.extensions import get_redis
from service.worker.handles import QUEUE

from .conftest import SEED_VERSIONS, bearer

MODEL = "agg-plus-baseline"
URL = f"/v1/models/{MODEL}/accounts/trades"
TARGETS = SEED_VERSIONS[MODEL][-1][2]  # the version in force today: a third each of AGG, LQD, SHY
PRICES = {"AGG": 100.0, "LQD": 110.0, "SHY": 80.0, "TLT": 90.0, "HYG": 75.0}
ACCOUNT = {
    "holdings": [{"ticker": "AGG", "quantity": 100}, {"ticker": "TLT", "quantity": 50}],
    "cash": 5500.0,
    "prices": PRICES,
}
PROBLEM = "application/problem+json"


@pytest.fixture
def trader(make_key):
    return bearer(make_key(scopes=["trades:write"]))


def test_full_mode_with_fractional_shares_ends_on_the_model(client, trader):
    body = {**ACCOUNT, "options": {"fractional": True}}
    response = client.post(URL, json=body, headers=trader)
    assert response.status_code == 200, response.json
    result = response.json
    assert (result["model_id"], result["version"]) == (MODEL, 3)
    value = 100 * 100.0 + 50 * 90.0 + 5500.0
    assert result["value"] == pytest.approx(value)
    trades = {(t["ticker"], t["action"]): t for t in result["trades"]}
    assert trades[("TLT", "sell")]["quantity"] == pytest.approx(50)
    assert trades[("AGG", "sell")]["amount"] == pytest.approx(10_000 - value / 3)
    for ticker in ("LQD", "SHY"):
        trade = trades[(ticker, "buy")]
        assert trade["amount"] == pytest.approx(value / 3)
        assert trade["quantity"] == pytest.approx(value / 3 / PRICES[ticker])
    after = {p["ticker"]: p["weight"] for p in result["positions"]}
    assert after == pytest.approx({"AGG": 1 / 3, "LQD": 1 / 3, "SHY": 1 / 3, "TLT": 0.0})
    assert result["cash"] == pytest.approx(0, abs=1e-6)
    assert result["drift_before"]["total"] > 0.5
    assert result["drift_after"]["max"] < 1e-6


def test_whole_shares_buy_only_and_locks_are_respected(client, trader):
    options = {"mode": "buy_only", "locked": ["AGG"], "restricted": ["SHY"]}
    response = client.post(URL, json={**ACCOUNT, "options": options}, headers=trader)
    assert response.status_code == 200, response.json
    result = response.json
    assert {t["action"] for t in result["trades"]} == {"buy"}
    assert {t["ticker"] for t in result["trades"]} == {"LQD"}
    assert all(float(t["quantity"]).is_integer() for t in result["trades"])
    assert result["cash"] >= 0
    codes = {(w["ticker"], w["code"]) for w in result["warnings"]}
    assert ("SHY", "restricted") in codes


def test_prices_default_to_the_latest_close(client, trader):
    body = {"holdings": [{"ticker": "AGG", "quantity": 10}], "cash": 1000.0}
    response = client.post(URL, json=body, headers=trader)
    assert response.status_code == 200, response.json
    prices = {p["ticker"]: p["price"] for p in response.json["positions"]}
    assert set(prices) == {"AGG", "LQD", "SHY"} and all(p > 0 for p in prices.values())


def test_a_batch_answers_each_account_in_order(client, trader):
    accounts = [
        {"holdings": [{"ticker": "AGG", "quantity": 10 * k}], "cash": 1000.0 * k}
        for k in range(1, 6)
    ]
    body = {"accounts": accounts, "prices": PRICES, "options": {"fractional": True}}
    response = client.post(f"{URL}:batch", json=body, headers=trader)
    assert response.status_code == 200, response.json
    results = response.json["accounts"]
    assert [r["value"] for r in results] == pytest.approx([2000.0 * k for k in range(1, 6)])
    one = client.post(
        URL, json={**accounts[2], "prices": PRICES, "options": body["options"]}, headers=trader
    ).json
    assert results[2]["trades"] == one["trades"]


def test_an_account_on_target_gets_no_trades(client, trader):
    holdings = [{"ticker": t, "quantity": 1100 / PRICES[t] * 10} for t in ("AGG", "LQD", "SHY")]
    body = {"holdings": holdings, "cash": 0.0, "prices": PRICES, "options": {"fractional": True}}
    response = client.post(URL, json=body, headers=trader)
    assert response.status_code == 200, response.json
    assert response.json["trades"] == []


def holdings(n: int) -> list[dict]:
    return [{"ticker": "AGG", "quantity": 1}] * n


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"holdings": [{"ticker": "NOPE", "quantity": 1}]}, "holdings[0].ticker"),
        ({"holdings": [{"ticker": "AGG", "quantity": -1}]}, "holdings[0].quantity"),
        ({"holdings": [{"ticker": "AGG", "quantity": "1"}]}, "holdings[0].quantity"),
        ({"holdings": [{"ticker": "AGG"}]}, "holdings[0].quantity"),
        ({"holdings": holdings(2)}, "holdings[1].ticker"),
        ({"holdings": holdings(MAX_HOLDINGS + 1)}, "holdings"),
        ({"cash": -5}, "cash"),
        ({"holdings": [{"ticker": "AGG", "quantity": 9e8}]}, "holdings"),
        ({"prices": {"AGG": 0}}, "prices.AGG.value"),
        ({"prices": {"NOPE": 10}}, "prices.NOPE"),
        ({"options": {"locked": ["AGG"], "restricted": ["AGG"]}}, "options.locked"),
        ({"options": {"cash_target": 1.5}}, "options.cash_target"),
        ({"options": {"mode": "sideways"}}, "options.mode"),
        ({"options": {"band": -0.1}}, "options.band"),
        ({"options": {"min_trade": -1}}, "options.min_trade"),
        ({"surprise": True}, "surprise"),
    ],
    ids=[
        "unknown ticker",
        "negative quantity",
        "quantity as text",
        "missing quantity",
        "duplicate ticker",
        "too many holdings",
        "negative cash",
        "thousand times too large",
        "zero price",
        "price of an unknown ticker",
        "locked and restricted",
        "cash target over 1",
        "unknown mode",
        "negative band",
        "negative min_trade",
        "unknown field",
    ],
)
def test_bad_input_is_422_naming_the_field(client, trader, change, field):
    response = client.post(URL, json={**ACCOUNT, **change}, headers=trader)
    assert response.status_code == 422, response.json
    assert response.content_type == PROBLEM
    fields = [error["field"] for error in response.json["errors"]]
    assert field in fields, fields


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_422(client, trader, number):
    text = f'{{"holdings": [{{"ticker": "AGG", "quantity": {number}}}], "cash": 0}}'
    response = client.post(URL, data=text, headers={**trader, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert "holdings[0].quantity" in [e["field"] for e in response.json["errors"]]


def test_a_batch_over_the_job_limit_is_422(client, trader):
    body = {"accounts": [{}] * (MAX_JOB + 1)}
    response = client.post(f"{URL}:batch", json=body, headers=trader)
    assert response.status_code == 422
    assert [e["field"] for e in response.json["errors"]] == ["accounts"]


def test_a_large_batch_runs_as_a_job_with_a_status_url(api_app, client, trader, make_key):
    accounts = [
        {"holdings": [{"ticker": "AGG", "quantity": k % 50}], "cash": 100.0 * k}
        for k in range(MAX_BATCH + 1)
    ]
    body = {"accounts": accounts, "prices": PRICES}
    queued = client.post(f"{URL}:batch", json=body, headers=trader)
    assert queued.status_code == 202, queued.json
    status_url = queued.headers["Location"]
    assert queued.json["status_url"] == status_url
    assert queued.json["status"] == "queued"
    assert client.get(status_url, headers=trader).json["status"] == "queued"
    other = bearer(make_key(scopes=["trades:write"]))
    assert client.get(status_url, headers=other).status_code == 404
    assert client.get("/v1/jobs/no-such-job", headers=trader).status_code == 404

    with api_app.app_context():
        redis = get_redis()
        job = Job.fetch(queued.json["job_id"], connection=redis)
        # The worker logs the description: it names the batch, never a client's holdings.
        assert job.description == f"trade lists of 1,001 accounts for {MODEL} v3"
        SimpleWorker([Queue(QUEUE, connection=redis)], connection=redis).work(burst=True)
    done = client.get(status_url, headers=trader)
    assert done.status_code == 200
    assert done.json["status"] == "finished"
    result = done.json["result"]
    assert (result["model_id"], result["version"]) == (MODEL, 3)
    assert len(result["accounts"]) == MAX_BATCH + 1
    one = client.post(URL, json={**accounts[7], "prices": PRICES}, headers=trader).json
    assert result["accounts"][7]["trades"] == one["trades"]


def test_a_bad_account_in_a_batch_is_named(client, trader):
    accounts = [{"cash": 1.0}, {"holdings": [{"ticker": "NOPE", "quantity": 1}]}]
    response = client.post(f"{URL}:batch", json={"accounts": accounts}, headers=trader)
    assert response.status_code == 422
    assert "accounts[1].holdings[0].ticker" in [e["field"] for e in response.json["errors"]]


def test_scope_and_licence(client, make_key):
    reader = bearer(make_key(scopes=["models:read"]))
    assert client.post(URL, json=ACCOUNT, headers=reader).status_code == 403
    other = bearer(make_key(scopes=["trades:write"], models=["hy-plus-baseline"]))
    assert client.post(URL, json=ACCOUNT, headers=other).status_code == 404
    assert client.post(URL, json=ACCOUNT).status_code == 401


def test_the_shell_command_gives_the_api_s_trades(api_app, client, trader, tmp_path):
    account = tmp_path / "account.csv"
    account.write_text("ticker,quantity\nAGG,100\nTLT,50\n$CASH,5500\n")
    runner = api_app.test_cli_runner()
    result = runner.invoke(args=["trades", MODEL, "--account", str(account), "--format", "json"])
    assert result.exit_code == 0, result.output
    body = {key: ACCOUNT[key] for key in ("holdings", "cash")}
    api = client.post(URL, json=body, headers=trader).json
    assert json.loads(result.stdout)["trades"] == api["trades"]
    as_csv = runner.invoke(args=["trades", MODEL, "--account", str(account)])
    lines = as_csv.stdout.splitlines()
    assert lines[0] == "ticker,action,quantity,amount"
    assert [line.split(",")[:2] for line in lines[1:]] == [
        [t["ticker"], t["action"]] for t in api["trades"]
    ]
    account.write_text("ticker,quantity\nNOPE,1\n")
    refused = runner.invoke(args=["trades", MODEL, "--account", str(account)])
    assert refused.exit_code != 0
    assert "holdings[0].ticker" in refused.output
