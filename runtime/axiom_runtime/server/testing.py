"""Helpers for tests and benches: build small signed packages, pick free loopback ports.

Public so that other components' tests (traffic split, operator e2e) and ``bench/`` build
models the same way, with the core API only: random-weight MLPs (a Linear-ReLU-Linear-Softmax
stack), a certificate signed by a fresh key, and a trusted-keys directory holding that key.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web

from axiom_runtime.certificate import certificate_json, sign_certificate
from axiom_runtime.convert import from_sequential_descriptor
from axiom_runtime.keys import generate_private_key, key_id_for, public_key_pem
from axiom_runtime.package import load_package, write_package
from axiom_runtime.server.app import init_app
from axiom_runtime.server.config import ServerConfig

INPUT_SIZE = 8
CLASSES = 3
INPUT_RANGE = (0.0, 16.0)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (another process may take it later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mlp_descriptor(
    name: str = "tiny",
    version: str = "1.0.0",
    *,
    input_size: int = INPUT_SIZE,
    hidden: int = 16,
    hidden_layers: int = 1,
    classes: int = CLASSES,
    input_range: tuple[float, float] | None = INPUT_RANGE,
    labels: list[str] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """A PyTorch-style sequential descriptor: (Linear, ReLU) x hidden_layers, Linear, Softmax."""
    rng = np.random.default_rng(seed)
    layers: list[dict[str, Any]] = []
    width = input_size
    for _ in range(hidden_layers):
        layers.append(_linear(rng, width, hidden))
        layers.append({"type": "relu"})
        width = hidden
    layers.append(_linear(rng, width, classes))
    layers.append({"type": "softmax", "dim": 1})
    doc: dict[str, Any] = {
        "format": "axiom.pytorch.sequential.v1",
        "name": name,
        "version": version,
        "input_shape": [input_size],
        "layers": layers,
    }
    if input_range is not None:
        doc["input_range"] = list(input_range)
    if labels is not None:
        doc["labels"] = labels
    return doc


def _linear(rng: np.random.Generator, inputs: int, outputs: int) -> dict[str, Any]:
    scale = 1.0 / np.sqrt(inputs)
    return {
        "type": "linear",
        "in_features": inputs,
        "out_features": outputs,
        "weight": (rng.standard_normal((outputs, inputs)) * scale).tolist(),
        "bias": np.zeros(outputs).tolist(),
    }


@dataclass(frozen=True)
class SignedModel:
    package: Path
    certificate: Path
    trusted_keys: Path
    sha256: str
    name: str
    version: str


def build_signed_model(directory: Path, **descriptor: Any) -> SignedModel:
    """Write package, certificate and a trusted-keys directory into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    spec, weights = from_sequential_descriptor(mlp_descriptor(**descriptor))
    package_path = directory / f"{spec.name}-{spec.version}.axiom"
    sha256 = write_package(package_path, spec, weights)
    private_key = generate_private_key()
    key_id = key_id_for(private_key.public_key())
    document = sign_certificate(load_package(package_path), private_key, issuer="tests")
    certificate = directory / f"{spec.name}-{spec.version}.cert.json"
    certificate.write_text(certificate_json(document))
    keys = directory / "trusted"
    keys.mkdir(exist_ok=True)
    (keys / key_id).write_bytes(public_key_pem(private_key.public_key()))
    return SignedModel(package_path, certificate, keys, sha256, spec.name, spec.version)


@dataclass
class RunningServer:
    base_url: str
    session: aiohttp.ClientSession
    app: web.Application

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.session.get(self.base_url + path) as response:
            return response.status, await _body(response)

    async def post_json(self, path: str, payload: Any) -> tuple[int, Any]:
        async with self.session.post(self.base_url + path, json=payload) as response:
            return response.status, await _body(response)

    async def post_raw(
        self,
        path: str,
        data: bytes,
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """POST bytes; ``content_type=None`` sends no Content-Type at all."""
        all_headers = dict(headers or {})
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        # Without skipping it, aiohttp adds application/octet-stream to a bytes body.
        skip = () if content_type is not None else ("Content-Type",)
        async with self.session.post(
            self.base_url + path, data=data, headers=all_headers, skip_auto_headers=skip
        ) as response:
            return response.status, await _body(response)

    async def post_binary(
        self, path: str, header: dict[str, Any], tensors: bytes = b""
    ) -> tuple[int, dict[str, Any], bytes]:
        """A binary tensor data request: (status, JSON header of the answer, binary part)."""
        head = json.dumps(header).encode()
        async with self.session.post(
            self.base_url + path,
            data=head + tensors,
            headers={
                "Inference-Header-Content-Length": str(len(head)),
                "Content-Type": "application/octet-stream",
            },
        ) as response:
            body = await response.read()
            length = int(response.headers.get("Inference-Header-Content-Length", len(body)))
            return response.status, json.loads(body[:length]), body[length:]

    async def wait_loaded(self, limit_s: float = 10.0) -> dict[str, Any]:
        """Wait until loading has finished (ready or definitively not); return /ready's JSON."""
        deadline = time.monotonic() + limit_s
        while True:
            _, document = await self.get("/ready")
            if document["phase"] != "Loading" or time.monotonic() > deadline:
                return dict(document)
            await asyncio.sleep(0.02)


async def _body(response: aiohttp.ClientResponse) -> Any:
    if response.content_type == "application/json":
        return await response.json()
    return await response.text()


async def start_server(config: ServerConfig) -> tuple[web.AppRunner, RunningServer]:
    app = init_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    session = aiohttp.ClientSession()
    return runner, RunningServer(f"http://{config.host}:{config.port}", session, app)


def server_config(model: SignedModel, **overrides: Any) -> ServerConfig:
    settings: dict[str, Any] = {
        "model_uri": str(model.package),
        "certificate": str(model.certificate),
        "trusted_keys": str(model.trusted_keys),
        "host": "127.0.0.1",
        "port": free_port(),
    }
    settings.update(overrides)
    return ServerConfig(**settings)


class ServeProcess:
    """``axiom serve`` as a real subprocess, logging JSON lines to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "axiom_runtime.server", *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_path.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.kill()
        code = self.process.wait(timeout=10)
        self._log.close()
        return code


@dataclass
class ServedBoth:
    """A real `axiom serve` process with HTTP and gRPC ports on loopback."""

    process: ServeProcess
    http_port: int
    grpc_port: int

    @property
    def http_address(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://{self.http_address}/metrics", timeout=5) as answer:
            return str(answer.read().decode())


def serve_both(model: SignedModel, log: Path, **env: str) -> ServedBoth:
    """Start `axiom serve` for ``model`` with both protocols and wait until it is ready."""
    http_port, grpc_port = free_port(), free_port()
    process = ServeProcess(
        [],
        {
            **os.environ,
            "AXIOM_MODEL_URI": str(model.package),
            "AXIOM_CERTIFICATE": str(model.certificate),
            "AXIOM_TRUSTED_KEYS": str(model.trusted_keys),
            "AXIOM_HOST": "127.0.0.1",
            "AXIOM_PORT": str(http_port),
            "AXIOM_GRPC_PORT": str(grpc_port),
            "AXIOM_LOG_LEVEL": "WARNING",
            **env,
        },
        log,
    )
    served = ServedBoth(process, http_port, grpc_port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.process.poll() is not None:
            raise AssertionError("axiom serve exited: " + log.read_text())
        try:
            with urllib.request.urlopen(f"http://{served.http_address}/ready", timeout=2):
                return served
        except OSError:  # refused while starting, or 503 (HTTPError) while loading
            time.sleep(0.05)
    process.stop()
    raise AssertionError("axiom serve did not become ready: " + log.read_text())
