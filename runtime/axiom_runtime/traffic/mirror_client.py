"""A minimal HTTP/1.1 keep-alive client for the shadow mirror, one connection per worker.

Why not aiohttp's client (which the split's forwards use): a mirrored copy is pure cost to
the stable pod, paid on every request it answers, and measured on loopback against the
runtime's canary stand-in the aiohttp client took 264 us of CPU per request where this one
takes 88 us (2,000 sequential POSTs each, same server; docs/rollout.md). The mirror sends
one shape of request (a POST with a body to one canary Service, over plain HTTP), so the
client needs little: write the request, read the status line and headers, read the body by
``Content-Length`` or chunked transfer coding, keep the connection for the next copy.

Every failure closes the connection (the next copy reconnects) and is raised as the
split's :class:`~.forward.ForwardFailure` classes: ``connect`` (refused, reset, closed, a
malformed answer), ``timeout``, ``status_5xx``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from axiom_runtime.traffic.forward import ForwardFailure

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class MirrorAnswer:
    status: int
    body: bytes


def _safe(text: str) -> bool:
    return "\r" not in text and "\n" not in text


class MirrorConnection:
    """One keep-alive connection to one canary at a time; not shared between tasks."""

    def __init__(self) -> None:
        self._address: tuple[str, int] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout_seconds: float
    ) -> MirrorAnswer:
        """POST ``body`` to ``url`` (http only); raises :class:`ForwardFailure`."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ForwardFailure("connect", f"{url}: the mirror client speaks plain http only")
        address = (parts.hostname, parts.port or 80)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        lines = [f"POST {target} HTTP/1.1", f"Host: {host}:{address[1]}"]
        lines.extend(
            f"{name}: {value}"
            for name, value in headers.items()
            if _safe(name) and _safe(value) and name.lower() not in ("host", "content-length")
        )
        lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        try:
            async with asyncio.timeout(timeout_seconds):
                answer, keep = await self._exchange(address, request)
        except TimeoutError as error:
            self.close()
            raise ForwardFailure("timeout", f"{url} took more than {timeout_seconds}s") from error
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            self.close()
            raise ForwardFailure("connect", f"{url}: {type(e).__name__}: {e}") from e
        if not keep:
            self.close()
        if answer.status >= 500:
            raise ForwardFailure("status_5xx", f"{url} answered {answer.status}")
        return answer

    async def _exchange(
        self, address: tuple[str, int], request: bytes
    ) -> tuple[MirrorAnswer, bool]:
        if self._writer is None or self._address != address or self._writer.is_closing():
            self.close()
            self._reader, self._writer = await asyncio.open_connection(
                address[0], address[1], limit=MAX_HEADER_BYTES
            )
            self._address = address
        assert self._reader is not None and self._writer is not None
        self._writer.write(request)
        await self._writer.drain()
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        version, _, rest = status_line.partition(" ")
        if not version.startswith("HTTP/1."):
            raise ValueError(f"not an HTTP/1.x answer: {status_line[:40]!r}")
        status = int(rest[:3])
        fields: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        keep = fields.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        if "chunked" in fields.get("transfer-encoding", "").lower():
            body = await self._chunked()
        elif "content-length" in fields:
            length = int(fields["content-length"])
            if not 0 <= length <= MAX_BODY_BYTES:
                raise ValueError(f"Content-Length {length} out of range")
            body = await self._reader.readexactly(length)
        else:
            body = await self._reader.read(MAX_BODY_BYTES)  # until the server closes
            keep = False
        return MirrorAnswer(status, body), keep

    async def _chunked(self) -> bytes:
        assert self._reader is not None
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await self._reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")  # no trailers are expected
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise ValueError("chunked body too large")
            chunks.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        self._reader = self._writer = None
        self._address = None
