"""``axiom model push`` to a real OCI registry (distribution), ``axiom serve`` from oci://,
and interop with the ORAS client both ways (built from its Go module by hack/storage).

Pulled by manifest digest; the manifest is checked against it and the blob against the
layer digest while it streams, so a registry that serves other bytes is caught.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from axiom_devcluster.storage_servers import OciRegistry, storage_binary
from axiom_runtime.server import ServerConfig
from axiom_runtime.server.testing import RunningServer, SignedModel, server_config
from axiom_runtime.sources.oci import ARTIFACT_TYPE, LAYER_MEDIA_TYPE

MakeServer = Callable[[ServerConfig], Awaitable[RunningServer]]


def push(package: Path, reference: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "axiom_runtime.cli", "model", "push", str(package), reference],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def pushed(
    oci_registry: OciRegistry, signed_model: SignedModel, request: pytest.FixtureRequest
) -> str:
    return push(
        signed_model.package,
        f"oci://{oci_registry.host}/models/{request.node.name[:40].lower().replace('_', '-')}:1.0.0",
    )


def test_push_prints_the_uri_pinned_by_manifest_digest(
    pushed: str, oci_registry: OciRegistry
) -> None:
    assert pushed.startswith(f"oci://{oci_registry.host}/models/")
    assert ":1.0.0@sha256:" in pushed


async def test_package_from_the_registry_is_verified_and_served(
    make_server: MakeServer, signed_model: SignedModel, pushed: str
) -> None:
    server = await make_server(
        server_config(signed_model, model_uri=pushed, model_sha256=signed_model.sha256)
    )
    status, document = await server.get("/ready")
    assert status == 200 and document["certificate"]["valid"], document


async def test_a_tag_alone_is_refused_pull_by_digest(
    make_server: MakeServer, signed_model: SignedModel, pushed: str
) -> None:
    server = await make_server(server_config(signed_model, model_uri=pushed.split("@")[0]))
    _, document = await server.get("/ready")
    assert "pull by digest" in document["reason"]


async def test_an_unknown_digest_is_not_found(
    make_server: MakeServer, signed_model: SignedModel, pushed: str
) -> None:
    uri = pushed.split("@")[0] + "@sha256:" + "0" * 64
    server = await make_server(server_config(signed_model, model_uri=uri))
    _, document = await server.get("/ready")
    assert "manifest: HTTP 404" in document["reason"]


async def test_a_registry_serving_other_bytes_is_caught(
    make_server: MakeServer, signed_model: SignedModel, pushed: str, oci_registry: OciRegistry
) -> None:
    blob = next((oci_registry.workdir / "data").rglob(f"blobs/sha256/*/{signed_model.sha256}/data"))
    original = blob.read_bytes()
    blob.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    try:
        server = await make_server(server_config(signed_model, model_uri=pushed))
        _, document = await server.get("/ready")
        assert "does not match its layer digest" in document["reason"], document
    finally:
        blob.write_bytes(original)


@pytest.fixture
def oras() -> Path:
    binary = storage_binary("oras")
    if binary is None:
        pytest.skip("oras is not built (hack/storage/build.sh)")
    return binary


def test_oras_pulls_what_axiom_pushes_as_the_same_file(
    oras: Path, pushed: str, signed_model: SignedModel, tmp_path: Path
) -> None:
    reference = pushed.removeprefix("oci://")
    pulled = subprocess.run(
        [str(oras), "pull", "--plain-http", "-o", str(tmp_path), reference],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / signed_model.package.name).read_bytes() == signed_model.package.read_bytes()


async def test_a_package_oras_pushed_is_served(
    make_server: MakeServer,
    signed_model: SignedModel,
    oci_registry: OciRegistry,
    oras: Path,
    tmp_path: Path,
) -> None:
    layer = f"{signed_model.package.name}:{LAYER_MEDIA_TYPE}"
    reference = f"{oci_registry.host}/models/by-oras:1.0.0"
    done = subprocess.run(  # noqa: ASYNC221 -- the push is the test's setup
        [str(oras), "push", "--plain-http", "--artifact-type", ARTIFACT_TYPE,
         "--format", "go-template={{.digest}}", reference, layer],
        cwd=signed_model.package.parent, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    uri = f"oci://{reference}@{done.stdout.strip()}"
    server = await make_server(
        server_config(signed_model, model_uri=uri, model_sha256=signed_model.sha256)
    )
    status, document = await server.get("/ready")
    assert status == 200, document
