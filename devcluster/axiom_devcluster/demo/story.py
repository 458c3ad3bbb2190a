"""The steps of ``make demo``, each checked against what the documentation promises.

Every step acts the way a user would (kubectl apply/annotate, POST /predict), prints what a
user would see (``kubectl get axm``, predictions with the answering version, new Events) and
then checks the outcome. When the operator does not do what is documented, the step raises
``DemoStepError`` naming what was expected and what was seen; nothing is printed that did
not happen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from axiom_devcluster.demo import manifests
from axiom_devcluster.demo.manifests import EXAMPLE_DIR, MODEL_NAME, ExampleVersion
from axiom_devcluster.demo.narration import (
    CANARY_START_TIMEOUT,
    CLIENT_RATE,
    GITOPS_HOLD_SECONDS,
    ROLLOUT_TIMEOUT,
    UNWIRED_HINT,
    Narration,
    utc_now,
)
from axiom_devcluster.demo.report import DemoStepError
from axiom_devcluster.demo.snapshot import Snapshot, ready, ready_condition
from axiom_devcluster.demo.traffic import SteadyClient, predict


@dataclass
class Story(Narration):
    """The numbered steps of the demo, in the order ``__main__`` runs them."""

    # -- the steps -------------------------------------------------------------------------

    def _service_answers(self) -> bool:
        body = (EXAMPLE_DIR / "sample-digit-3.json").read_bytes()
        try:
            return predict(self.service_url, body).status == 200
        except OSError:
            return False

    def start_cluster(self) -> None:
        report = self.report
        report.note("etcd, kube-apiserver, controller-manager and scheduler built from the")
        if self.stack.realnode:
            report.note("Kubernetes Go modules; plus a real node: containerd, kubelet, a CNI")
            report.note("bridge on 198.18.250.0/24 and kube-proxy; pods run the built images.")
        else:
            report.note("Kubernetes Go modules, on 127.0.0.1; plus a node agent that runs pods as")
            report.note("local processes with their own 127.19.x.x address (no Docker needed).")
        self.report.run("the control plane", self.stack.start_cluster)
        assert self.stack.plane is not None
        report.note(f"control plane at {self.stack.plane.server}")
        self.report.run("the node agent", self.stack.start_agent)
        report.note(f"pods run on {self.stack.node_description}")
        self.show("kubectl get nodes", "get", "nodes", "-o", "wide")
        report.command(f"kubectl create namespace {self.ns}")
        report.block(self.stack.kubectl.run("create", "namespace", self.ns, namespaced=False))
        annotations = [f"{k}={v}" for k, v in self.stack.agent_namespace_annotations().items()]
        if annotations:
            self.stack.kubectl.run("annotate", "namespace", self.ns, *annotations, namespaced=False)
        if not self.stack.realnode:
            report.note(f"(namespace {self.ns} is annotated so its pods run on the node agent)")

    def install_crd(self) -> None:
        self.report.command("kubectl apply -f charts/axiom-operator/crds/")
        self.report.block(self.stack.install_crds())
        self.report.run(
            "the CRD to be Established",
            lambda: self.stack.kubectl.run(
                "wait",
                "--for=condition=Established",
                "crd/axiommodels.axiom.dev",
                "--timeout=60s",
                namespaced=False,
            ),
        )
        self.show(
            "kubectl api-resources --api-group=axiom.dev", "api-resources", "--api-group=axiom.dev"
        )

    def start_operator(self) -> None:
        self.report.command(f"axiom operator --standalone --namespace {self.ns} &")
        operator = self.report.run(
            "the operator to answer its liveness probe", self.stack.start_operator
        )
        self.report.note(f"operator running, pid {operator.pid}, log {operator.log_path}")

    def deploy_first_version(self) -> None:
        self.report.note("The trusted public key (TEST-ONLY example key) the operator and")
        self.report.note("runtime verify certificates against:")
        self.report.command(
            f"kubectl -n {self.ns} create secret generic {manifests.TRUSTED_KEYS_SECRET} "
            "--from-file=examples/keys/trusted/"
        )
        self.stack.kubectl.run(
            "apply", "-f", "-", stdin=manifests.to_yaml(manifests.trusted_keys_secret(self.ns))
        )
        v1 = ExampleVersion.of("1.0.0")
        self.publish_version(v1)
        self.apply(
            manifests.axiom_model(self.ns, v1.version, v1.sha256, runtime=self.stack.runtime_spec),
            show_yaml=True,
        )
        self.report.wait(
            "digits 1.0.0 to be Ready (certificate verified, pod started, /ready passing)",
            lambda: ready(self.model()),
            timeout=120,
            detail=lambda: ready_condition(self.model()),
        )
        self.get_axm()
        service = self.stack.kubectl.json("get", "service", MODEL_NAME)
        address = service["spec"]["clusterIP"]
        expected, through = (
            ("198.19.", "kube-proxy") if self.stack.realnode else ("127.", "the agent")
        )
        if not address.startswith(expected):
            raise DemoStepError(f"Service {MODEL_NAME} has ClusterIP {address}, not {expected}x")
        self.service_url = f"http://{address}:{service['spec']['ports'][0]['port']}"
        self.report.note(
            f"Service {MODEL_NAME} has ClusterIP {address} (reachable through {through})"
        )
        if self.stack.realnode:
            self.report.wait(
                "kube-proxy to route the ClusterIP (it programs new endpoints just after Ready)",
                self._service_answers,
                timeout=30,
            )
        versions = self.predictions()
        if versions != {"1.0.0"}:
            raise DemoStepError(
                f"expected every answer from 1.0.0, got versions {sorted(versions)}"
            )
        self.new_events()

    def start_client(self) -> None:
        body = (EXAMPLE_DIR / "sample-digit-3.json").read_bytes()
        self.client = SteadyClient(self.service_url, body, rate=CLIENT_RATE).start()
        self.report.note(
            f"A client now sends {CLIENT_RATE:g} requests/s to {self.service_url}/predict "
            "until the end, each with its own X-Request-ID; it never retries."
        )

    def canary_good_version(self) -> None:
        v2 = ExampleVersion.of("2.0.0")
        self.publish_version(v2)
        self.start_client()
        begun = time.monotonic()
        self.report.note("Version 2.0.0 goes out as a canary: 25% then 50% of requests, each")
        self.report.note("step held 8 s and analysed every 4 s (error rate, mean confidence).")
        self.apply(
            manifests.axiom_model(
                self.ns,
                v2.version,
                v2.sha256,
                rollout=manifests.canary_rollout(),
                runtime=self.stack.runtime_spec,
            ),
            show_yaml=True,
        )
        saw_canary = False

        def check(now: Snapshot, elapsed: float) -> None:
            nonlocal saw_canary
            saw_canary = saw_canary or now.canary == "2.0.0"
            if not saw_canary and now.stable == "2.0.0":
                raise DemoStepError(
                    "the operator moved all traffic to 2.0.0 at once, without a canary "
                    f"(status.canaryVersion never showed 2.0.0). {UNWIRED_HINT}"
                )
            if not saw_canary and elapsed > CANARY_START_TIMEOUT:
                raise DemoStepError(
                    f"no canary of 2.0.0 within {CANARY_START_TIMEOUT:.0f} s: "
                    f"status.canaryVersion never showed it (now: {now.describe()}). {UNWIRED_HINT}"
                )

        self.watch(
            "2.0.0 promoted to stable after its canary steps",
            lambda now, model: (
                saw_canary and now.stable == "2.0.0" and not now.canary and ready(model)
            ),
            timeout=ROLLOUT_TIMEOUT,
            check=check,
        )
        self.wait_client_on("2.0.0", since=time.monotonic())
        self.get_axm()
        stats = self.expect_no_failures(begun, "the canary of 2.0.0")
        if stats.by_version["2.0.0"] == 0:
            raise DemoStepError("the client never got an answer from 2.0.0 during its canary")
        versions = self.predictions()
        if versions != {"2.0.0"}:
            raise DemoStepError(
                f"after promotion expected answers from 2.0.0, got {sorted(versions)}"
            )
        self.new_events()

    def canary_bad_version(self) -> None:
        v3 = ExampleVersion.of("3.0.0")
        self.publish_version(v3)
        begun = time.monotonic()
        self.report.note("Version 3.0.0 is validly signed but near-uniform: its answers have")
        self.report.note("~10% confidence. The analysis (minConfidence 0.6) must catch it.")
        self.apply(
            manifests.axiom_model(
                self.ns,
                v3.version,
                v3.sha256,
                rollout=manifests.canary_rollout(),
                runtime=self.stack.runtime_spec,
            )
        )
        saw_canary = False

        def check(now: Snapshot, elapsed: float) -> None:
            nonlocal saw_canary
            saw_canary = saw_canary or now.canary == "3.0.0"
            if now.stable == "3.0.0":
                raise DemoStepError(f"the bad version 3.0.0 became stable: {now.describe()}")
            if not saw_canary and elapsed > CANARY_START_TIMEOUT:
                raise DemoStepError(
                    f"no canary of 3.0.0 within {CANARY_START_TIMEOUT:.0f} s "
                    f"(now: {now.describe()}). {UNWIRED_HINT}"
                )

        final = self.watch(
            "3.0.0 rolled back automatically",
            lambda now, _: (
                saw_canary and "3.0.0" in now.blocked and not now.canary and not now.draining
            ),
            timeout=ROLLOUT_TIMEOUT,
            check=check,
        )
        if final.stable != "2.0.0":
            raise DemoStepError(f"after the rollback 2.0.0 should serve: {final.describe()}")
        self.wait_client_on("2.0.0", since=time.monotonic())
        self.get_axm()
        stats = self.expect_no_failures(begun, "the bad canary and its rollback")
        self.report.note(
            f"the client got {stats.by_version['3.0.0']} answers from 3.0.0 while it was analysed "
            "(low confidence, not errors) and not one failed request"
        )
        versions = self.predictions()
        if versions != {"2.0.0"}:
            raise DemoStepError(
                f"after the rollback expected answers from 2.0.0, got {sorted(versions)}"
            )
        self.new_events()

    def rollback_by_annotation(self) -> None:
        begun = time.monotonic()
        self.report.note("One annotation serves the previous version again (it is kept warm).")
        self.report.command(
            f"kubectl -n {self.ns} annotate axm {MODEL_NAME} axiom.dev/rollback=previous"
        )
        self.report.block(
            self.stack.kubectl.run("annotate", "axm", MODEL_NAME, "axiom.dev/rollback=previous")
        )
        self.watch(
            "1.0.0 serving again after the rollback annotation",
            lambda now, _: now.stable == "1.0.0" and not now.canary,
            timeout=90,
        )
        self.report.note(
            f"status says 1.0.0 {time.monotonic() - begun:.1f} s after the annotation "
            "(warm: no pod had to start)"
        )
        self.wait_client_on("1.0.0", since=time.monotonic())
        self.get_axm()
        self.expect_no_failures(begun, "the rollback")
        versions = self.predictions()
        if versions != {"1.0.0"}:
            raise DemoStepError(
                f"after the rollback expected answers from 1.0.0, got {sorted(versions)}"
            )
        self.new_events()
        self.gitops_resync_changes_nothing()

    def gitops_resync_changes_nothing(self) -> None:
        """spec.version still names 3.0.0: a GitOps tool re-applying the same manifest must
        not bring it (or 2.0.0) back; the block lifts only when spec.version changes."""
        self.report.note("spec.version still says 3.0.0, which stays blocked: a GitOps sync that")
        self.report.note("re-applies the same manifest deploys nothing.")
        v3 = ExampleVersion.of("3.0.0")
        self.apply(
            manifests.axiom_model(
                self.ns,
                v3.version,
                v3.sha256,
                rollout=manifests.canary_rollout(),
                runtime=self.stack.runtime_spec,
            )
        )
        self.stack.kubectl.run("annotate", "axm", MODEL_NAME, f"example.com/synced-at={utc_now()}")
        self.report.command(
            f"kubectl -n {self.ns} annotate axm {MODEL_NAME} example.com/synced-at=<now>"
            "   # wakes the operator, as a sync does"
        )
        seen: list[Snapshot] = []

        def still_on_v1() -> bool:
            now = Snapshot.of(self.model())
            seen.append(now)
            if now.canary or now.stable != "1.0.0":
                raise DemoStepError(
                    f"the re-applied manifest changed the rollout: {now.describe()}"
                )
            return False

        def hold() -> None:
            begun = time.monotonic()
            while time.monotonic() - begun < GITOPS_HOLD_SECONDS:
                still_on_v1()
                time.sleep(0.5)

        self.report.run(f"{GITOPS_HOLD_SECONDS:g} s of watching the model after the sync", hold)
        self.report.note(
            f"{len(seen)} reads over {GITOPS_HOLD_SECONDS:g} s: {seen[-1].describe(with_analysis=False)}"
        )
        self.get_axm()

    def shadow_catches_a_confident_wrong_version(self) -> None:
        """4.0.0 is 1.0.0 with its labels permuted: as confident, as fast, and wrong. A shadow
        step compares its answers with 1.0.0's on the same requests before any user gets one."""
        v4 = ExampleVersion.of("4.0.0")
        self.publish_version(v4)
        begun = time.monotonic()
        self.report.note("Version 4.0.0 is 1.0.0 with its output labels permuted (a 3 is called")
        self.report.note("4): the same confidence, latency and error rate, wrong on every input.")
        self.report.note("It starts with a shadow step: weight 0, every request 1.0.0 answers is")
        self.report.note("also sent to 4.0.0 and both answers are compared (minAgreement 0.95).")
        self.apply(
            manifests.axiom_model(
                self.ns,
                v4.version,
                v4.sha256,
                rollout=manifests.shadow_rollout(),
                runtime=self.stack.runtime_spec,
            ),
            show_yaml=True,
        )
        saw_canary = False

        def check(now: Snapshot, elapsed: float) -> None:
            nonlocal saw_canary
            saw_canary = saw_canary or now.canary == "4.0.0"
            if now.canary == "4.0.0" and (now.weight or 0) > 0:
                raise DemoStepError(f"4.0.0 got user traffic: {now.describe()}")
            if now.stable == "4.0.0":
                raise DemoStepError(f"the permuted version 4.0.0 became stable: {now.describe()}")
            if not saw_canary and elapsed > CANARY_START_TIMEOUT:
                raise DemoStepError(
                    f"no canary of 4.0.0 within {CANARY_START_TIMEOUT:.0f} s "
                    f"(now: {now.describe()}). {UNWIRED_HINT}"
                )

        final = self.watch(
            "4.0.0 rolled back by the same-input comparison",
            lambda now, _: (
                saw_canary and "4.0.0" in now.blocked and not now.canary and not now.draining
            ),
            timeout=ROLLOUT_TIMEOUT,
            check=check,
        )
        if "agreement" not in final.reasons:
            raise DemoStepError(f"4.0.0 was not rolled back on agreement: {final.describe()}")
        self.show(f"kubectl -n {self.ns} get axm -o wide", "get", "axm", "-o", "wide")
        stats = self.expect_no_failures(begun, "the shadow step of 4.0.0")
        if stats.by_version["4.0.0"]:
            raise DemoStepError(f"{stats.by_version['4.0.0']} client answers came from 4.0.0")
        self.report.note("not one client request was answered by 4.0.0, and none failed")
        self.new_events()

    def stop_client(self) -> None:
        if self.client is not None:
            self.totals = self.client.stop()
            self.client = None
