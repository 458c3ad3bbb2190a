"""With a traffic config, inference goes through the splitter and /ready reports its generation."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from axiom_runtime.server import ServerConfig
from axiom_runtime.server.testing import RunningServer, SignedModel, server_config

ROW = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
MakeServer = Callable[[ServerConfig], Awaitable[RunningServer]]


async def test_ready_reports_applied_traffic_generation(
    make_server: MakeServer, signed_model: SignedModel, tmp_path: Path
) -> None:
    traffic = tmp_path / "traffic.json"
    traffic.write_text(json.dumps({"generation": 3, "canary": None}))
    server = await make_server(server_config(signed_model, traffic_config=str(traffic)))
    status, document = await server.get("/ready")
    assert status == 200 and document["trafficGeneration"] == 3


async def test_requests_without_canary_are_answered_locally(
    make_server: MakeServer, signed_model: SignedModel, tmp_path: Path
) -> None:
    traffic = tmp_path / "traffic.json"
    traffic.write_text(json.dumps({"generation": 1, "canary": None}))
    server = await make_server(server_config(signed_model, traffic_config=str(traffic)))
    async with server.session.post(server.base_url + "/predict", json={"input": ROW}) as response:
        assert response.status == 200
        assert response.headers["X-Axiom-Version"] == "1.0.0"
    _, text = await server.get("/metrics")
    assert "axiom_traffic_config_generation" in text
