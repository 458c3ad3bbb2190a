"""The shadow mirror's HTTP/1.1 client against a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from axiom_runtime.traffic.forward import ForwardFailure
from axiom_runtime.traffic.mirror_client import MirrorConnection

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    async def echo(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.headers))
        body = await request.read()
        return web.Response(body=b"echo:" + body, content_type="application/json")

    async def chunked(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b'{"a":', b" 1", b"}"):
            await response.write(part)
        await response.write_eof()
        return response

    async def broken(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=503, text="down")

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(2)  # far past the client's timeout, short enough for teardown
        return web.Response(text="late")

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_post("/chunked", chunked)
    app.router.add_post("/broken", broken)
    app.router.add_post("/hang", hang)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    await runner.cleanup()


async def test_a_body_by_content_length_and_the_connection_is_kept(
    server: tuple[str, list[dict[str, str]]],
) -> None:
    base, seen = server
    connection = MirrorConnection()
    first = await connection.post(f"{base}/echo", {"X-Request-ID": "a"}, b"one", 2.0)
    writer = connection._writer
    second = await connection.post(f"{base}/echo?x=1", {}, b"two", 2.0)
    assert (first.status, first.body, second.body) == (200, b"echo:one", b"echo:two")
    assert connection._writer is writer  # keep-alive: one connection for both
    assert seen[0]["X-Request-ID"] == "a" and seen[0]["Content-Length"] == "3"
    connection.close()


async def test_a_chunked_answer_is_read_whole(server: tuple[str, list[dict[str, str]]]) -> None:
    base, _ = server
    connection = MirrorConnection()
    answer = await connection.post(f"{base}/chunked", {}, b"", 2.0)
    assert answer.body == b'{"a": 1}'
    assert (await connection.post(f"{base}/echo", {}, b"x", 2.0)).body == b"echo:x"
    connection.close()


async def test_failures_are_classified_like_the_splits_forwards(
    server: tuple[str, list[dict[str, str]]],
) -> None:
    base, _ = server
    connection = MirrorConnection()
    with pytest.raises(ForwardFailure) as broken:
        await connection.post(f"{base}/broken", {}, b"", 2.0)
    assert broken.value.reason == "status_5xx"
    with pytest.raises(ForwardFailure) as slow:
        await connection.post(f"{base}/hang", {}, b"", 0.2)
    assert slow.value.reason == "timeout"
    with pytest.raises(ForwardFailure) as refused:
        await connection.post("http://127.0.0.1:9/echo", {}, b"", 2.0)
    assert refused.value.reason == "connect"
    # After each failure the next copy reconnects and works.
    assert (await connection.post(f"{base}/echo", {}, b"ok", 2.0)).body == b"echo:ok"
    connection.close()


async def test_a_header_value_with_a_line_break_is_never_sent(
    server: tuple[str, list[dict[str, str]]],
) -> None:
    base, seen = server
    connection = MirrorConnection()
    await connection.post(f"{base}/echo", {"X-Evil": "a\r\nX-Injected: 1", "X-Fine": "b"}, b"", 2.0)
    assert "X-Injected" not in seen[-1] and "X-Evil" not in seen[-1]
    assert seen[-1]["X-Fine"] == "b"
    connection.close()
