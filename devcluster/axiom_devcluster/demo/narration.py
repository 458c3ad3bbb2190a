"""How the demo acts and shows what it does: every helper a step uses (commands shown with
their real output, applying manifests, watching the model, checking the steady client)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from axiom_devcluster.demo import manifests
from axiom_devcluster.demo.manifests import EXAMPLE_DIR, MODEL_NAME, ExampleVersion
from axiom_devcluster.demo.report import DemoStepError, Reporter, format_duration
from axiom_devcluster.demo.snapshot import Snapshot
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


@dataclass
class Narration:
    """The demo's tools: show a command and its real output, apply manifests, watch the
    model, wait for the client to follow; the steps (``story.Story``) are built on them."""

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
            "(the stable pods apply the traffic split they are given, the Service's Endpoints "
            "and the node's proxy its selector)"
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


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
