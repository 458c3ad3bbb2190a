"""``oci://`` from registries that require credentials, and the image form, against the real
distribution registry (built from its Go module by hack/storage):

- ``auth: htpasswd``: 401 ``Basic realm=...`` -> ``Authorization: Basic``;
- ``auth: token``: 401 ``Bearer realm=...,service=...,scope=...`` -> GET the realm with basic
  credentials -> a JWT -> retried with ``Authorization: Bearer``. The token server is a test
  stand-in (:mod:`axiom_devcluster.registry_token_server`: no real token service runs here);
  the registry that checks its JWTs against the trusted key is the real one.

Credentials are a Docker config JSON, as in a kubernetes.io/dockerconfigjson Secret: the CLI
reads it from ``--docker-config``, ``axiom serve`` from ``AXIOM_OCI_DOCKER_CONFIG_JSON``.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from axiom_devcluster.registry_token_server import TokenServer
from axiom_devcluster.storage_servers import OciRegistry
from axiom_runtime.server import ServerConfig
from axiom_runtime.server.testing import RunningServer, SignedModel, server_config
from axiom_runtime.sources import FetchLimits
from axiom_runtime.sources.oci import OciAccess, stream_package
from axiom_runtime.sources.registry_auth import (
    DOCKER_CONFIG_ENV,
    RegistryAuthError,
    credentials_for,
)

MakeServer = Callable[[ServerConfig], Awaitable[RunningServer]]
pytestmark = pytest.mark.storage


def docker_config(registry: str, user: str, password: str) -> str:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {registry: {"auth": auth}}})


def push(
    package: Path, reference: str, config: Path | None, *extra: str
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "axiom_runtime.cli", "model", "push", str(package), reference]
    if config is not None:
        argv += ["--docker-config", str(config)]
    return subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=120, check=False)


def write_config(tmp_path: Path, registry: OciRegistry, user: str, password: str) -> Path:
    path = tmp_path / "config.json"
    path.write_text(docker_config(registry.host, user, password))
    return path


@pytest.mark.parametrize("kind", ["basic", "token"])
async def test_push_and_serve_with_credentials(
    kind: str,
    request: pytest.FixtureRequest,
    make_server: MakeServer,
    signed_model: SignedModel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry: OciRegistry = request.getfixturevalue(f"oci_{kind}_registry")
    config = write_config(tmp_path, registry, "alice", "s3cret")
    anonymous = push(signed_model.package, f"oci://{registry.host}/models/auth:1.0.0", None)
    assert anonymous.returncode != 0
    assert "401" in anonymous.stderr or "requires basic authentication" in anonymous.stderr

    pushed = push(signed_model.package, f"oci://{registry.host}/models/auth:1.0.0", config)
    assert pushed.returncode == 0, pushed.stderr
    uri = pushed.stdout.strip()

    monkeypatch.setenv(DOCKER_CONFIG_ENV, config.read_text())
    server = await make_server(
        server_config(signed_model, model_uri=uri, model_sha256=signed_model.sha256)
    )
    status, document = await server.get("/ready")
    assert status == 200 and document["certificate"]["valid"], document


async def test_the_token_flow_goes_through_the_token_server(
    oci_token_registry: OciRegistry,
    registry_token_server: TokenServer,
    signed_model: SignedModel,
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, oci_token_registry, "alice", "s3cret")
    pushed = push(
        signed_model.package, f"oci://{oci_token_registry.host}/models/flow:1.0.0", config
    )
    assert pushed.returncode == 0, pushed.stderr
    registry_token_server.requests.clear()
    credentials = credentials_for(
        config.read_bytes(), oci_token_registry.host, origin="test config"
    )
    digest, size, layer = await stream_package(
        pushed.stdout.strip(), None, FetchLimits(10**9, 60), OciAccess(credentials)
    )
    assert digest == signed_model.sha256 and size == signed_model.package.stat().st_size
    assert layer.form == "artifact"
    paths = [path for path, _ in registry_token_server.requests]
    assert registry_token_server.requests and all(
        user == "alice" for _, user in registry_token_server.requests
    )
    assert paths == ["/token?service=axiom-test-registry&scope=repository:models/flow:pull"], paths


async def test_wrong_password_and_no_access_are_refused_by_name(
    oci_token_registry: OciRegistry,
    oci_basic_registry: OciRegistry,
    signed_model: SignedModel,
    tmp_path: Path,
) -> None:
    good = write_config(tmp_path, oci_token_registry, "alice", "s3cret")
    pushed = push(
        signed_model.package, f"oci://{oci_token_registry.host}/models/refused:1.0.0", good
    )
    assert pushed.returncode == 0, pushed.stderr
    uri = pushed.stdout.strip()
    limits = FetchLimits(10**9, 60)

    async def refused(
        uri: str, host: str, user: str, password: str, origin: str, match: str
    ) -> None:
        """The registry (or its token server) refuses ``user``: the error names them all."""
        credentials = credentials_for(docker_config(host, user, password), host, origin=origin)
        with pytest.raises(RegistryAuthError, match=match):
            await stream_package(uri, None, limits, OciAccess(credentials))

    await refused(
        uri, oci_token_registry.host, "alice", "nope", "Secret ns/regcred",
        r"token server .* answered HTTP 401 as alice from Secret ns/regcred",
    )  # fmt: skip
    # A valid user the token server grants nothing: the registry refuses the token it got.
    await refused(
        uri, oci_token_registry.host, "mallory", "m4llory", "Secret ns/other",
        rf"registry {oci_token_registry.host} answered HTTP 401 .*as mallory from Secret ns/other",
    )  # fmt: skip

    basic_uri = f"oci://{oci_basic_registry.host}/models/x@sha256:{'0' * 64}"
    with pytest.raises(RegistryAuthError, match="requires basic authentication; no credentials"):
        await stream_package(basic_uri, None, limits, OciAccess())
    await refused(
        basic_uri, oci_basic_registry.host, "alice", "nope", "Secret ns/regcred",
        rf"registry {oci_basic_registry.host} answered HTTP 401 .*as alice from Secret ns/regcred",
    )  # fmt: skip


async def test_the_image_form_is_pulled_and_its_member_hashed(
    make_server: MakeServer, oci_registry: OciRegistry, signed_model: SignedModel
) -> None:
    pushed = push(
        signed_model.package, f"oci://{oci_registry.host}/models/image:1.0.0", None, "--as-image"
    )
    assert pushed.returncode == 0, pushed.stderr
    uri = pushed.stdout.strip()
    digest, size, layer = await stream_package(uri, None, FetchLimits(10**9, 60))
    assert layer.form == "image" and layer.package_sha256 is None
    assert digest == signed_model.sha256 and size == signed_model.package.stat().st_size
    server = await make_server(
        server_config(signed_model, model_uri=uri, model_sha256=signed_model.sha256)
    )
    status, document = await server.get("/ready")
    assert status == 200, document
