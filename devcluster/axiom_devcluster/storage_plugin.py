"""pytest fixtures for the model-source tests: real storage servers on 127.0.0.1.

``s3_server`` (session), ``oci_registry`` (session)
    A started :class:`~axiom_devcluster.storage_servers.S3Server` (versitygw) or
    :class:`~axiom_devcluster.storage_servers.OciRegistry` (distribution).
``oci_basic_registry``, ``oci_token_registry``, ``registry_token_server`` (session)
    The registry with htpasswd auth (user ``alice``/``s3cret``), and with token auth through
    the test stand-in token server (``alice`` may pull and push, ``mallory`` nothing). Tests that use
    it are marked ``storage``; missing binaries are built before the tests run (needs Go),
    and the tests are skipped, saying why, only when they are missing and Go is not installed.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator

import pytest

from axiom_devcluster import binaries
from axiom_devcluster.registry_token_server import TokenServer
from axiom_devcluster.storage_servers import (
    OciRegistry,
    S3Server,
    build_storage_servers,
    storage_binary,
)

_STORAGE_FIXTURES = {"s3_server", "oci_registry", "oci_basic_registry", "oci_token_registry"}
REGISTRY_USERS = {"alice": ("s3cret", ("pull", "push")), "mallory": ("m4llory", ())}
_SERVERS = ("versitygw", "registry", "oras")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "storage: needs a storage server built by hack/storage")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needs = False
    for item in items:
        if _STORAGE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.storage)
            needs = True
    if not needs or all(storage_binary(name) for name in _SERVERS) or not binaries.go_available():
        return
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\nbuilding the storage servers (hack/storage/build.sh) ...", flush=True)
        try:
            build_storage_servers()
        except (subprocess.CalledProcessError, FileNotFoundError) as error:
            pytest.exit(f"building the storage servers failed: {error}", returncode=1)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if storage_binary("versitygw") is None:
        pytest.skip("versitygw is not built and `go` is not installed (hack/storage/build.sh)")
    with S3Server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OciRegistry]:
    if storage_binary("registry") is None:
        pytest.skip("the registry is not built and `go` is not installed (hack/storage/build.sh)")
    with OciRegistry(tmp_path_factory.mktemp("oci")) as registry:
        yield registry


def _registry_or_skip() -> None:
    if storage_binary("registry") is None:
        pytest.skip("the registry is not built and `go` is not installed (hack/storage/build.sh)")


@pytest.fixture(scope="session")
def oci_basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OciRegistry]:
    _registry_or_skip()
    users = {name: password for name, (password, _) in REGISTRY_USERS.items()}
    with OciRegistry(tmp_path_factory.mktemp("oci-basic"), htpasswd=users) as registry:
        yield registry


@pytest.fixture(scope="session")
def registry_token_server() -> Iterator[TokenServer]:
    with TokenServer(REGISTRY_USERS) as server:
        yield server


@pytest.fixture(scope="session")
def oci_token_registry(
    tmp_path_factory: pytest.TempPathFactory, registry_token_server: TokenServer
) -> Iterator[OciRegistry]:
    _registry_or_skip()
    with OciRegistry(tmp_path_factory.mktemp("oci-token"), token=registry_token_server) as registry:
        yield registry
