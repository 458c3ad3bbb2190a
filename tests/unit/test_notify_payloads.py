"""Which Events are rollout events, the Generic and Slack bodies, and a hook's Secret-sourced
endpoint. Delivery against real receivers: tests/integration/test_notifications.py."""

from __future__ import annotations

import pytest

from axiom_operator import api
from axiom_operator.notify import hooks, payloads
from axiom_operator.notify.payloads import Notice

NOTICE = Notice("ml", "digits", "u1", "Promoted", "Normal", "Promoted", "2.0.0 promoted", "T")
MODEL = {
    "spec": {"version": "2.0.0"},
    "status": {"phase": "Stable", "stableVersion": "2.0.0", "canaryVersion": None},
}


def test_every_rollout_event_has_an_operator_event_and_back() -> None:
    assert set(payloads.EVENT_BY_REASON.values()) == set(api.NOTIFICATION_EVENTS)
    assert payloads.rollout_event("Reconciled") is None


def test_the_generic_body() -> None:
    assert payloads.generic(NOTICE, MODEL) == {
        "apiVersion": "axiom.dev/v1alpha1",
        "kind": "RolloutEvent",
        "event": "Promoted",
        "type": "Normal",
        "reason": "Promoted",
        "message": "2.0.0 promoted",
        "time": "T",
        "model": {"namespace": "ml", "name": "digits", "uid": "u1"},
        "version": "2.0.0",
        "phase": "Stable",
        "stableVersion": "2.0.0",
        "canaryVersion": None,
        "canaryWeight": None,
    }


def test_the_slack_body_is_an_incoming_webhook_message() -> None:
    body = payloads.body("Slack", NOTICE, MODEL)
    assert body["text"] == "*ml/digits* Promoted: 2.0.0 promoted"
    (attachment,) = body["attachments"]
    assert attachment["color"] == "#2eb886"
    assert {f["title"] for f in attachment["fields"]} == {"phase", "stable"}


def test_an_endpoint_reads_url_and_token_from_the_secret() -> None:
    target = api.WebhookSpec(name="a", url_key="url", token_key="token", timeout="2s")
    found = hooks.endpoint(target, {"url": b"http://127.0.0.1:1/x\n", "token": b"t"}, "ns/s")
    assert found == hooks.Endpoint("http://127.0.0.1:1/x", "t", 2.0, 3)
    assert found.headers()["Authorization"] == "Bearer t"
    with pytest.raises(hooks.HookConfigError, match="'token' not in Secret ns/s"):
        hooks.endpoint(target, {"url": b"u"}, "ns/s")
