"""Canary rollouts driven only by gRPC traffic, on the real control plane with real pods.

The clients call the model Service's ``grpc`` port (ClusterIP:8081, through the node
agent's proxy) with tritonclient.grpc and a fresh ``x-request-id`` each; no HTTP inference
request is made. So a promotion proves that the stable pods split gRPC calls by the weight,
and that the analysis counts them (minRequests is only met by gRPC calls); a rollback
proves that a bad canary's gRPC answers are judged (mean confidence) and that no client
call failed while it was being served.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from rollout_fixtures import agent_world  # noqa: F401 (the world fixture)
from rollout_support import EXAMPLES, RolloutWorld, short_canary

pytestmark = [pytest.mark.cluster, pytest.mark.agent, pytest.mark.slow, pytest.mark.timeout(300)]

ROW = np.asarray(
    json.loads((EXAMPLES / "sample-digit-3.json").read_text())["input"], dtype=np.float32
)


def grpc_target(world: RolloutWorld) -> str:
    service = world.get(f"/api/v1/namespaces/{world.namespace}/services/digits")
    [port] = [p for p in service["spec"]["ports"] if p["name"] == "grpc"]
    assert port.get("appProtocol") == "grpc"
    return f"{service['spec']['clusterIP']}:{port['port']}"


class SteadyGrpcClient:
    """ModelInfer calls from a thread until stopped, never retried; answers counted by version."""

    def __init__(self, target: str, rate: float = 25.0) -> None:
        self.target = target
        self.period = 1.0 / rate
        self.by_version: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steady-grpc", daemon=True)

    def __enter__(self) -> SteadyGrpcClient:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        client = grpcclient.InferenceServerClient(self.target)
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                tensor = grpcclient.InferInput("input-0", list(ROW.shape), "FP32")
                tensor.set_data_from_numpy(ROW)
                try:
                    answer = client.infer(
                        "digits",
                        [tensor],
                        headers={"x-request-id": str(uuid.uuid4())},
                        client_timeout=5,
                    )
                    self.by_version[answer.get_response().model_version] += 1
                except grpcclient.InferenceServerException as error:
                    self.failures.append(f"{error.status()} {error.message()}")
                self._stop.wait(max(0.0, self.period - (time.monotonic() - started)))
        finally:
            client.close()


def on_v1(world: RolloutWorld, *versions: str) -> None:
    world.publish("1.0.0", *versions)
    world.apply_model("1.0.0", replicas=2)
    world.wait_stable("1.0.0", timeout=90)


def test_a_canary_fed_only_by_grpc_is_analysed_and_promoted(world: RolloutWorld) -> None:
    on_v1(world, "2.0.0")
    with SteadyGrpcClient(grpc_target(world)) as client:
        world.apply_model("2.0.0", replicas=2, rollout=short_canary())
        world.wait(lambda s: s.get("canaryWeight") == 20, 60, "step 1 at 20%")
        world.wait(lambda s: s.get("canaryWeight") == 60, 60, "step 2 at 60%")
        status = world.wait_stable("2.0.0", timeout=90)
    assert client.failures == [], client.failures[:5]
    assert client.by_version["2.0.0"] > 0 and client.by_version["1.0.0"] > 0, client.by_version
    assert status["lastAnalysis"]["verdict"] == "Pass"
    assert [(h["version"], h["outcome"]) for h in status["history"]][-1] == ("2.0.0", "Promoted")


def test_a_bad_canary_fed_only_by_grpc_is_rolled_back_unseen(world: RolloutWorld) -> None:
    on_v1(world, "3.0.0")
    with SteadyGrpcClient(grpc_target(world)) as client:
        world.apply_model("3.0.0", replicas=2, rollout=short_canary())
        world.wait(lambda s: s.get("canaryVersion") == "3.0.0", 30, "canary 3.0.0 started")
        status = world.wait(
            lambda s: (
                s.get("phase") == "RolledBack" and "3.0.0" in (s.get("blockedVersions") or [])
            ),
            120,
            "automatic rollback of 3.0.0",
        )
    assert client.failures == [], client.failures[:5]
    assert client.by_version["3.0.0"] > 0, "the canary answered gRPC calls before it failed"
    assert status["lastAnalysis"]["verdict"] == "Fail"
    assert "confidence" in status["lastAnalysis"]["message"]
