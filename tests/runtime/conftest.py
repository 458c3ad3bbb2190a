"""Fixtures for the runtime server tests: small signed packages and real servers on loopback.

Packages are built with ``axiom_runtime.server.testing`` (not read from examples/) so each
test controls exactly what it serves: input size, range, labels, certificate validity.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from axiom_runtime.keys import generate_private_key, key_id_for, public_key_pem
from axiom_runtime.server import ServerConfig
from axiom_runtime.server.testing import (
    RunningServer,
    ServedBoth,
    SignedModel,
    build_signed_model,
    serve_both,
    server_config,
    start_server,
)


@pytest.fixture(scope="session")
def signed_model(tmp_path_factory: pytest.TempPathFactory) -> SignedModel:
    return build_signed_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trusted-keys directory that does not hold the key the model was signed with."""
    directory = tmp_path_factory.mktemp("other-keys")
    key = generate_private_key().public_key()
    (directory / key_id_for(key)).write_bytes(public_key_pem(key))
    return directory


@pytest.fixture
async def server(signed_model: SignedModel) -> AsyncIterator[RunningServer]:
    """A ready server for the signed tiny model (enforce policy, valid certificate)."""
    runner, running = await start_server(server_config(signed_model))
    document = await running.wait_loaded()
    assert document["ready"], document
    yield running
    await running.session.close()
    await runner.cleanup()


@pytest.fixture
async def make_server() -> AsyncIterator[Callable[[ServerConfig], Awaitable[RunningServer]]]:
    """Start servers with any config (waits until loading finished); stopped at teardown."""
    started: list[tuple[web.AppRunner, RunningServer]] = []

    async def make(config: ServerConfig) -> RunningServer:
        runner, running = await start_server(config)
        started.append((runner, running))
        await running.wait_loaded()
        return running

    yield make
    for runner, running in started:
        await running.session.close()
        await runner.cleanup()


@pytest.fixture(scope="module")
def served_both(
    signed_model: SignedModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedBoth]:
    served = serve_both(signed_model, tmp_path_factory.mktemp("serve") / "serve.log")
    yield served
    served.process.stop()
