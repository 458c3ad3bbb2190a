"""Webhooks on rollout events against real HTTP receivers started here (on 127.0.0.1), with
the operator and the real control plane: the Generic and Slack bodies, the Secret's URL and
token, and a receiver that hangs, which must not hold up its model's rollout, another
receiver of the same model, or another model."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from rollout_support import MODEL, RolloutWorld

from axiom_devcluster.controlplane import ControlPlane

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]
TRAFFIC = {"mode": "Replicas"}
QUICK_STEPS = {"steps": [{"weight": 50, "pause": "1s"}], "scaleDownDelay": "1s"}


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1: /ok answers 200, /fail 500, /hang never answers; ``answers``
    changes what a path answers (0: it hangs)."""

    calls: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)  # path -> status (default 200)
    port: int = 0
    loop: asyncio.AbstractEventLoop | None = None
    runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append((request.path, dict(request.headers), body))
        if request.path == "/hang" or self.answers.get(request.path) == 0:
            await asyncio.sleep(3600)
        default = 500 if request.path == "/fail" else 200
        return web.Response(status=self.answers.get(request.path, default))

    def start(self) -> None:
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application()
            app.router.add_post("/{tail:.*}", self.handle)
            self.runner = web.AppRunner(app, shutdown_timeout=0.5)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()

        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(serve(), self.loop)
        assert ready.wait(10)

    def stop(self) -> None:
        assert self.loop is not None and self.runner is not None
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str) -> list[Any]:
        return [body for p, _, body in self.calls if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def world(
    control_plane: ControlPlane, namespace: str, start_operator: Any
) -> Iterator[RolloutWorld]:
    world = RolloutWorld(control_plane, namespace)
    world.publish("1.0.0", "2.0.0", "3.0.0")
    with start_operator(namespace):
        yield world


def put_secret(world: RolloutWorld, name: str, data: dict[str, str]) -> None:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    world.api("POST", f"/api/v1/namespaces/{world.namespace}/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded,
    })  # fmt: skip


def wait_until(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {within}s")
        time.sleep(0.2)


def test_rollout_events_reach_generic_and_slack_receivers_past_a_hanging_one(
    world: RolloutWorld, receiver: Receiver
) -> None:
    put_secret(world, "hooks", {
        "ok": receiver.url("/ok"), "token": "s3cret", "slack": receiver.url("/slack"),
        "hang": receiver.url("/hang"), "fail": receiver.url("/fail"),
    })  # fmt: skip
    notifications = {
        "secretRef": {"name": "hooks"},
        "webhooks": [
            {"name": "stuck", "urlKey": "hang", "timeout": "1h", "retries": 0},
            {"name": "audit", "urlKey": "ok", "tokenKey": "token"},
            {"name": "team", "urlKey": "slack", "format": "Slack", "events": ["Promoted"]},
            {"name": "broken", "urlKey": "fail", "retries": 1, "events": ["Promoted"]},
        ],
    }
    # Another model of the namespace, whose only receiver hangs: it must not matter to digits.
    other = {**RolloutWorld.version_spec("1.0.0"), "runtime": {"image": "axiom-runtime:test"}}
    other["model"] = {**other["model"], "name": MODEL}  # the certificate names digits
    other["notifications"] = {
        "secretRef": {"name": "hooks"},
        "webhooks": [{"name": "stuck", "urlKey": "hang", "timeout": "1h", "retries": 0}],
    }
    world.api("POST", f"/apis/axiom.dev/v1alpha1/namespaces/{world.namespace}/axiommodels", {
        "apiVersion": "axiom.dev/v1alpha1", "kind": "AxiomModel",
        "metadata": {"name": "other"}, "spec": other,
    })  # fmt: skip
    world.apply_model("1.0.0", replicas=1, traffic=TRAFFIC, notifications=notifications)
    world.wait_stable("1.0.0", timeout=60)
    world.apply_model(
        "2.0.0", replicas=1, traffic=TRAFFIC, rollout=QUICK_STEPS, notifications=notifications
    )
    world.wait_stable("2.0.0", timeout=60)
    wait_until(lambda: len(receiver.bodies("/slack")) == 1, 15, "the Slack message")

    audit = receiver.bodies("/ok")
    assert [b["event"] for b in audit][:2] == ["Started", "Started"]  # 1.0.0, then the canary
    assert "Promoted" in [b["event"] for b in audit]
    promoted = next(b for b in audit if b["event"] == "Promoted")
    assert promoted["apiVersion"] == "axiom.dev/v1alpha1" and promoted["kind"] == "RolloutEvent"
    assert promoted["model"]["name"] == MODEL and promoted["model"]["namespace"] == world.namespace
    assert promoted["reason"] == "Promoted" and promoted["version"] == "2.0.0"
    headers = next(h for p, h, _ in receiver.calls if p == "/ok")
    assert headers["Authorization"] == "Bearer s3cret"
    (slack,) = receiver.bodies("/slack")
    assert slack["text"].startswith(f"*{world.namespace}/{MODEL}* Promoted:")
    assert slack["attachments"][0]["color"] == "#2eb886"
    # the failing receiver was tried once more (retries: 1), and that was all
    wait_until(lambda: len(receiver.bodies("/fail")) == 2, 15, "the retry of the failing receiver")
    assert [b["event"] for b in receiver.bodies("/fail")] == ["Promoted", "Promoted"]
    # the hanging receivers were each called once and are still waiting
    hung = [b["model"]["name"] for b in receiver.bodies("/hang")]
    assert sorted(set(hung)) == [MODEL, "other"] and len(hung) == 2
    other_status = world.api(
        "GET", f"/apis/axiom.dev/v1alpha1/namespaces/{world.namespace}/axiommodels/other"
    )["status"]
    assert other_status["phase"] == "Stable"

    # a version whose certificate is refused: CertificateBlocked
    world.apply_model("3.0.0", replicas=1, traffic=TRAFFIC, notifications=notifications)
    world.merge_patch(
        world.model_path, {"spec": {"certificate": {"secretRef": {"name": "digits-2-0-0-cert"}}}}
    )
    wait_until(
        lambda: "CertificateBlocked" in [b["event"] for b in receiver.bodies("/ok")],
        30,
        "CertificateBlocked",
    )
    blocked = next(b for b in receiver.bodies("/ok") if b["event"] == "CertificateBlocked")
    assert blocked["type"] == "Warning" and json.dumps(blocked)


def test_gates_hold_the_rollout_until_their_hooks_answer_2xx(
    world: RolloutWorld, receiver: Receiver
) -> None:
    put_secret(world, "gates", {"pre": receiver.url("/pre"), "confirm": receiver.url("/confirm")})
    receiver.answers.update({"/pre": 503, "/confirm": 0})  # confirm hangs at first
    notifications = {
        "secretRef": {"name": "gates"},
        "gates": {
            "preRollout": {"urlKey": "pre", "interval": "1s", "retries": 0},
            "confirmPromotion": {
                "urlKey": "confirm",
                "timeout": "1s",
                "interval": "1s",
                "retries": 0,
            },
        },
    }
    world.apply_model("1.0.0", replicas=1, traffic=TRAFFIC, notifications=notifications)
    world.wait_stable("1.0.0", timeout=60)  # the first version is no rollout: no gate
    world.apply_model(
        "2.0.0", replicas=1, traffic=TRAFFIC, rollout=QUICK_STEPS, notifications=notifications
    )
    waiting = world.wait(
        lambda s: s.get("waitingFor") == "PreRollout", 30, "waiting for the pre-rollout check"
    )
    assert waiting["stableVersion"] == "1.0.0" and "canaryVersion" not in waiting
    wait_until(lambda: len(receiver.bodies("/pre")) >= 2, 15, "the check asked again")
    asked = receiver.bodies("/pre")[0]
    assert asked["kind"] == "GateRequest" and asked["gate"] == "PreRollout"
    assert asked["version"] == "2.0.0" and asked["model"]["name"] == MODEL
    assert f"{MODEL}-v2-0-0" not in world.deployments()
    receiver.answers["/pre"] = 200
    world.wait(
        lambda s: s.get("waitingFor") == "ConfirmPromotion" and s.get("phase") == "Canary",
        60,
        "the canary passed its step and waits for confirmation",
    )
    assert world.status()["stableVersion"] == "1.0.0"
    # the hanging hook timed out and was asked again, not waited on
    wait_until(lambda: len(receiver.bodies("/confirm")) >= 2, 15, "the gate asked again")
    assert world.status()["waitingFor"] == "ConfirmPromotion"
    receiver.answers["/confirm"] = 204
    done = world.wait_stable("2.0.0", timeout=60)
    assert "waitingFor" not in done
    assert receiver.bodies("/confirm")[-1]["canaryVersion"] == "2.0.0"
