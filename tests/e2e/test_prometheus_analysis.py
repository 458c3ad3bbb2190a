"""End to end: canary analysis read from a real Prometheus instead of the pods.

A Prometheus server (built from its Go module like the control plane) discovers the runtime
pods through the test apiserver (``kubernetes_sd_configs``, role pod), scrapes them every
second and labels the series with the namespace. The model's ``spec.rollout.analysis.
prometheus`` points the operator at it; the same steady client as in test_canary.py talks
to the model Service throughout. A good version must be promoted and a bad one rolled back
on figures that came from PromQL, and a model pointed at a Prometheus that does not answer
must never be promoted: its analysis is inconclusive and says why.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import ModelWorld, follow, sample

from axiom_devcluster import addresses
from axiom_devcluster.demo import manifests
from axiom_devcluster.demo.operator_process import OperatorProcess
from axiom_devcluster.demo.traffic import SteadyClient, predict
from axiom_devcluster.prometheus_server import PrometheusServer

pytestmark = [pytest.mark.e2e, pytest.mark.agent, pytest.mark.slow, pytest.mark.timeout(240)]
# Longer than the scrape interval (1 s) several times over, so a window holds real samples.
STEPS = ((25, "10s"), (50, "10s"))
INTERVAL = "5s"


# Basic auth of the protected server: a TEST-ONLY password and its bcrypt hash (cost 10),
# which Prometheus' web config takes instead of the password.
USER, PASSWORD = "axiom", "axiom-test-only-password"
PASSWORD_BCRYPT = "$2b$10$KvGwgjMASf.fopF.BrqZdu1Yg8JgMXCSR6YA6AOstxn6aonE/dQEe"


@pytest.fixture
def prometheus(world: ModelWorld, tmp_path: Path) -> Iterator[PrometheusServer]:
    with PrometheusServer(world.kubeconfig, [world.namespace], tmp_path / "prometheus") as server:
        yield server


@pytest.fixture
def protected_prometheus(world: ModelWorld, tmp_path: Path) -> Iterator[PrometheusServer]:
    """The same server, refusing any request without the basic-auth credentials."""
    with PrometheusServer(
        world.kubeconfig,
        [world.namespace],
        tmp_path / "prometheus",
        basic_auth=(USER, PASSWORD, PASSWORD_BCRYPT),
    ) as server:
        yield server


def rollout_via(address: str, **source: object) -> dict[str, object]:
    rollout = manifests.canary_rollout(steps=STEPS, interval=INTERVAL)
    rollout["analysis"]["prometheus"] = {"address": address, "timeout": "2s", **source}  # type: ignore[index]
    return rollout


def start_on_v1(world: ModelWorld, *versions: str) -> SteadyClient:
    for version in ("1.0.0", *versions):
        world.publish(version)
    world.apply_model("1.0.0")
    world.wait_ready()
    return SteadyClient(world.service_url(), sample(3), rate=20.0).start()


def test_good_canary_is_promoted_on_figures_from_prometheus(
    world: ModelWorld, operator: OperatorProcess, prometheus: PrometheusServer
) -> None:
    client = start_on_v1(world, "2.0.0")
    try:
        world.apply_model("2.0.0", rollout=rollout_via(prometheus.url))
        trail = follow(world, lambda s: s.stable == "2.0.0" and not s.canary, timeout=180)
    finally:
        stats = client.stop()

    passed = [s for s in trail if s.canary == "2.0.0" and s.verdict in ("Pass", "Success")]
    assert passed, [s.describe() for s in trail]
    assert stats.failed == 0, stats.failures
    assert predict(world.service_url(), sample(7)).version == "2.0.0"
    # The figures were there to be read: Prometheus holds both versions' request counters,
    # from pods of this namespace only, found through the apiserver.
    series = prometheus.query(f'axiom_inference_total{{namespace="{world.namespace}"}}')
    assert {s["metric"]["version"] for s in series} >= {"1.0.0", "2.0.0"}, series
    targets = prometheus.active_targets()
    assert targets and all(t["labels"]["namespace"] == world.namespace for t in targets)
    assert all(t["labels"]["instance"].startswith("127.") for t in targets), targets


def test_bad_canary_is_rolled_back_on_figures_from_prometheus(
    world: ModelWorld, operator: OperatorProcess, prometheus: PrometheusServer
) -> None:
    client = start_on_v1(world, "3.0.0")
    try:
        world.apply_model("3.0.0", rollout=rollout_via(prometheus.url))
        trail = follow(
            world, lambda s: "3.0.0" in s.blocked and not s.canary and not s.draining, timeout=180
        )
    finally:
        stats = client.stop()

    failed = [s for s in trail if s.verdict in ("Fail", "Failure")]
    assert failed and "confidence" in failed[-1].reasons.lower(), [s.describe() for s in trail]
    assert stats.failed == 0, stats.failures
    assert predict(world.service_url(), sample(0)).version == "1.0.0"


def test_a_shadow_step_judged_through_prometheus_reads_the_comparison(
    world: ModelWorld, operator: OperatorProcess, prometheus: PrometheusServer
) -> None:
    """The label-permuted 4.0.0 in a shadow step, its comparison asked of Prometheus: rolled
    back on the agreement, as the direct scrape does (tests/e2e/test_shadow.py), with every
    client answer from 1.0.0."""
    client = start_on_v1(world, "4.0.0")
    rollout = manifests.shadow_rollout(shadow_pause="10s", steps=STEPS, interval=INTERVAL)
    rollout["analysis"]["prometheus"] = {"address": prometheus.url, "timeout": "2s"}
    try:
        world.apply_model("4.0.0", rollout=rollout)
        trail = follow(
            world, lambda s: "4.0.0" in s.blocked and not s.canary and not s.draining, timeout=180
        )
    finally:
        stats = client.stop()

    described = [s.describe() for s in trail]
    assert all((s.weight or 0) == 0 for s in trail if s.canary == "4.0.0"), described
    failed = [s for s in trail if s.verdict in ("Fail", "Failure")]
    assert failed and "agreement with stable" in failed[-1].reasons, described
    assert "3->4" in failed[-1].reasons, described
    comparison = (world.model() or {})["status"]["lastAnalysis"]["comparison"]
    assert comparison["agreement"] < 0.05 and comparison["rows"] >= 20, comparison
    assert stats.failed == 0 and set(stats.by_version) == {"1.0.0"}, stats.by_version
    # The comparison came from Prometheus: it holds the stable pods' shadow series.
    series = prometheus.query(
        f'axiom_shadow_agreements_total{{namespace="{world.namespace}",canary="4.0.0"}}'
    )
    assert series and all(s["metric"]["version"] == "1.0.0" for s in series), series


@pytest.mark.timeout(150)
def test_an_unreachable_prometheus_is_inconclusive_never_a_pass(
    world: ModelWorld, operator: OperatorProcess
) -> None:
    nowhere = f"http://{addresses.BIND_IP}:{addresses.free_port()}"
    client = start_on_v1(world, "2.0.0")
    try:
        world.apply_model("2.0.0", rollout=rollout_via(nowhere))
        trail = follow(
            world,
            lambda s: s.canary == "2.0.0" and "unreachable" in s.reasons.lower(),
            timeout=90,
        )
    finally:
        stats = client.stop()

    last = trail[-1]
    assert last.verdict not in ("Pass", "Success"), last.describe()
    assert nowhere in last.reasons, last.describe()
    assert all(s.stable == "1.0.0" for s in trail if s.stable != "-"), [s.describe() for s in trail]
    assert stats.failed == 0, stats.failures


def test_credentials_from_a_secret_reach_a_protected_prometheus(
    world: ModelWorld, operator: OperatorProcess, protected_prometheus: PrometheusServer
) -> None:
    """Basic auth from the Secret named in credentialsSecretRef: without it the server
    answers 401 (checked first), with it the canary is judged and promoted."""
    request = urllib.request.Request(f"{protected_prometheus.url}/api/v1/query?query=up")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=5)
    assert refused.value.code == 401
    world.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "prometheus-reader", "namespace": world.namespace},
            "stringData": {"username": USER, "password": PASSWORD + "\n"},
        }
    )
    client = start_on_v1(world, "2.0.0")
    try:
        rollout = rollout_via(
            protected_prometheus.url,
            credentialsSecretRef={"name": "prometheus-reader"},
            headers={"X-Scope-OrgID": "team-a"},
        )
        world.apply_model("2.0.0", rollout=rollout)
        trail = follow(world, lambda s: s.stable == "2.0.0" and not s.canary, timeout=180)
    finally:
        stats = client.stop()

    assert any(s.verdict in ("Pass", "Success") for s in trail), [s.describe() for s in trail]
    assert not any("401" in s.reasons for s in trail), [s.describe() for s in trail]
    assert stats.failed == 0, stats.failures


@pytest.mark.timeout(150)
def test_a_missing_credentials_secret_is_inconclusive_and_named(
    world: ModelWorld, operator: OperatorProcess, protected_prometheus: PrometheusServer
) -> None:
    client = start_on_v1(world, "2.0.0")
    try:
        rollout = rollout_via(
            protected_prometheus.url, credentialsSecretRef={"name": "no-such-secret"}
        )
        world.apply_model("2.0.0", rollout=rollout)
        trail = follow(world, lambda s: "no-such-secret" in s.reasons, timeout=90)
    finally:
        stats = client.stop()

    assert trail[-1].verdict not in ("Pass", "Success"), trail[-1].describe()
    assert "credentials Secret no-such-secret not found" in trail[-1].reasons
    assert stats.failed == 0, stats.failures
