"""Readiness, liveness and startup probes: the spec, the threshold logic, one probe run.

The threshold logic is pure (``ProbeTracker``); running one probe (HTTP GET, TCP connect,
exec) is the only I/O. Defaults are the API's: period 10 s, timeout 1 s, success threshold
1, failure threshold 3, no initial delay. An HTTP probe succeeds on 200..399 like the
kubelet's; the host defaults to the pod IP.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp


class ProbeSpecError(ValueError):
    """A probe names a port the container does not declare, or an unsupported handler."""


@dataclass(frozen=True)
class Probe:
    kind: str  # "http" | "tcp" | "exec"
    port: int = 0
    path: str = "/"
    host: str = ""
    scheme: str = "HTTP"
    headers: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] = ()
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


def _port(value: Any, container: Mapping[str, Any]) -> int:
    if isinstance(value, int):
        return value
    text = str(value)
    if text.isdigit():
        return int(text)
    for port in container.get("ports") or []:
        if port.get("name") == text:
            return int(port["containerPort"])
    raise ProbeSpecError(
        f"probe port {text!r} is not a named port of container {container.get('name')!r}"
    )


def parse_probe(spec: Mapping[str, Any] | None, container: Mapping[str, Any]) -> Probe | None:
    if not spec:
        return None
    timing = {
        "initial_delay": float(spec.get("initialDelaySeconds", 0)),
        "period": float(spec.get("periodSeconds", 10)),
        "timeout": float(spec.get("timeoutSeconds", 1)),
        "success_threshold": int(spec.get("successThreshold", 1)),
        "failure_threshold": int(spec.get("failureThreshold", 3)),
    }
    if "httpGet" in spec:
        http = spec["httpGet"]
        headers = tuple((str(h["name"]), str(h["value"])) for h in http.get("httpHeaders") or [])
        return Probe(
            kind="http",
            port=_port(http.get("port"), container),
            path=str(http.get("path", "/")),
            host=str(http.get("host", "")),
            scheme=str(http.get("scheme", "HTTP")).upper(),
            headers=headers,
            **timing,  # type: ignore[arg-type]
        )
    if "tcpSocket" in spec:
        tcp = spec["tcpSocket"]
        return Probe(
            kind="tcp",
            port=_port(tcp.get("port"), container),
            host=str(tcp.get("host", "")),
            **timing,  # type: ignore[arg-type]
        )
    if "exec" in spec:
        command = tuple(str(word) for word in spec["exec"].get("command") or [])
        return Probe(kind="exec", command=command, **timing)  # type: ignore[arg-type]
    raise ProbeSpecError(
        f"probe handler {sorted(spec)} is not supported (httpGet, tcpSocket, exec)"
    )


@dataclass
class ProbeTracker:
    """Consecutive results -> the probe's verdict, as the kubelet's prober worker keeps it.

    ``initial`` is the verdict before the thresholds are met: False for readiness and
    startup, True for liveness.
    """

    probe: Probe
    initial: bool
    verdict: bool = field(init=False)
    _successes: int = field(default=0, init=False)
    _failures: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.verdict = self.initial

    def record(self, success: bool) -> bool:
        """Add one result; returns True when the verdict changed."""
        if success:
            self._successes += 1
            self._failures = 0
            if not self.verdict and self._successes >= self.probe.success_threshold:
                self.verdict = True
                return True
        else:
            self._failures += 1
            self._successes = 0
            if self.verdict and self._failures >= self.probe.failure_threshold:
                self.verdict = False
                return True
        return False

    @property
    def consecutive_failures(self) -> int:
        return self._failures


async def run_probe(
    probe: Probe,
    pod_ip: str,
    session: aiohttp.ClientSession,
    exec_env: Mapping[str, str] | None = None,
    exec_cwd: str | None = None,
) -> tuple[bool, str]:
    """Run ``probe`` once; (success, message for events and logs)."""
    host = probe.host or pod_ip
    try:
        if probe.kind == "http":
            scheme = "https" if probe.scheme == "HTTPS" else "http"
            url = f"{scheme}://{host}:{probe.port}{probe.path}"
            timeout = aiohttp.ClientTimeout(total=probe.timeout)
            headers = dict(probe.headers)
            async with session.get(url, timeout=timeout, headers=headers, ssl=False) as response:
                await response.read()
                ok = 200 <= response.status < 400
                return ok, f"HTTP probe failed with statuscode: {response.status}" if not ok else ""
        if probe.kind == "tcp":
            connect = asyncio.open_connection(host, probe.port)
            _, writer = await asyncio.wait_for(connect, probe.timeout)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True, ""
        process = await asyncio.create_subprocess_exec(
            *probe.command,
            env=dict(exec_env or {}),
            cwd=exec_cwd,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            code = await asyncio.wait_for(process.wait(), probe.timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            return False, f"command timed out after {probe.timeout}s"
        return code == 0, f"command exited with {code}" if code else ""
    except TimeoutError:
        return False, f"probe to {host}:{probe.port} timed out after {probe.timeout}s"
    except (aiohttp.ClientError, OSError) as error:
        return False, f"probe to {host}:{probe.port} failed: {error}"
