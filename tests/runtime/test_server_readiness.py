"""Startup verification: what makes the server ready, not ready, or ready under audit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from axiom_runtime.metrics import parse_prometheus_text, sample_value
from axiom_runtime.server import ServerConfig
from axiom_runtime.server.config import CertificatePolicy
from axiom_runtime.server.testing import RunningServer, SignedModel, server_config

ROW = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
MakeServer = Callable[[ServerConfig], Awaitable[RunningServer]]


async def _metric(server: RunningServer, name: str) -> float:
    _, text = await server.get("/metrics")
    return sample_value(parse_prometheus_text(text), name)


async def test_untrusted_signer_keeps_enforcing_server_not_ready(
    make_server: MakeServer, signed_model: SignedModel, other_keys: Path
) -> None:
    server = await make_server(server_config(signed_model, trusted_keys=str(other_keys)))
    status, document = await server.get("/ready")
    assert status == 503
    assert document["phase"] == "CertificateRejected"
    assert document["certificate"]["status"] == "UnknownKey"
    assert "UnknownKey" in document["reason"]
    status, error = await server.post_json("/predict", {"input": ROW})
    assert status == 503 and "not ready" in error["error"]
    assert (await server.get("/v2/health/ready"))[0] == 503
    assert (await server.get("/health"))[0] == 200  # alive, just not ready
    assert await _metric(server, "axiom_ready") == 0
    assert await _metric(server, "axiom_certificate_valid") == 0


async def test_audit_policy_serves_and_reports_the_failure(
    make_server: MakeServer, signed_model: SignedModel, other_keys: Path
) -> None:
    config = server_config(
        signed_model, trusted_keys=str(other_keys), certificate_policy=CertificatePolicy.AUDIT
    )
    server = await make_server(config)
    status, document = await server.get("/ready")
    assert status == 200
    assert document["certificate"]["valid"] is False
    assert document["certificate"]["policy"] == "audit"
    assert "audit" in document["reason"]
    assert (await server.post_json("/predict", {"input": ROW}))[0] == 200
    assert await _metric(server, "axiom_certificate_valid") == 0
    assert await _metric(server, "axiom_ready") == 1


async def test_certificate_for_another_package_is_rejected(
    make_server: MakeServer, signed_model: SignedModel, tmp_path: Path
) -> None:
    from axiom_runtime.server.testing import build_signed_model

    other = build_signed_model(tmp_path, seed=7)  # same name and version, other weights
    config = server_config(
        signed_model, certificate=str(other.certificate), trusted_keys=str(other.trusted_keys)
    )
    server = await make_server(config)
    _, document = await server.get("/ready")
    assert document["certificate"]["status"] == "HashMismatch"
    assert document["ready"] is False


async def test_pinned_sha256_mismatch_is_not_ready(
    make_server: MakeServer, signed_model: SignedModel
) -> None:
    server = await make_server(server_config(signed_model, model_sha256="0" * 64))
    status, document = await server.get("/ready")
    assert status == 503 and document["phase"] == "LoadFailed"
    assert "does not match the pinned" in document["reason"]


async def test_pinned_sha256_match_is_ready(
    make_server: MakeServer, signed_model: SignedModel
) -> None:
    server = await make_server(server_config(signed_model, model_sha256=signed_model.sha256))
    assert (await server.get("/ready"))[0] == 200


async def test_missing_package_is_not_ready(
    make_server: MakeServer, signed_model: SignedModel
) -> None:
    server = await make_server(server_config(signed_model, model_uri="/nonexistent/model.axiom"))
    status, document = await server.get("/ready")
    assert status == 503 and "no such file" in document["reason"]
    assert (await server.post_json("/predict", {"input": ROW}))[0] == 503


async def test_corrupt_package_is_not_ready(
    make_server: MakeServer, signed_model: SignedModel, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.axiom"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    server = await make_server(server_config(signed_model, model_uri=str(corrupt)))
    _, document = await server.get("/ready")
    assert document["phase"] == "LoadFailed" and "cannot load model" in document["reason"]


async def test_file_uri_is_accepted(make_server: MakeServer, signed_model: SignedModel) -> None:
    server = await make_server(server_config(signed_model, model_uri=signed_model.package.as_uri()))
    assert (await server.get("/ready"))[0] == 200


async def test_expected_version_mismatch_is_not_ready(
    make_server: MakeServer, signed_model: SignedModel
) -> None:
    server = await make_server(server_config(signed_model, expected_version="2.0.0"))
    _, document = await server.get("/ready")
    assert document["ready"] is False and "expected '2.0.0'" in document["reason"]


async def test_enforce_without_certificate_is_not_ready(
    make_server: MakeServer, signed_model: SignedModel
) -> None:
    config = server_config(
        signed_model, certificate=None, certificate_policy=CertificatePolicy.ENFORCE
    )
    server = await make_server(config)
    _, document = await server.get("/ready")
    assert document["certificate"]["status"] == "Missing" and document["ready"] is False


async def test_no_certificate_and_no_policy_serves_unverified(
    make_server: MakeServer, signed_model: SignedModel
) -> None:
    server = await make_server(server_config(signed_model, certificate=None, trusted_keys=None))
    status, document = await server.get("/ready")
    assert status == 200 and document["certificate"]["status"] == "NotConfigured"


async def test_model_served_over_http_download(
    make_server: MakeServer, signed_model: SignedModel
) -> None:
    from aiohttp import web

    from axiom_runtime.server.testing import free_port

    files = web.Application()
    files.router.add_static("/models", signed_model.package.parent)
    runner = web.AppRunner(files)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        uri = f"http://127.0.0.1:{port}/models/{signed_model.package.name}"
        server = await make_server(server_config(signed_model, model_uri=uri))
        status, document = await server.get("/ready")
        assert status == 200, document
    finally:
        await runner.cleanup()


async def test_http_download_over_the_cap_is_not_ready(
    make_server: MakeServer, signed_model: SignedModel
) -> None:
    from aiohttp import web

    from axiom_runtime.server.testing import free_port

    files = web.Application()
    files.router.add_static("/models", signed_model.package.parent)
    runner = web.AppRunner(files)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        uri = f"http://127.0.0.1:{port}/models/{signed_model.package.name}"
        server = await make_server(
            server_config(signed_model, model_uri=uri, max_download_bytes=100)
        )
        _, document = await server.get("/ready")
        assert document["ready"] is False and "download cap" in document["reason"]
    finally:
        await runner.cleanup()


async def test_unsupported_uri_scheme_is_not_ready(
    make_server: MakeServer, signed_model: SignedModel
) -> None:
    server = await make_server(server_config(signed_model, model_uri="gs://bucket/model.axiom"))
    _, document = await server.get("/ready")
    assert "not supported" in document["reason"]
