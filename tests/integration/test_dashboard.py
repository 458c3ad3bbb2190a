"""``kubectl axiom dashboard`` against the real control plane and the operator, looked at in
headless Chromium (Debian's package, installed by hack/install-chromium.sh when missing),
whose screenshot must show the live weight chart: its line colour, drawn by the page's own
script from ``/api/state``.

Chromium is kept off the network: no background networking, component updates, sync,
metrics or crash reports; every host name resolves to nothing but 127.0.0.1, and anything
that is not loopback goes to a proxy on a closed loopback port. Its profile is a temporary
directory, and it is stopped when the screenshot is taken (or the test gives up).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from rollout_fixtures import kwok_world  # noqa: F401 (the world fixture)
from rollout_support import MODEL, REPO, RolloutWorld

from axiom_operator.kubectl.dashboard.app import DashboardConfig, init_app

pytestmark = [pytest.mark.timeout(300)]
WEIGHT_BLUE = (0x25, 0x63, 0xEB)  # COLORS.weight in static/app.js
CANARY_BADGE = (0xDB, 0xEA, 0xFE)  # .phase.Canary in static/app.css
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def chromium_flags(profile: Path) -> list[str]:
    return [
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-breakpad",
        "--disable-crash-reporter",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--disable-default-apps",
        "--disable-extensions",
        "--metrics-recording-only",  # record nothing to send, send nothing
        "--no-pings",
        "--proxy-server=http://127.0.0.1:9",  # discard port, closed: nothing leaves this way
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
        "--window-size=1200,800",
        "--hide-scrollbars",
    ]


@pytest.fixture(scope="session")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        install = subprocess.run(
            ["sh", str(REPO / "hack" / "install-chromium.sh")],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        found = shutil.which("chromium")
        if found is None:
            pytest.skip(f"chromium cannot be installed here: {install.stderr.strip()[-300:]}")
    return found


def screenshot(chromium: str, url: str, out: Path, profile: Path) -> None:
    command = [chromium, *chromium_flags(profile), "--virtual-time-budget=4000"]
    command += [f"--screenshot={out}", url]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: chromium and its helpers
            process.wait()


def pixels_near(image: Any, colour: tuple[int, int, int], tolerance: int = 12) -> int:
    return sum(
        1
        for pixel in image.get_flattened_data()
        if all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))
    )


@pytest.fixture
def dashboard(kubeconfig: Path, namespace: str) -> Iterator[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("runtime", "operator")),
    }
    command = [sys.executable, "-m", "axiom_operator.kubectl", "--kubeconfig", str(kubeconfig)]
    command += ["-n", namespace, "dashboard", "--port", "0", "--interval", "0.5"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line, line
        yield line.split()[-2]
    finally:
        process.terminate()
        assert process.wait(timeout=15) == 0


@pytest.mark.cluster
def test_the_dashboard_draws_the_live_weight_in_headless_chromium(
    world: RolloutWorld, dashboard: str, chromium: str, tmp_path: Path
) -> None:
    from PIL import Image

    replicas = {"mode": "Replicas"}
    world.apply_model("1.0.0", replicas=2, traffic=replicas)
    world.wait_stable("1.0.0", timeout=60)
    world.apply_model("2.0.0", replicas=2, traffic=replicas, rollout={"steps": [{"weight": 25}]})
    world.wait(lambda s: s.get("canaryWeight") == 25, 60, "canary at 25%")
    time.sleep(2)  # a few polls: the weight series has a line to draw
    with _OPENER.open(f"{dashboard}api/state", timeout=5) as answer:
        state = json.load(answer)
    (model,) = state["models"]
    assert model["name"] == MODEL and model["phase"] == "Canary"
    assert model["canaryVersion"] == "2.0.0" and model["weights"][-1]["weight"] == 25
    assert {"version": "2.0.0", "role": "canary"} in model["versions"]

    out = tmp_path / "dashboard.png"
    screenshot(chromium, dashboard, out, tmp_path / "profile")
    image = Image.open(out).convert("RGB")
    assert image.size == (1200, 800)
    assert pixels_near(image, WEIGHT_BLUE) > 200, "the weight chart's line is not drawn"
    assert pixels_near(image, CANARY_BADGE) > 100, "the Canary phase badge is not shown"


async def test_the_dashboard_only_reads_and_loads_nothing_from_elsewhere() -> None:
    async def models() -> list[dict[str, Any]]:
        return [{"metadata": {"name": "m", "namespace": "ns"}, "status": {"phase": "Stable"}}]

    async with TestClient(TestServer(init_app(models, DashboardConfig(interval=0.05)))) as client:
        page = await client.get("/")
        assert (
            page.status == 200 and "default-src 'none'" in page.headers["Content-Security-Policy"]
        )
        assert "http" not in (await page.text()).replace("http-equiv", "")
        for _ in range(50):
            state = await (await client.get("/api/state")).json()
            if state["models"]:
                break
            await asyncio.sleep(0.05)
        assert state["models"][0]["phase"] == "Stable"
        assert (await client.post("/api/state")).status == 405
        assert (
            (await client.get("/app.js"))
            .headers["Content-Type"]
            .startswith("application/javascript")
        )
