"""Forward one request to the canary over pooled keep-alive connections.

A failure is classified (``connect``, ``timeout``, ``status_5xx``) instead of raised as
whatever aiohttp threw, because the splitter answers every failure the same way (serve
locally) and the operator's analysis needs the class: a canary that never answered is
missing from its own metrics, one that answered 5xx has counted it itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

FailureReason = Literal["connect", "timeout", "status_5xx"]

# Headers a model call needs end to end. Accept-Encoding is deliberately absent: the
# client session would decompress, and the stable pod would then relay a wrong header.
_FORWARDED_REQUEST_HEADERS = (
    "Content-Type",
    "Inference-Header-Content-Length",  # binary tensor data: where the JSON header ends
    "Accept",
    "Authorization",
    "Traceparent",
    "Tracestate",
    "User-Agent",
)
# Hop-by-hop or framing headers that belong to the canary connection, not to our answer.
_DROPPED_RESPONSE_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "date",
        "server",
    }
)


class ForwardFailure(ConnectionError):
    """The canary did not give a usable answer; ``reason`` is the failure class."""

    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(f"canary forward failed ({reason}): {detail}")
        self.reason: FailureReason = reason


@dataclass(frozen=True)
class ForwardedAnswer:
    """A complete answer from the canary, ready to be relayed."""

    status: int
    headers: CIMultiDict[str]
    body: bytes


def request_headers_for_canary(
    incoming: Mapping[str, str], request_id_header: str, forwarded_by: str
) -> dict[str, str]:
    """The headers sent to the canary: the model-relevant ones, the id, and the loop guard."""
    names = (*_FORWARDED_REQUEST_HEADERS, request_id_header, "X-Request-ID")
    headers = {name: incoming[name] for name in names if name in incoming}
    headers["X-Axiom-Forwarded"] = forwarded_by
    return headers


def relayable_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The canary's response headers minus the ones that describe its own connection."""
    return CIMultiDict(
        (name, value)
        for name, value in headers.items()
        if name.lower() not in _DROPPED_RESPONSE_HEADERS
    )


class Forwarder:
    """Owns the pooled client session used to reach canaries."""

    def __init__(self, *, max_connections: int = 256, keepalive_seconds: float = 30.0) -> None:
        self._max_connections = max_connections
        self._keepalive_seconds = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=self._keepalive_seconds
            )
            # No cookies and no env proxies: a canary is an in-cluster Service.
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
            )
        return self._session

    async def forward(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout_seconds: float,
    ) -> ForwardedAnswer:
        """One attempt; raises :class:`ForwardFailure` on connect error, timeout or 5xx."""
        timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        try:
            async with self._client().request(
                method, url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                payload = await response.read()
                if response.status >= 500:
                    raise ForwardFailure("status_5xx", f"{url} answered {response.status}")
                return ForwardedAnswer(
                    status=response.status,
                    headers=relayable_headers(response.headers),
                    body=payload,
                )
        except ForwardFailure:
            raise
        except TimeoutError as error:
            raise ForwardFailure("timeout", f"{url} took more than {timeout_seconds}s") from error
        except aiohttp.ClientError as error:
            # Refused, reset, DNS failure, or the canary died mid-answer: it never answered.
            raise ForwardFailure("connect", f"{url}: {type(error).__name__}: {error}") from error

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
