"""``http://`` and ``https://``: one GET, streamed through a HashingSink."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import aiohttp
from yarl import URL

from axiom_runtime.sources.base import FetchedPackage, FetchLimits, HashingSink, ModelSourceError

CHUNK = 256 * 1024


async def stream_get(
    uri: str | URL,
    target: Path,
    limits: FetchLimits,
    *,
    headers: Mapping[str, str] | None = None,
    shown_as: str | None = None,
) -> FetchedPackage:
    """GET ``uri`` into ``target``, hashing as it goes; ``shown_as`` names it in errors."""
    shown = shown_as or str(uri)
    timeout = aiohttp.ClientTimeout(total=limits.timeout_s)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(uri, headers=dict(headers or {})) as response,
        ):
            if response.status != 200:
                detail = await _error_detail(response)
                raise ModelSourceError(
                    f"model URI {shown}: HTTP {response.status} {response.reason}{detail}"
                )
            with HashingSink(target, shown, limits.max_bytes) as sink:
                sink.check_declared(response.content_length)
                async for chunk in response.content.iter_chunked(CHUNK):
                    sink.write(chunk)
            return sink.result()
    except TimeoutError:
        raise ModelSourceError(
            f"model URI {shown}: download did not finish in {limits.timeout_s:g} s"
        ) from None
    except aiohttp.ClientError as error:
        raise ModelSourceError(f"model URI {shown}: {type(error).__name__}: {error}") from None


async def _error_detail(response: aiohttp.ClientResponse) -> str:
    # S3 and registries explain a refusal in a small XML/JSON body: show its code, capped.
    try:
        body = (await response.content.read(2048)).decode("utf-8", "replace")
    except (aiohttp.ClientError, TimeoutError):
        return ""
    start, end = body.find("<Code>"), body.find("</Code>")
    if start != -1 and end > start:
        return f" ({body[start + 6 : end]})"
    return ""


async def fetch(uri: str, target: Path, limits: FetchLimits) -> FetchedPackage:
    return await stream_get(uri, target, limits)
