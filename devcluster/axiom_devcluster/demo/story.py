"""The steps of ``make demo``, each checked against what the documentation promises.

Every step acts the way a user would (kubectl apply/annotate, POST /predict), prints what a
user would see (``kubectl get axm``, predictions with the answering version, new Events) and
then checks the outcome. When the operator does not do what is documented, the step raises
``DemoStepError`` naming what was expected and what was seen; nothing is printed that did
not happen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from axiom_devcluster.demo import manifests
from axiom_devcluster.demo.manifests import EXAMPLE_DIR, MODEL_NAME, ExampleVersion
from axiom_devcluster.demo.report import DemoStepError, Reporter, format_duration
from axiom_devcluster.demo.stack import Stack
from axiom_devcluster.demo.traffic import SteadyClient, TrafficStats, predict

SAMPLES = (0, 3, 7)  # sample-digit-<label>.json, held out from training
CLIENT_RATE = 20.0  # requests per second of the steady client
CANARY_START_TIMEOUT = 60.0
ROLLOUT_TIMEOUT = 150.0
GITOPS_HOLD_SECONDS = 4.0  # how long the demo watches a re-applied manifest change nothing
UNWIRED_HINT = (
    "This is the operator's documented rollout (DESIGN.md 'Traffic split', docs/annotations.md); "
    "if the operator's handlers do not call the rollout state machine (axiom_operator.rollout), "
    "this is where the demo stops."
)


@dataclass(frozen=True)
class Snapshot:
    """The parts of an AxiomModel's status the story follows."""

    phase: str
    stable: str
    canary: str
    weight: float | None
    step: int | None
    verdict: str
    reasons: str
    blocked: tuple[str, ...]
    analysis_at: str = ""
    figures: str = ""

    @classmethod
    def of(cls, model: dict[str, Any] | None) -> Snapshot:
        status = (model or {}).get("status") or {}
        last = status.get("lastAnalysis") or {}
        reasons = last.get("reasons") or ([last["message"]] if last.get("message") else [])
        return cls(
            phase=str(status.get("phase") or "-"),
            stable=str(status.get("stableVersion") or "-"),
            canary=str(status.get("canaryVersion") or ""),
            weight=status.get("canaryWeight"),
            step=status.get("step"),
            verdict=str(last.get("verdict") or ""),
            reasons="; ".join(str(r) for r in reasons),
            blocked=tuple(status.get("blockedVersions") or ()),
            analysis_at=str(last.get("time") or ""),
            figures=analysis_figures(last),
        )

    def describe(self, *, with_analysis: bool = True) -> str:
        text = f"phase {self.phase}, stable {self.stable}"
        if self.canary:
            weight = "?" if self.weight is None else f"{self.weight:g}%"
            step = "" if self.step is None else f" (step {self.step + 1})"
            text += f", canary {self.canary} at {weight}{step}"
        if self.verdict and with_analysis:
            text += f", last analysis {self.verdict}"
            if self.reasons:
                text += f" ({self.reasons})"
        if self.blocked:
            text += f", blocked {', '.join(self.blocked)}"
        return text

    def analysis_line(self) -> str:
        """The last analysis as a user reads it in status.lastAnalysis: verdict and figures."""
        when = self.analysis_at[11:19] if len(self.analysis_at) >= 19 else self.analysis_at
        return f"lastAnalysis {when}: {self.verdict}; {self.figures}"


def _version_figures(figures: dict[str, Any] | None) -> str:
    if not figures:
        return "no figures"
    parts = [f"{figures.get('requests', 0)} requests, {figures.get('errors', 0)} errors"]
    if figures.get("p99LatencyMs") is not None:
        parts.append(f"p99 {float(figures['p99LatencyMs']):.1f} ms")
    if figures.get("meanConfidence") is not None:
        parts.append(f"mean confidence {float(figures['meanConfidence']):.3f}")
    return ", ".join(parts)


def analysis_figures(last: dict[str, Any]) -> str:
    """status.lastAnalysis's canary and stable figures in one line (empty when none)."""
    if not last:
        return ""
    return (
        f"canary {last.get('version', '?')}: {_version_figures(last.get('canary'))} | "
        f"stable: {_version_figures(last.get('stable'))}"
    )


def ready_condition(model: dict[str, Any] | None) -> str:
    """The Ready condition as one short line, for progress output."""
    for condition in ((model or {}).get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return f"Ready={condition.get('status')} {condition.get('reason')}: {condition.get('message', '')[:90]}"
    return "no status yet" if model else "not created"


def ready(model: dict[str, Any] | None) -> bool:
    for condition in ((model or {}).get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


@dataclass
class Story:
    stack: Stack
    report: Reporter
    client: SteadyClient | None = None
    service_url: str = ""
    events_seen: set[str] = field(default_factory=set)
    totals: TrafficStats = field(default_factory=TrafficStats)

    # -- helpers ---------------------------------------------------------------------------

    @property
    def ns(self) -> str:
        return self.stack.namespace

    def model(self) -> dict[str, Any] | None:
        return self.stack.kubectl.get_or_none("axiommodel", MODEL_NAME)

    def show(self, command: str, *args: str) -> None:
        self.report.command(command)
        self.report.block(self.stack.kubectl.run(*args))

    def get_axm(self) -> None:
        self.show(f"kubectl -n {self.ns} get axm", "get", "axm")

    def apply(self, *documents: dict[str, Any], show_yaml: bool = False) -> None:
        text = manifests.to_yaml(*documents)
        if show_yaml:
            self.report.command(f"kubectl -n {self.ns} apply -f - <<EOF")
            self.report.block(text + "EOF")
        output = self.stack.kubectl.run("apply", "-f", "-", stdin=text)
        if not show_yaml:
            self.report.command(f"kubectl -n {self.ns} apply -f {MODEL_NAME}.yaml")
        self.report.block(output)

    def new_events(self) -> None:
        """Print the model's Events not printed before, oldest first (kubectl's columns)."""
        listed = self.stack.kubectl.json(
            "get",
            "events",
            "--field-selector",
            f"involvedObject.kind=AxiomModel,involvedObject.name={MODEL_NAME}",
        )
        rows = []
        for event in listed.get("items", []):
            uid = event["metadata"]["uid"] + str(event.get("count", 1))
            if uid in self.events_seen:
                continue
            self.events_seen.add(uid)
            when = event.get("lastTimestamp") or event.get("eventTime") or ""
            order = int(event["metadata"].get("resourceVersion") or 0)
            rows.append(
                (
                    (when, order),
                    event.get("type", ""),
                    event.get("reason", ""),
                    event.get("message", ""),
                )
            )
        self.report.command(
            f"kubectl -n {self.ns} get events --field-selector involvedObject.kind=AxiomModel"
            "   # the new ones"
        )
        if not rows:
            self.report.block("(no new events)")
            return
        lines = [f"{'TYPE':<8} {'REASON':<26} MESSAGE"]
        lines += [f"{kind:<8} {reason:<26} {message}" for _, kind, reason, message in sorted(rows)]
        self.report.block("\n".join(lines))

    def predictions(self) -> set[str]:
        self.report.command(
            f"curl -s -H 'Content-Type: application/json' {self.service_url}/predict "
            "-d @examples/digits/sample-digit-N.json"
        )
        versions = set()
        for label in SAMPLES:
            body = (EXAMPLE_DIR / f"sample-digit-{label}.json").read_bytes()
            answer = predict(self.service_url, body)
            versions.add(answer.version)
            confidence = "?" if answer.confidence is None else f"{answer.confidence:.3f}"
            self.report.block(
                f"digit {label}: class {answer.predicted_class}, confidence {confidence}, "
                f"answered by version {answer.version}"
            )
        return versions

    def publish_version(self, example: ExampleVersion) -> None:
        """The package ConfigMap and certificate Secret of one version."""
        self.report.command(
            f"kubectl -n {self.ns} create configmap {example.package_configmap} "
            f"--from-file={manifests.PACKAGE_KEY}={example.package.relative_to(manifests.REPO_ROOT)}"
        )
        self.report.command(
            f"kubectl -n {self.ns} create secret generic {example.certificate_secret} "
            f"--from-file={manifests.CERTIFICATE_KEY}="
            f"{example.certificate.relative_to(manifests.REPO_ROOT)}"
        )
        self.stack.kubectl.run(
            "apply",
            "-f",
            "-",
            stdin=manifests.to_yaml(
                manifests.package_configmap(
                    example.package_configmap, self.ns, example.package.read_bytes()
                ),
                manifests.certificate_secret(
                    example.certificate_secret, self.ns, example.certificate.read_bytes()
                ),
            ),
        )

    def watch(
        self,
        what: str,
        done: Callable[[Snapshot, dict[str, Any] | None], bool],
        *,
        timeout: float,
        check: Callable[[Snapshot, float], None] | None = None,
    ) -> Snapshot:
        """Print each change of the model's rollout status (with the split the client saw
        in the last 5 s) until ``done``; ``check`` may raise DemoStepError on the way."""
        begun = time.monotonic()
        last: Snapshot | None = None
        last_line = begun
        while True:
            model = self.model()
            now = Snapshot.of(model)
            elapsed = time.monotonic() - begun
            if now != last or time.monotonic() - last_line >= 5.0:
                client = ""
                if self.client is not None:
                    recent = self.client.stats(since=time.monotonic() - 5.0)
                    client = f"   | client, last 5 s: {recent.split_text()}, {recent.failed} failed"
                prefix = "" if now != last else "(still) "
                state = now.describe(with_analysis=False)
                self.report.note(f"[{elapsed:5.1f} s] {prefix}{state}{client}")
                # Only analyses made during this watch (the first read may hold the last
                # step's, already printed).
                if last is not None and now.analysis_at and now.analysis_at != last.analysis_at:
                    self.report.note(f"           {now.analysis_line()}")
                    if now.reasons:
                        self.report.note(f"           reasons: {now.reasons}")
                if now.canary and now.weight and (last is None or now.weight != last.weight):
                    self.get_axm()
                last, last_line = now, time.monotonic()
            if done(now, model):
                return now
            if check is not None:
                check(now, elapsed)
            if elapsed > timeout:
                raise DemoStepError(
                    f"{what}: not reached within {format_duration(timeout)}; "
                    f"last status: {now.describe()}"
                )
            time.sleep(0.5)

    def wait_client_on(self, version: str, since: float) -> None:
        """Wait until every answer the steady client got in the last second came from
        ``version``: the status changes first, then the Service's Endpoints, then the node
        agent's proxy, as with kube-proxy. Prints how long that took."""
        assert self.client is not None
        client = self.client

        def settled() -> bool:
            recent = client.stats(since=time.monotonic() - 1.0)
            return recent.ok >= 5 and set(recent.by_version) == {version}

        self.report.wait(
            f"the client's answers to come only from {version}",
            settled,
            timeout=30,
            detail=lambda: client.stats(since=time.monotonic() - 1.0).split_text(),
        )
        self.report.note(
            f"every answer of the last second came from {version}, "
            f"{time.monotonic() - since:.1f} s after the status said so "
            "(the Service's Endpoints and the node agent's proxy follow the selector)"
        )

    def expect_no_failures(self, since: float, during: str) -> TrafficStats:
        assert self.client is not None
        stats = self.client.stats(since=since)
        self.report.note(
            f"client during {during}: {stats.sent} requests, {stats.failed} failed; "
            f"answered by {stats.split_text()}"
        )
        if stats.failed:
            raise DemoStepError(
                f"{stats.failed} of {stats.sent} client requests failed during {during}; "
                f"first failures: {stats.failures[:3]}"
            )
        return stats

    def explain_failure(self) -> None:
        """Best effort, after a failed step: what a user would look at next."""
        try:
            self.get_axm()
            self.new_events()
        except Exception as error:  # the cluster itself may be what failed
            self.report.note(f"(could not read the model: {error})")
        operator = self.stack.operator
        if operator is not None:
            errors = [
                line
                for line in operator.log_path.read_text(errors="replace").splitlines()
                if ("[ERROR" in line or "Error:" in line) and "will retry" not in line
            ]
            if errors:
                self.report.note(f"last errors in the operator's log ({operator.log_path}):")
                self.report.block("\n".join(line[:300] for line in errors[-5:]))

    # -- the steps -------------------------------------------------------------------------

    def start_cluster(self) -> None:
        report = self.report
        report.note("etcd, kube-apiserver, controller-manager and scheduler built from the")
        report.note("Kubernetes Go modules, on 127.0.0.1; plus a node agent that runs pods as")
        report.note("local processes with their own 127.19.x.x address (no Docker needed).")
        self.report.run("the control plane", self.stack.start_cluster)
        assert self.stack.plane is not None
        report.note(f"control plane at {self.stack.plane.server}")
        self.report.run("the node agent", self.stack.start_agent)
        self.show("kubectl get nodes", "get", "nodes", "-o", "wide")
        report.command(f"kubectl create namespace {self.ns}")
        report.block(self.stack.kubectl.run("create", "namespace", self.ns, namespaced=False))
        annotations = [f"{k}={v}" for k, v in self.stack.agent_namespace_annotations().items()]
        self.stack.kubectl.run("annotate", "namespace", self.ns, *annotations, namespaced=False)
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
        self.apply(manifests.axiom_model(self.ns, v1.version, v1.sha256), show_yaml=True)
        self.report.wait(
            "digits 1.0.0 to be Ready (certificate verified, pod started, /ready passing)",
            lambda: ready(self.model()),
            timeout=120,
            detail=lambda: ready_condition(self.model()),
        )
        self.get_axm()
        service = self.stack.kubectl.json("get", "service", MODEL_NAME)
        address = service["spec"]["clusterIP"]
        if not address.startswith("127."):
            raise DemoStepError(f"Service {MODEL_NAME} has ClusterIP {address}, not loopback")
        self.service_url = f"http://{address}:{service['spec']['ports'][0]['port']}"
        self.report.note(
            f"Service {MODEL_NAME} has ClusterIP {address} (reachable through the agent)"
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
                self.ns, v2.version, v2.sha256, rollout=manifests.canary_rollout()
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
                self.ns, v3.version, v3.sha256, rollout=manifests.canary_rollout()
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
            lambda now, _: saw_canary and "3.0.0" in now.blocked and not now.canary,
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
                self.ns, v3.version, v3.sha256, rollout=manifests.canary_rollout()
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

    def stop_client(self) -> None:
        if self.client is not None:
            self.totals = self.client.stop()
            self.client = None


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
