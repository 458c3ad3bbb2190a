"""pytest fixtures that run the Axiom operator in-process against the local control plane.

Loaded next to ``pytest_plugin`` from ``tests/conftest.py``.

``axiom_crds`` (session)
    Applies every CRD in ``crds/`` (AxiomModel, Kopf peering) once and waits until each is
    Established.
``start_operator`` (function)
    A factory: ``with start_operator(namespace, standalone=True, priority=None) as runner:``
    runs ``kopf run -m axiom_operator.main`` through ``kopf.testing.KopfRunner`` (its own
    thread and event loop), watching only that namespace, with KUBECONFIG aimed at the test
    cluster and the metrics server on a free loopback port (``runner.metrics_port``).
    Leaving the block stops the operator; an exception inside it is re-raised.
``operator_runner`` (function)
    The operator started for the test's ``namespace`` (standalone) for the whole test.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.error
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from axiom_devcluster.controlplane import ControlPlane

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def apply_crds(plane: ControlPlane, directory: Path = CRD_DIR, timeout: float = 30) -> list[str]:
    names = []
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            name = doc["metadata"]["name"]
            try:
                plane.api_request("POST", CRD_PATH, doc)
            except urllib.error.HTTPError as error:
                if error.code != 409:
                    raise RuntimeError(
                        f"CRD {name} from {path.name} refused: {error.read().decode()}"
                    ) from error
                live = plane.api_request("GET", f"{CRD_PATH}/{name}")
                doc["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
                plane.api_request("PUT", f"{CRD_PATH}/{name}", doc)
            names.append(name)
    wait_established(plane, names, timeout=timeout)
    return names


def wait_established(plane: ControlPlane, names: list[str], *, timeout: float = 30.0) -> None:
    """Wait until every named CRD is Established (its API is served)."""
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            live = plane.api_request("GET", f"{CRD_PATH}/{name}")
            # status and its conditions are null for a moment right after creation
            conditions = (live.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not Established after {timeout}s")
            time.sleep(0.1)


@pytest.fixture(scope="session")
def axiom_crds(control_plane: ControlPlane) -> list[str]:
    return apply_crds(control_plane)


OperatorFactory = Callable[..., AbstractContextManager[Any]]


@pytest.fixture
def start_operator(
    kubeconfig: Path, axiom_crds: list[str], monkeypatch: pytest.MonkeyPatch
) -> OperatorFactory:
    from kopf.testing import KopfRunner

    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))

    @contextmanager
    def start(
        namespace: str, *, standalone: bool = True, priority: int | None = None, **env: str
    ) -> Iterator[Any]:
        port = free_port()
        settings = {
            "AXIOM_OPERATOR_METRICS_PORT": str(port),
            "AXIOM_OPERATOR_METRICS_HOST": "127.0.0.1",
            "AXIOM_OPERATOR_NAMESPACES": namespace,
            # the operator reads /ready and /metrics of pods: never anything off loopback
            # (kwok pods report fake 198.18.x.x addresses, agent pods 127.19.x.y)
            "AXIOM_OPERATOR_POD_NETWORK_ALLOWLIST": "127.0.0.0/8",
            **env,
        }
        saved = {key: os.environ.get(key) for key in settings}
        os.environ.update(settings)
        args = ["run", "--namespace", namespace, "-m", "axiom_operator.main"]
        if standalone:
            args.append("--standalone")
        if priority is not None:
            args += ["--priority", str(priority)]
        try:
            with KopfRunner(args, timeout=60) as runner:
                runner.metrics_port = port  # type: ignore[attr-defined]
                yield runner
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    return start


@pytest.fixture
def operator_runner(start_operator: OperatorFactory, namespace: str) -> Iterator[Any]:
    with start_operator(namespace) as runner:
        yield runner
