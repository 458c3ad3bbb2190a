"""pytest fixtures for the model-source tests: real storage servers on 127.0.0.1.

``s3_server`` (session), ``oci_registry`` (session)
    A started :class:`~axiom_devcluster.storage_servers.S3Server` (versitygw) or
    :class:`~axiom_devcluster.storage_servers.OciRegistry` (distribution). Tests that use
    it are marked ``storage``; missing binaries are built before the tests run (needs Go),
    and the tests are skipped, saying why, only when they are missing and Go is not installed.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator

import pytest

from axiom_devcluster import binaries
from axiom_devcluster.storage_servers import (
    OciRegistry,
    S3Server,
    build_storage_servers,
    storage_binary,
)

_STORAGE_FIXTURES = {"s3_server", "oci_registry"}
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
