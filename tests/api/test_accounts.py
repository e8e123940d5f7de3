"""Account trade lists through the API: one account, a batch, and every kind of bad input."""

from __future__ import annotations

import json
from datetime import date

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job

from schemas.accounts import MAX_ACCOUNT_ID, MAX_BATCH, MAX_HOLDINGS, MAX_JOB
from service.api.extensions import get_redis, get_session
from service.ledger import add_rebalance
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
        | ({"account_id": f"acct-{k}"} if k % 2 else {})
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
    assert [r.get("account_id") for r in result["accounts"][:3]] == [None, "acct-1", None]
    assert result["accounts"][MAX_BATCH - 1]["account_id"] == f"acct-{MAX_BATCH - 1}"
    holdings = {key: accounts[7][key] for key in ("holdings", "cash")}
    one = client.post(URL, json={**holdings, "prices": PRICES}, headers=trader).json
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


def test_the_shell_command_reads_tickers_in_any_case(api_app, tmp_path):
    account = tmp_path / "account.csv"
    runner = api_app.test_cli_runner()
    answers = []
    for text in ("AGG,100\nTLT,50\n$CASH,5500\n", " agg ,100\ntlt,50\n$cash,5500\n"):
        account.write_text(f"ticker,quantity\n{text}")
        args = ["trades", MODEL, "--account", str(account), "--locked", " tlt", "--format", "json"]
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        answers.append(json.loads(result.stdout))
    assert answers[1] == answers[0]
    price = {p["ticker"]: p["price"] for p in answers[0]["positions"]}
    assert answers[0]["value"] == pytest.approx(5500 + 100 * price["AGG"] + 50 * price["TLT"])
    assert "TLT" not in {t["ticker"] for t in answers[0]["trades"]}


# --- a client's tickers: spaces around them dropped, case ignored -----------------------------


def trade(client, trader, body: dict, batch: bool) -> dict:
    """The answer for one account, alone or as the only account of a batch."""
    if not batch:
        response = client.post(URL, json=body, headers=trader)
        assert response.status_code == 200, response.json
        return response.json
    account = {key: body[key] for key in ("holdings", "cash")}
    shared = {key: body[key] for key in ("prices", "options")}
    response = client.post(f"{URL}:batch", json={"accounts": [account], **shared}, headers=trader)
    assert response.status_code == 200, response.json
    return response.json["accounts"][0]


MODES = ("full", "band", "buy_only", "sell_only")


@pytest.mark.parametrize("batch", [False, True], ids=["account", "batch"])
@pytest.mark.parametrize("mode", MODES)
def test_restricted_and_locked_tickers_are_obeyed_in_any_spelling(client, trader, mode, batch):
    # 200 AGG is 60% of the account against a target of a third: every mode but buy_only sells
    # it unless it is locked; LQD is short of its target: every mode but sell_only buys it
    # unless it is restricted.
    body = {
        "holdings": [{"ticker": "agg ", "quantity": 200}, {"ticker": " Shy", "quantity": 50}],
        "cash": 9000.0,
        "prices": {"agg": 100.0, "LQD ": 110.0, "shy": 80.0},
        "options": {"mode": mode, "restricted": ["lqd"], "locked": [" agg "]},
    }
    result = trade(client, trader, body, batch)
    assert "AGG" not in {t["ticker"] for t in result["trades"]}
    assert "LQD" not in {t["ticker"] for t in result["trades"] if t["action"] == "buy"}
    positions = {p["ticker"]: p for p in result["positions"]}
    assert positions["AGG"]["quantity"] == 200
    assert positions["AGG"]["price"] == 100.0 and positions["LQD"]["price"] == 110.0
    codes = {(w["ticker"], w["code"]) for w in result["warnings"]}
    assert (mode == "buy_only") != (("AGG", "locked") in codes)
    assert (mode == "sell_only") != (("LQD", "restricted") in codes)
    canonical = {
        "holdings": [{"ticker": "AGG", "quantity": 200}, {"ticker": "SHY", "quantity": 50}],
        "cash": 9000.0,
        "prices": {"AGG": 100.0, "LQD": 110.0, "SHY": 80.0},
        "options": {"mode": mode, "restricted": ["LQD"], "locked": ["AGG"]},
    }
    assert result == trade(client, trader, canonical, batch)


def test_a_restriction_or_lock_that_changes_nothing_is_named(client, trader):
    # MBB is one of our ETFs, ZZZZ none of them: neither is held nor in the model.
    options = {"restricted": ["mbb", "SHY"], "locked": ["zzzz", "TLT"], "fractional": True}
    response = client.post(URL, json={**ACCOUNT, "options": options}, headers=trader)
    assert response.status_code == 200, response.json
    unused = [w for w in response.json["warnings"] if w["code"] == "not_needed"]
    assert [w["ticker"] for w in unused] == ["MBB", "ZZZZ"]
    assert unused[0]["message"] == (
        "MBB is neither held nor in the model: restricting it changed nothing"
    )


def test_an_account_of_cash_kept_as_cash_takes_a_lock(client, trader):
    options = {"cash_target": 1, "locked": ["agg"], "restricted": ["LQD"]}
    body = {"holdings": [], "cash": 1000.0, "options": options}
    response = client.post(URL, json=body, headers=trader)
    assert response.status_code == 200, response.json
    assert response.json["trades"] == [] and response.json["cash_target"] == 1
    assert [(w["ticker"], w["code"]) for w in response.json["warnings"]] == [
        ("LQD", "not_needed"),
        ("AGG", "not_needed"),
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"holdings": [{"ticker": "AGG", "quantity": 1}, {"ticker": " agg", "quantity": 2}]},
            "holdings[1].ticker",
        ),
        ({"holdings": [{"ticker": "AG G", "quantity": 1}]}, "holdings[0].ticker"),
        ({"holdings": [{"ticker": "", "quantity": 1}]}, "holdings[0].ticker"),
        ({"holdings": [{"ticker": 7, "quantity": 1}]}, "holdings[0].ticker"),
        ({"options": {"restricted": ["AGG", "$$$"]}}, "options.restricted[1]"),
        ({"options": {"restricted": ["\u017fhy"]}}, "options.restricted[0]"),
        ({"options": {"locked": ["x" * 21]}}, "options.locked[0]"),
        ({"options": {"locked": ["agg"], "restricted": ["AGG "]}}, "options.locked"),
        ({"prices": {"AGG": 100.0, "agg": 101.0}}, "prices.agg"),
        ({"prices": {"AGG!": 100.0}}, "prices.AGG!.key"),
    ],
    ids=[
        "held twice in two spellings",
        "inner space",
        "empty",
        "a number",
        "restricted not a symbol",
        "restricted not ASCII though Python upper-cases it to SHY",
        "locked too long",
        "locked and restricted in two spellings",
        "priced twice in two spellings",
        "price of what is not a symbol",
    ],
)
def test_a_ticker_that_is_not_one_is_422_naming_the_field_and_index(client, trader, change, field):
    in_batch = f"accounts[0].{field}" if field.startswith("holdings") else field
    for url, body, expected in (
        (URL, {**ACCOUNT, **change}, field),
        (f"{URL}:batch", batched(change), in_batch),
    ):
        response = client.post(url, json=body, headers=trader)
        assert response.status_code == 422, response.json
        assert response.content_type == PROBLEM
        assert [error["field"] for error in response.json["errors"]] == [expected]


def batched(change: dict) -> dict:
    """The batch of ACCOUNT with ``change``: holdings and cash in its one account."""
    body = {**ACCOUNT, **change}
    account = {key: body.pop(key) for key in ("holdings", "cash")}
    return {**body, "accounts": [account]}


# --- the platform's account ids -------------------------------------------------------------


def test_a_batch_item_s_account_id_is_echoed_in_its_answer(client, trader):
    accounts = [
        {"account_id": "8812-3340 Smith IRA", "cash": 1000.0},
        {"cash": 2000.0},
        {"account_id": "x" * MAX_ACCOUNT_ID, "cash": 3000.0},
    ]
    body = {"accounts": accounts, "prices": PRICES}
    response = client.post(f"{URL}:batch", json=body, headers=trader)
    assert response.status_code == 200, response.json
    answers = response.json["accounts"]
    assert [a.get("account_id") for a in answers] == ["8812-3340 Smith IRA", None, "x" * 100]
    assert "account_id" not in answers[1]
    assert [a["value"] for a in answers] == [1000.0, 2000.0, 3000.0]


@pytest.mark.parametrize("account_id", ["", "x" * (MAX_ACCOUNT_ID + 1), 42, None])
def test_an_account_id_that_is_not_1_to_100_characters_is_422(client, trader, account_id):
    accounts = [{"cash": 1.0}, {"account_id": account_id, "cash": 1.0}]
    response = client.post(f"{URL}:batch", json={"accounts": accounts}, headers=trader)
    assert response.status_code == 422
    assert response.content_type == PROBLEM
    assert [e["field"] for e in response.json["errors"]] == ["accounts[1].account_id"]


def test_a_single_account_takes_no_account_id(client, trader):
    response = client.post(URL, json={**ACCOUNT, "account_id": "a-1"}, headers=trader)
    assert response.status_code == 422
    assert [e["field"] for e in response.json["errors"]] == ["account_id"]


# --- numbers --------------------------------------------------------------------------------


def numbers(answer) -> list[float]:
    """Every number of a JSON answer."""
    if isinstance(answer, dict):
        answer = list(answer.values())
    if isinstance(answer, list):
        return [n for item in answer for n in numbers(item)]
    return [answer] if isinstance(answer, float | int) and not isinstance(answer, bool) else []


def test_no_rounding_error_of_zero_reaches_an_answer(api_app, client, trader):
    """0.6 + 0.3 + 0.1 is 0.9999999999999999 in floats: a model of these weights answered a
    cash target of 1.1e-16 when none was asked for."""
    with api_app.app_context():
        session = get_session()
        weights = {"AGG": 0.6, "LQD": 0.3, "SHY": 0.1}
        today = date.today()
        add_rebalance(
            session, MODEL, as_of=today, effective_date=today, weights=weights, source="worker"
        )
        session.commit()
    for options in ({}, {"fractional": True}, {"mode": "band"}, {"cash_target": 0.02}):
        body = {**ACCOUNT, "options": options}
        response = client.post(URL, json=body, headers=trader)
        assert response.status_code == 200, response.json
        result = response.json
        assert result["version"] == 4
        assert result["cash_target"] == options.get("cash_target", 0)
        assert [x for x in numbers(result) if x != 0 and abs(x) < 1e-12] == []
