"""The e2e tests' view of one model in one namespace: publish versions, apply, watch, predict.

Built on the demo's own tools (``axiom_devcluster.demo``: kubectl wrapper, manifests, steady
client, operator subprocess), so the tests exercise exactly what ``make demo`` shows. All
synchronous: the steady client has its own thread and loop, and kubectl is a subprocess.
"""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from axiom_devcluster.controlplane import ControlPlane
from axiom_devcluster.demo import manifests
from axiom_devcluster.demo.manifests import MODEL_NAME, ExampleVersion
from axiom_devcluster.demo.snapshot import Snapshot, ready
from axiom_devcluster.demo.stack import Kubectl

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parents[2]
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_until(
    probe: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    interval: float = 0.25,
    explain: Callable[[], object] | None = None,
) -> T:
    """``probe()`` once it is truthy; a TimeoutError after ``timeout`` s, saying what was
    last seen and, with ``explain``, what the world looked like (e.g. the model's status)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            found = probe()
        except Exception as error:  # mid-change: report it if it never settles
            last = error
        else:
            if found:
                return found
            last = found
        if time.monotonic() > deadline:
            message = f"{what}: not reached within {timeout:.0f} s (last: {last!r})"
            if explain is not None:
                try:
                    message += f"; world: {explain()!r}"
                except Exception as error:  # the explanation must not hide the timeout
                    message += f"; world: unreadable ({error!r})"
            raise TimeoutError(message)
        time.sleep(interval)


def tampered(data: bytes) -> bytes:
    """The same bytes with one byte in the middle flipped: another hash, same size."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


@dataclass
class ModelWorld:
    """One namespace on the agent node, holding the example model's versions."""

    kubeconfig: Path
    namespace: str

    @property
    def kubectl(self) -> Kubectl:
        return Kubectl(self.kubeconfig, self.namespace)

    def apply(self, *documents: dict[str, Any]) -> None:
        self.kubectl.run("apply", "-f", "-", stdin=manifests.to_yaml(*documents))

    def trust_example_key(self) -> None:
        self.apply(manifests.trusted_keys_secret(self.namespace))

    def publish(
        self, version: str, *, package: bytes | None = None, certificate: bytes | None = None
    ) -> ExampleVersion:
        """Package ConfigMap + certificate Secret of an example version (optionally altered)."""
        example = ExampleVersion.of(version)
        self.apply(
            manifests.package_configmap(
                example.package_configmap,
                self.namespace,
                package if package is not None else example.package.read_bytes(),
            ),
            manifests.certificate_secret(
                example.certificate_secret,
                self.namespace,
                certificate if certificate is not None else example.certificate.read_bytes(),
            ),
        )
        return example

    def apply_model(
        self, version: str, *, rollout: dict[str, Any] | None = None, replicas: int = 1
    ) -> None:
        example = ExampleVersion.of(version)
        self.apply(
            manifests.axiom_model(
                self.namespace, version, example.sha256, rollout=rollout, replicas=replicas
            )
        )

    def model(self) -> dict[str, Any] | None:
        return self.kubectl.get_or_none("axiommodel", MODEL_NAME)

    def snapshot(self) -> Snapshot:
        return Snapshot.of(self.model())

    def condition(self, kind: str) -> dict[str, Any]:
        for condition in ((self.model() or {}).get("status") or {}).get("conditions") or ():
            if condition.get("type") == kind:
                return dict(condition)
        return {}

    def wait_ready(self, timeout: float = 90) -> dict[str, Any]:
        return wait_until(
            lambda: (lambda m: m if ready(m) else None)(self.model()),
            what=f"AxiomModel {MODEL_NAME} Ready",
            timeout=timeout,
        )

    def items(self, kind: str, selector: str | None = None) -> list[dict[str, Any]]:
        args = ["get", kind]
        if selector:
            args += ["-l", selector]
        found: list[dict[str, Any]] = self.kubectl.json(*args).get("items", [])
        return found

    def events(self, **fields: str) -> list[dict[str, Any]]:
        args = ["get", "events"]
        if fields:
            args += ["--field-selector", ",".join(f"{k}={v}" for k, v in fields.items())]
        found: list[dict[str, Any]] = self.kubectl.json(*args).get("items", [])
        return found

    def service_url(self, name: str = MODEL_NAME) -> str:
        service = self.kubectl.json("get", "service", name)
        address = service["spec"]["clusterIP"]
        assert address.startswith("127.100."), f"Service {name} ClusterIP {address} not loopback"
        return f"http://{address}:{service['spec']['ports'][0]['port']}"


def sample(label: int = 3) -> bytes:
    return (manifests.EXAMPLE_DIR / f"sample-digit-{label}.json").read_bytes()


def get_json(url: str, timeout: float = 3) -> tuple[int, Any]:
    import json

    try:
        with _NO_PROXY.open(url, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def restart_apiserver(plane: ControlPlane, down_for: float = 3.0, timeout: float = 60) -> None:
    """kube-apiserver stopped (SIGTERM), down for ``down_for`` seconds, started again on the
    same port with the same arguments; returns once /readyz answers. The outage is printed:
    pytest shows it when the test fails, where it tells a slow restart from a lost request."""
    times = plane.restart("kube-apiserver", down_for=down_for, timeout=timeout)
    print(f"kube-apiserver restarted: {times.describe()}")


def follow(
    world: ModelWorld, done: Callable[[Snapshot], bool], *, timeout: float
) -> list[Snapshot]:
    """Every distinct status snapshot until ``done(snapshot)``; fails with the trail."""
    trail: list[Snapshot] = []
    deadline = time.monotonic() + timeout
    while True:
        now = world.snapshot()
        if not trail or trail[-1] != now:
            trail.append(now)
        if done(now):
            return trail
        if time.monotonic() > deadline:
            history = "\n".join(s.describe() for s in trail)
            raise TimeoutError(
                f"rollout did not finish in {timeout:.0f} s; statuses seen:\n{history}"
            )
        time.sleep(0.25)
