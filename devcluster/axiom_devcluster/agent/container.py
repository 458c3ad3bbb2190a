"""One container of an agent pod: start it, probe it, restart it by policy with the
kubelet's back-off. The pod it belongs to is a ``PodHandle``: the runner only asks it for its
spec, its paths and addresses, and tells it when something changed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from axiom_devcluster.agent import backoff, probes, status, supervisor
from axiom_devcluster.agent.podspec import ContainerConfigError, ProcessSpec

log = logging.getLogger("axiom_devcluster.agent.podworker")
# A container whose spec cannot be built (a missing volume key, a bad env) is tried again after.
_CONFIG_RETRY_SECONDS = 2.0


class _HasHttp(Protocol):
    @property
    def http(self) -> aiohttp.ClientSession: ...
    @property
    def config(self) -> Any: ...


class PodHandle(Protocol):
    """What a container runner needs of its pod's worker."""

    pod: dict[str, Any]
    pod_ip: str
    name: str
    paths_root: Path
    stopping: asyncio.Event

    @property
    def ctx(self) -> _HasHttp: ...
    def build_spec(self, container: Mapping[str, Any]) -> ProcessSpec: ...
    def grace_seconds(self) -> float: ...
    def changed(self) -> None: ...
    async def event(self, kind: str, reason: str, message: str) -> None: ...


class ContainerRunner:
    """Runs one container: start, probe, restart by policy with the kubelet's back-off."""

    def __init__(self, worker: PodHandle, container: Mapping[str, Any]) -> None:
        self.worker = worker
        self.container = container
        self.name = str(container["name"])
        self.view = status.ContainerView(name=self.name, image=str(container.get("image", "")))
        self.running: supervisor.RunningProcess | None = None
        self.spec: ProcessSpec | None = None
        self.last_ran_for = 0.0
        self.backoff = backoff.CrashBackoff(
            worker.ctx.config.backoff_initial, worker.ctx.config.backoff_max
        )
        self._stopping = False
        self._kill_requested = asyncio.Event()
        self.readiness = probes.parse_probe(container.get("readinessProbe"), container)
        self.liveness = probes.parse_probe(container.get("livenessProbe"), container)
        self.startup = probes.parse_probe(container.get("startupProbe"), container)

    async def run(self) -> None:
        """Until stopped or finished for good: start, supervise, restart."""
        restart_policy = str(self.worker.pod["spec"].get("restartPolicy", "Always"))
        while not self._stopping:
            try:
                self.spec = self.worker.build_spec(self.container)
            except ContainerConfigError as error:
                await self._config_error(str(error))
                continue
            await self._run_once()
            if self._stopping:
                return
            termination = self.view.terminated
            assert termination is not None
            if not backoff.should_restart(restart_policy, termination.exit_code):
                return
            delay = self.backoff.next_delay(self.last_ran_for)
            self.view.last_termination = termination
            self.view.terminated = None
            if delay > 0:
                self.view.waiting_reason = "CrashLoopBackOff"
                self.view.waiting_message = (
                    f"back-off {delay:g}s restarting failed container={self.name} "
                    f"pod={self.worker.name}"
                )
                self.worker.changed()
                await self.worker.event(
                    "Warning", "BackOff", f"Back-off restarting failed container {self.name}"
                )
                await self._sleep_unless_stopped(delay)
            self.view.restart_count += 1

    async def _config_error(self, message: str) -> None:
        self.view.waiting_reason = "CreateContainerConfigError"
        self.view.waiting_message = message
        self.worker.changed()
        await self.worker.event("Warning", "Failed", f"Error: {message}")
        await self._sleep_unless_stopped(_CONFIG_RETRY_SECONDS)

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.worker.stopping.wait(), timeout=seconds)

    async def _run_once(self) -> None:
        assert self.spec is not None
        log_path = self.worker.paths_root / "logs" / self.name / f"{self.view.restart_count}.log"
        self._kill_requested.clear()
        try:
            self.running = await supervisor.start(self.spec, log_path)
        except OSError as error:
            # Like a failed container create: report and let the restart policy decide.
            started = status.now_rfc3339()
            self.view.terminated = status.Termination(
                127, "StartError", started, started, message=str(error)
            )
            self.running = None
            self.last_ran_for = 0.0
            await self.worker.event("Warning", "Failed", f"Error: {error}")
            return
        started_at = status.now_rfc3339()
        self.view.container_id = f"axiom-agent://{self.running.pid}"
        self.view.running_since = started_at
        self.view.waiting_reason, self.view.waiting_message = "", ""
        self.view.started = self.startup is None
        self.view.ready = self.readiness is None and self.view.started
        self.worker.changed()
        await self.worker.event("Normal", "Started", f"Started container {self.name}")
        probe_task = asyncio.create_task(self._probe_all())
        exit_task = asyncio.create_task(self.running.process.wait())
        kill_task = asyncio.create_task(self._kill_requested.wait())
        try:
            await asyncio.wait({exit_task, kill_task}, return_when=asyncio.FIRST_COMPLETED)
            if not exit_task.done():
                await supervisor.stop(self.running, self.worker.grace_seconds())
        finally:
            for task in (probe_task, kill_task):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe_task
        returncode = await exit_task
        self.last_ran_for = self.running.ran_for()
        code, sig = supervisor.exit_code_of(returncode)
        self.view.running_since = None
        self.view.ready = False
        self.view.started = False
        self.view.terminated = status.Termination(
            exit_code=code,
            reason="Completed" if code == 0 else "Error",
            started_at=started_at,
            finished_at=status.now_rfc3339(),
            signal=sig,
        )
        self.worker.changed()

    async def stop(self, grace: float) -> None:
        self._stopping = True
        if self.running is not None and self.running.process.returncode is None:
            await self.worker.event("Normal", "Killing", f"Stopping container {self.name}")
            await supervisor.stop(self.running, grace)

    # probes --------------------------------------------------------------------------

    async def _probe_all(self) -> None:
        if self.startup is not None and not await self._startup_phase(self.startup):
            self._kill_requested.set()
            return
        loops = []
        if self.readiness is not None:
            loops.append(self._probe_loop(self.readiness, initial=False, on_change=self._ready))
        if self.liveness is not None:
            loops.append(self._probe_loop(self.liveness, initial=True, on_change=self._alive))
        if loops:
            await asyncio.gather(*loops)

    async def _startup_phase(self, probe: probes.Probe) -> bool:
        tracker = probes.ProbeTracker(probe, initial=False)
        await asyncio.sleep(probe.initial_delay)
        while True:
            ok, message = await self._probe_once(probe)
            tracker.record(ok)
            if tracker.verdict:
                self.view.started = True
                self.view.ready = self.readiness is None
                self.worker.changed()
                return True
            if tracker.consecutive_failures >= probe.failure_threshold:
                await self.worker.event("Warning", "Unhealthy", f"Startup probe failed: {message}")
                return False
            await asyncio.sleep(probe.period)

    async def _probe_loop(
        self,
        probe: probes.Probe,
        *,
        initial: bool,
        on_change: Callable[[bool, str], Awaitable[bool]],
    ) -> None:
        tracker = probes.ProbeTracker(probe, initial=initial)
        await asyncio.sleep(probe.initial_delay)
        while True:
            ok, message = await self._probe_once(probe)
            if tracker.record(ok) and not await on_change(tracker.verdict, message):
                return
            await asyncio.sleep(probe.period)

    async def _probe_once(self, probe: probes.Probe) -> tuple[bool, str]:
        assert self.spec is not None
        return await probes.run_probe(
            probe,
            self.worker.pod_ip,
            self.worker.ctx.http,
            exec_env=self.spec.env,
            exec_cwd=str(self.spec.cwd),
        )

    async def _ready(self, ready: bool, message: str) -> bool:
        self.view.ready = ready
        self.worker.changed()
        if not ready:
            await self.worker.event("Warning", "Unhealthy", f"Readiness probe failed: {message}")
        return True

    async def _alive(self, alive: bool, message: str) -> bool:
        if alive:
            return True
        await self.worker.event(
            "Warning",
            "Unhealthy",
            f"Liveness probe failed: {message}; container {self.name} will be restarted",
        )
        self._kill_requested.set()
        return False
