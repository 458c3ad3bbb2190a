"""Predictions as a user sends them: one at a time, or a steady stream that counts failures.

The steady client is the witness for the two claims users care about during a rollout: no
request fails, and which version answered (the ``X-Axiom-Version`` header every inference
response carries). It runs in its own thread with its own event loop so the same client
serves the synchronous demo and the async tests.

Each request opens a new connection (``force_close``). The local node agent proxies a
Service per TCP connection, like kube-proxy in iptables mode: a keep-alive connection stays on
the pod it first reached, so only new connections measure where the Service routes now.
Every request carries a fresh ``X-Request-ID``, which the runtime's split hashes, so the
canary's share shows up in the counts exactly as it would for real clients.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import threading
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

VERSION_HEADER = "X-Axiom-Version"
REQUEST_ID_HEADER = "X-Request-ID"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Prediction:
    status: int
    version: str
    predicted_class: int | None
    confidence: float | None


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def predict(url: str, body: bytes, timeout: float = 5.0) -> Prediction:
    """One POST /predict; raises urllib errors for transport failures and non-2xx answers."""
    request = urllib.request.Request(
        f"{url}/predict",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", REQUEST_ID_HEADER: uuid.uuid4().hex},
    )
    with _NO_PROXY.open(request, timeout=timeout) as answer:
        payload = json.loads(answer.read())
        version = answer.headers.get(VERSION_HEADER, "?")
        klass = _first(payload.get("class"))
        confidence = _first(payload.get("confidence"))
        return Prediction(
            answer.status,
            version,
            None if klass is None else int(klass),
            None if confidence is None else float(confidence),
        )


def sample_body(path: Path) -> bytes:
    return path.read_bytes()


@dataclass(frozen=True)
class Outcome:
    at: float  # time.monotonic() when the request was sent
    ok: bool
    version: str  # "" when no answer
    confidence: float | None
    error: str  # "" when ok


@dataclass
class TrafficStats:
    """Counts over a period; ``failures`` keeps the first few failures verbatim."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    by_version: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def share(self, version: str) -> float:
        return 100.0 * self.by_version[version] / self.ok if self.ok else 0.0

    def split_text(self) -> str:
        if not self.ok:
            return "no answers"
        return ", ".join(
            f"{version} {100.0 * count / self.ok:.0f}%"
            for version, count in sorted(self.by_version.items())
        )


class SteadyClient:
    """Sends ``rate`` requests per second to ``url`` until stopped; never retries.

    Open loop: a request is sent on schedule whether or not earlier ones have answered (up to
    ``max_in_flight``), so a stalled backend shows up as failures, not as a slower client.
    """

    def __init__(
        self,
        url: str,
        body: bytes,
        *,
        rate: float = 20.0,
        timeout: float = 5.0,
        max_in_flight: int = 64,
    ) -> None:
        self.url = url
        self.body = body
        self.rate = rate
        self.timeout = timeout
        self.max_in_flight = max_in_flight
        self._outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._crash: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> SteadyClient:
        self._thread = threading.Thread(target=self._run, name="steady-client", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> TrafficStats:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)
        if self._crash is not None:
            raise RuntimeError(f"steady client crashed: {self._crash!r}") from self._crash
        return self.stats()

    def __enter__(self) -> SteadyClient:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- what it saw -----------------------------------------------------------------------

    def stats(self, since: float | None = None) -> TrafficStats:
        with self._lock:
            outcomes = [o for o in self._outcomes if since is None or o.at >= since]
        stats = TrafficStats()
        for outcome in outcomes:
            stats.sent += 1
            if outcome.ok:
                stats.ok += 1
                stats.by_version[outcome.version] += 1
            else:
                stats.failed += 1
                if len(stats.failures) < 10:
                    stats.failures.append(outcome.error)
        return stats

    def outcomes(self) -> list[Outcome]:
        with self._lock:
            return list(self._outcomes)

    # -- the loop --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # surfaced by stop(), never swallowed
            self._crash = error

    async def _main(self) -> None:
        connector = aiohttp.TCPConnector(force_close=True, limit=self.max_in_flight)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        period = 1.0 / self.rate
        in_flight: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, trust_env=False
        ) as session:
            next_at = time.monotonic()
            while not self._stop.is_set():
                if len(in_flight) < self.max_in_flight:
                    task = asyncio.create_task(self._one(session))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                next_at += period
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)

    async def _one(self, session: aiohttp.ClientSession) -> None:
        sent = time.monotonic()
        headers = {"Content-Type": "application/json", REQUEST_ID_HEADER: uuid.uuid4().hex}
        try:
            async with session.post(f"{self.url}/predict", data=self.body, headers=headers) as r:
                text = await r.read()
                version = r.headers.get(VERSION_HEADER, "")
                if r.status != 200:
                    self._record(
                        Outcome(sent, False, version, None, f"HTTP {r.status}: {text[:200]!r}")
                    )
                    return
                payload = json.loads(text)
                confidence = _first(payload.get("confidence"))
                self._record(
                    Outcome(
                        sent,
                        True,
                        version,
                        None if confidence is None else float(confidence),
                        "",
                    )
                )
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            # The wall-clock time lets a failure be matched with the operator's and the
            # agent's logs.
            stamp = datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]
            self._record(
                Outcome(sent, False, "", None, f"{type(error).__name__}: {error} (at {stamp})")
            )

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self._outcomes.append(outcome)
