"""The webhook routes: subscriptions, their secret shown once, the URL rules (SSRF), the tenant's
limit, tests and retries of deliveries. Sending is tested in tests/worker/test_webhooks.py and,
through gunicorn and the RQ worker, in tests/faults/test_webhooks.py."""

from __future__ import annotations

import pandas as pd
import pytest
from rq import Queue
from standardwebhooks.webhooks import Webhook

from schemas.webhooks import EVENT_TYPES
from service.api.extensions import get_redis, get_session
from service.engine.backtest import run_backtests
from service.engine.performance import truncate
from service.engine.variants import spec_from_definition
from service.ledger import get_definition, webhooks
from service.ledger.webhooks import dispatch_events
from service.worker.handles import QUEUE, handles
from service.worker.variants import fail as fail_build
from service.worker.variants import finish

from .conftest import bearer

PUBLIC_URL = "https://93.184.216.34/hooks/plusalpha"
"""A literal public address: it resolves without DNS, which the test machine lacks."""
MODEL = "agg-plus-baseline"
CREATE = {"url": PUBLIC_URL, "events": ["model.rebalanced"], "models": None}
MODEL_EVENTS = ["model.rebalanced", "variant.ready", "variant.failed"]
"""The event types that announce a model or a variant (``webhook.test`` is sent on request)."""
VARIANT_SCOPES = ["webhooks:write", "variants:write", "rebalances:write", "models:read"]


@pytest.fixture
def key(make_key):
    return bearer(make_key(scopes=["webhooks:write", "rebalances:write", "models:read"]))


def create(client, key, **changes):
    response = client.post("/v1/webhooks", json={**CREATE, **changes}, headers=key)
    assert response.status_code == 201, response.json
    return response.json


def test_the_secret_is_shown_at_creation_and_never_again(client, key):
    created = create(client, key, description="platform X")
    secret = created["secret"]
    assert secret.startswith("whsec_")
    Webhook(secret)  # a secret the reference class takes
    assert (created["url"], created["events"], created["models"]) == (
        PUBLIC_URL,
        ["model.rebalanced"],
        None,
    )
    assert created["enabled"] is True and created["description"] == "platform X"
    one = client.get(f"/v1/webhooks/{created['id']}", headers=key)
    listed = client.get("/v1/webhooks", headers=key)
    assert [w["id"] for w in listed.json["data"]] == [created["id"]]
    for answer in (one, listed):
        assert answer.status_code == 200
        assert secret not in answer.text and 'secret"' not in answer.text.replace(
            "previous_secret", ""
        )


def test_a_rotation_shows_the_new_secret_once(client, key):
    created = create(client, key)
    rotated = client.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=key)
    assert rotated.status_code == 201
    assert rotated.json["secret"].startswith("whsec_")
    assert rotated.json["secret"] != created["secret"]
    shown = client.get(f"/v1/webhooks/{created['id']}", headers=key).json
    assert shown["previous_secret_expires_at"] == rotated.json["previous_secret_expires_at"]
    assert rotated.json["secret"] not in str(shown)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://93.184.216.34/hook", "must be https"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://localhost:8443/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://192.168.0.10/hook", "private"),
        ("https://172.16.5.4/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://240.0.0.1/hook", "reserved"),
        ("https://0.0.0.0/hook", "reserved"),
        ("https://100.64.0.1/hook", "reserved"),
        ("https://[fc00::1]/hook", "private"),
        ("https://user:pw@93.184.216.34/hook", "user name or password"),
        ("ftp://93.184.216.34/hook", "must be an https URL"),
    ],
)
def test_a_url_reaching_inside_is_refused_naming_url_and_the_rule(client, key, url, rule):
    response = client.post("/v1/webhooks", json={**CREATE, "url": url}, headers=key)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    (error,) = response.json["errors"]
    assert (error["field"], error["in"]) == ("url", "json")
    assert rule in error["message"]
    assert client.get("/v1/webhooks", headers=key).json["data"] == []


def test_a_patch_is_held_to_the_url_rules_too(client, key):
    created = create(client, key)
    response = client.patch(
        f"/v1/webhooks/{created['id']}", json={"url": "https://10.0.0.1/"}, headers=key
    )
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "url"


def test_a_subscription_may_ask_for_every_event_the_ledger_writes():
    assert EVENT_TYPES == webhooks.EVENT_TYPES


def test_private_addresses_are_allowed_when_the_setting_says_so(api_app, key):
    api_app.config["WEBHOOK_ALLOW_PRIVATE"] = "true"
    created = create(api_app.test_client(), key, url="http://127.0.0.1:9/hook")
    assert created["url"] == "http://127.0.0.1:9/hook"


def test_bad_input_is_422_naming_the_field(client, key, make_key):
    cases = [
        ({"events": []}, "events"),
        ({"events": ["model.deleted"]}, "events[0]"),
        ({"models": []}, "models"),
        ({"models": ["no-such-model"]}, "models[0]"),
        ({"url": ""}, "url"),
        ({"description": "x" * 501}, "description"),
    ]
    for changes, field in cases:
        response = client.post("/v1/webhooks", json={**CREATE, **changes}, headers=key)
        assert response.status_code == 422, changes
        assert response.json["errors"][0]["field"] == field, response.json
    licensed = bearer(make_key(scopes=["webhooks:write"], models=["hy-plus-baseline"]))
    response = client.post("/v1/webhooks", json={**CREATE, "models": [MODEL]}, headers=licensed)
    assert response.status_code == 422
    assert response.json["errors"] == [
        {"field": "models[0]", "in": "json", "message": f"No model {MODEL!r} this key may read."}
    ]


def test_a_tenant_has_at_most_the_limit(api_app, key, make_key):
    api_app.config["WEBHOOK_LIMIT"] = 3
    client = api_app.test_client()
    for _ in range(3):
        create(client, key)
    response = client.post("/v1/webhooks", json=CREATE, headers=key)
    assert response.status_code == 409
    assert "3 webhooks" in response.json["detail"]
    other = bearer(make_key(scopes=["webhooks:write"], tenant="tenant-other"))
    assert client.post("/v1/webhooks", json=CREATE, headers=other).status_code == 201


def test_patch_disable_and_delete(client, key):
    created = create(client, key)
    url = f"/v1/webhooks/{created['id']}"
    changed = client.patch(url, json={"enabled": False, "models": [MODEL]}, headers=key)
    assert changed.status_code == 200
    assert (changed.json["enabled"], changed.json["models"]) == (False, [MODEL])
    assert changed.json["disabled_reason"] == "disabled by a key"
    assert client.post(f"{url}/test", headers=key).status_code == 409
    enabled = client.patch(url, json={"enabled": True}, headers=key).json
    assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)
    assert client.delete(url, headers=key).status_code == 204
    assert client.get(url, headers=key).status_code == 404
    assert client.delete(url, headers=key).status_code == 404


def test_a_push_is_a_pending_delivery_listed_with_its_event(api_app, client, key):
    created = create(client, key, models=[MODEL])
    push = {"effective_date": "2024-11-01", "weights": [{"ticker": "AGG", "weight": 1.0}]}
    pushed = client.post(
        f"/v1/models/{MODEL}/rebalances", json=push, headers={**key, "Idempotency-Key": "p1"}
    )
    assert pushed.status_code == 201
    with api_app.app_context():
        session = get_session()
        dispatch_events(session)
        session.commit()
    test = client.post(f"/v1/webhooks/{created['id']}/test", headers=key)
    assert test.status_code == 202
    assert (test.json["type"], test.json["state"]) == ("webhook.test", "pending")
    page = client.get(f"/v1/webhooks/{created['id']}/deliveries?limit=1", headers=key).json
    assert [d["id"] for d in page["data"]] == [test.json["id"]]
    older = client.get(
        f"/v1/webhooks/{created['id']}/deliveries?limit=1&cursor={page['next_cursor']}",
        headers=key,
    ).json
    (delivery,) = older["data"]
    assert older["next_cursor"] is None
    assert delivery["type"] == "model.rebalanced"
    assert delivery["event"]["data"] == {
        "model_id": MODEL,
        "version": pushed.json["version"],
        "as_of": "2024-11-01",
        "effective_date": "2024-11-01",
        "content_hash": pushed.json["hash"],
        "weights_url": f"/v1/models/{MODEL}/weights?as_of=2024-11-01",
    }
    assert (delivery["state"], delivery["attempts"]) == ("pending", [])
    retried = client.post(
        f"/v1/webhooks/{created['id']}/deliveries/{delivery['id']}/retry", headers=key
    )
    assert retried.status_code == 202 and retried.json["id"] == delivery["id"]
    missing = client.post(f"/v1/webhooks/{created['id']}/deliveries/msg_nope/retry", headers=key)
    assert missing.status_code == 404
    bad_cursor = client.get(f"/v1/webhooks/{created['id']}/deliveries?cursor=x", headers=key)
    assert bad_cursor.status_code == 422


@pytest.fixture(scope="module")
def short_sample(small_sample):
    """The sample's real-ticker series to December 2018: a variant builds in seconds."""
    return truncate(small_sample, pd.Period("2018-12", "M"))


def new_variant(client, key, excluded: str) -> str:
    """A new variant of ``MODEL`` without ``excluded``, ``building``; its id."""
    body = {"base_model": MODEL, "name": f"No {excluded}", "exclude_tickers": [excluded]}
    response = client.post("/v1/variants", json=body, headers=key)
    assert response.status_code == 202, response.json
    return response.json["id"]


def build(api_app, variant_id: str, data) -> None:
    """Build the variant on ``data`` as the job its creation queued does on the whole sample
    (that job is dropped): its versions recorded and published, then ``ready``."""
    with api_app.app_context():
        Queue(QUEUE, connection=get_redis()).empty()
        spec = spec_from_definition(get_definition(get_session(), variant_id).definition)
        finish(handles(api_app.config), data, spec.id, run_backtests(data, [spec])[spec.id])


def delivered(client, key, webhook: dict) -> list[tuple]:
    """The subscription's deliveries as ``(type, model_id, version)`` (0 for a variant's
    status), sorted."""
    page = client.get(f"/v1/webhooks/{webhook['id']}/deliveries?limit=100", headers=key).json
    assert page["next_cursor"] is None
    events = [d["event"] for d in page["data"]]
    return sorted((e["type"], e["data"]["model_id"], e["data"].get("version", 0)) for e in events)


def subscribe(client, key, events: list[str], models: list[str] | None):
    body = {**CREATE, "events": events, "models": models}
    return client.post("/v1/webhooks", json=body, headers=key)


def refused(response) -> list[str]:
    """The fields a 422 problem names."""
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    return [e["field"] for e in response.json["errors"]]


def test_a_variants_events_reach_its_tenants_subscriptions_to_its_base_model(
    api_app, client, make_key, short_sample
):
    key = bearer(make_key(scopes=VARIANT_SCOPES))
    other_tenant = bearer(make_key(scopes=VARIANT_SCOPES, tenant="tenant-b"))
    on_base = create(client, key, events=MODEL_EVENTS, models=[MODEL])
    on_another_model = create(client, key, events=MODEL_EVENTS, models=["hy-plus-baseline"])
    of_another_tenant = create(client, other_tenant, events=MODEL_EVENTS, models=[MODEL])
    built, failed = new_variant(client, key, "HYG"), new_variant(client, key, "JNK")
    on_variant = create(client, key, events=MODEL_EVENTS, models=[built])  # while building
    build(api_app, built, short_sample)
    fail_build(handles(api_app.config), failed, "no prices")
    push = {"effective_date": "2024-11-01", "weights": [{"ticker": "AGG", "weight": 1.0}]}
    pushed = client.post(
        f"/v1/models/{built}/rebalances", json=push, headers={**key, "Idempotency-Key": "v1"}
    )
    assert pushed.status_code == 201, pushed.json
    with api_app.app_context():
        dispatch_events(get_session())
        get_session().commit()
    version = pushed.json["version"]
    of_built = [
        ("model.rebalanced", built, version - 1),  # its build's versions, as one event
        ("model.rebalanced", built, version),
        ("variant.ready", built, 0),
    ]
    assert delivered(client, key, on_base) == sorted([*of_built, ("variant.failed", failed, 0)])
    assert delivered(client, key, on_variant) == of_built
    assert delivered(client, key, on_another_model) == []
    assert delivered(client, other_tenant, of_another_tenant) == []
    # Ready once: a subscription made now to the variant alone would never hear it again.
    assert refused(subscribe(client, key, ["variant.ready"], [built])) == ["events[0]"]


def test_an_event_type_no_model_of_the_list_can_have_is_a_422_naming_it(api_app, client, make_key):
    key = bearer(make_key(scopes=VARIANT_SCOPES))
    building, failed, retired = (new_variant(client, key, t) for t in ("HYG", "JNK", "TLT"))
    fail_build(handles(api_app.config), failed, "no prices")
    assert client.delete(f"/v1/variants/{retired}", headers=key).status_code == 200
    answer = subscribe(client, key, ["webhook.test", "variant.ready"], [failed])
    assert refused(answer) == ["events[1]"]
    message = answer.json["errors"][0]["message"]
    assert "variant.ready" in message and "a variant building and not retired" in message
    both = ["model.rebalanced", "variant.failed"]
    assert refused(subscribe(client, key, both, [retired])) == ["events[0]", "events[1]"]
    assert refused(subscribe(client, key, ["variant.ready"], [failed, retired])) == ["events[0]"]
    for events, models in [
        (MODEL_EVENTS, [building]),
        (["variant.ready"], [failed, MODEL]),
        (["webhook.test"], [failed]),
        (MODEL_EVENTS, None),
    ]:
        assert subscribe(client, key, events, models).status_code == 201, (events, models)
    on_base = create(client, key, events=["variant.ready"], models=[MODEL])
    url = f"/v1/webhooks/{on_base['id']}"
    assert refused(client.patch(url, json={"models": [failed]}, headers=key)) == ["events[0]"]
    change = {"events": both, "models": [retired]}
    assert refused(client.patch(url, json=change, headers=key)) == ["events[0]", "events[1]"]
    unchanged = client.get(url, headers=key).json
    assert (unchanged["events"], unchanged["models"]) == (["variant.ready"], [MODEL])
    changed = client.patch(url, json={"models": [building]}, headers=key)
    assert (changed.status_code, changed.json["models"]) == (200, [building])


def test_models_names_the_nine_and_the_tenants_variants_only(client, make_key):
    key = bearer(make_key(scopes=VARIANT_SCOPES, models=[MODEL]))
    own = new_variant(client, key, "HYG")
    assert create(client, key, events=MODEL_EVENTS, models=[own])["models"] == [own]
    other_tenant = bearer(make_key(scopes=VARIANT_SCOPES, tenant="tenant-b"))
    theirs = new_variant(client, other_tenant, "HYG")
    answer = subscribe(client, key, ["model.rebalanced"], [MODEL, theirs, "agg-index"])
    assert refused(answer) == ["models[1]", "models[2]"]
    assert [e["message"] for e in answer.json["errors"]] == [
        f"No model {theirs!r} this key may read.",
        "'agg-index' is a passive benchmark: it has no versions, so no events.",
    ]
