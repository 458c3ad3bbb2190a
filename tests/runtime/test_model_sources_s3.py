"""``axiom serve`` loading its package from a real S3-compatible server (versitygw).

The server checks every SigV4 signature, so these tests pin the signer, the credentials
from the environment (as a pod gets them from a Secret) and the streaming download against
an implementation that is not ours.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from axiom_devcluster.storage_servers import S3Server
from axiom_runtime.server import ServerConfig
from axiom_runtime.server.testing import RunningServer, SignedModel, server_config

MakeServer = Callable[[ServerConfig], Awaitable[RunningServer]]


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, s3_server: S3Server) -> S3Server:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_access_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return s3_server


async def test_package_from_s3_is_verified_and_served(
    make_server: MakeServer, signed_model: SignedModel, s3_env: S3Server
) -> None:
    uri = s3_env.put_file("models", "team/tiny-1.0.0.axiom", signed_model.package)
    server = await make_server(
        server_config(
            signed_model,
            model_uri=uri,
            model_sha256=signed_model.sha256,
            s3_endpoint=s3_env.endpoint,
        )
    )
    status, document = await server.get("/ready")
    assert status == 200 and document["certificate"]["valid"], document
    assert signed_model.sha256.startswith(document["model"]["sha256"])


async def test_wrong_secret_is_refused_by_the_server_and_not_ready(
    make_server: MakeServer,
    signed_model: SignedModel,
    s3_env: S3Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri = s3_env.put_file("models", "tiny.axiom", signed_model.package)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    server = await make_server(
        server_config(signed_model, model_uri=uri, s3_endpoint=s3_env.endpoint)
    )
    status, document = await server.get("/ready")
    assert status == 503 and document["phase"] == "LoadFailed"
    assert "HTTP 403" in document["reason"] and "SignatureDoesNotMatch" in document["reason"]
    assert "not-the-secret" not in document["reason"]


async def test_session_token_is_sent_signed(
    make_server: MakeServer,
    signed_model: SignedModel,
    s3_env: S3Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # versitygw issues no session tokens, so it refuses one it did not issue: proof that
    # the token reached it inside a request whose signature it accepted as well-formed.
    uri = s3_env.put_file("models", "tiny.axiom", signed_model.package)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "a-token")
    server = await make_server(
        server_config(signed_model, model_uri=uri, s3_endpoint=s3_env.endpoint)
    )
    _, document = await server.get("/ready")
    assert "InvalidToken" in document["reason"], document


async def test_missing_object_names_the_uri(
    make_server: MakeServer, signed_model: SignedModel, s3_env: S3Server
) -> None:
    s3_env.put_bytes("models", "other.axiom", b"x")
    server = await make_server(
        server_config(
            signed_model, model_uri="s3://models/absent.axiom", s3_endpoint=s3_env.endpoint
        )
    )
    _, document = await server.get("/ready")
    assert "s3://models/absent.axiom: HTTP 404" in document["reason"]
    assert "NoSuchKey" in document["reason"]


async def test_object_over_the_cap_is_not_ready(
    make_server: MakeServer, signed_model: SignedModel, s3_env: S3Server
) -> None:
    uri = s3_env.put_file("models", "tiny.axiom", signed_model.package)
    server = await make_server(
        server_config(
            signed_model, model_uri=uri, s3_endpoint=s3_env.endpoint, max_download_bytes=100
        )
    )
    _, document = await server.get("/ready")
    assert "download cap" in document["reason"]


async def test_no_credentials_names_the_variables(
    make_server: MakeServer, signed_model: SignedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    server = await make_server(
        server_config(
            signed_model, model_uri="s3://models/tiny.axiom", s3_endpoint="http://127.0.0.1:9"
        )
    )
    _, document = await server.get("/ready")
    assert "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY not set" in document["reason"]


async def test_a_restarted_server_reuses_the_kept_download(
    make_server: MakeServer, signed_model: SignedModel, s3_env: S3Server, tmp_path: Path
) -> None:
    uri = s3_env.put_file("models", "kept/tiny.axiom", signed_model.package)
    settings = {
        "model_uri": uri,
        "model_sha256": signed_model.sha256,
        "s3_endpoint": s3_env.endpoint,
        "download_dir": str(tmp_path / "models"),
    }
    first = await make_server(server_config(signed_model, **settings))
    assert (await first.get("/ready"))[0] == 200
    kept = tmp_path / "models" / f"{signed_model.sha256}.axiom"
    assert kept.is_file()
    (s3_env.root / "models" / "kept" / "tiny.axiom").unlink()  # the store no longer has it
    second = await make_server(server_config(signed_model, **settings))
    assert (await second.get("/ready"))[0] == 200


async def test_a_kept_file_that_no_longer_hashes_to_the_pin_is_downloaded_again(
    make_server: MakeServer, signed_model: SignedModel, s3_env: S3Server, tmp_path: Path
) -> None:
    uri = s3_env.put_file("models", "kept2/tiny.axiom", signed_model.package)
    kept = tmp_path / "models" / f"{signed_model.sha256}.axiom"
    kept.parent.mkdir()
    kept.write_bytes(b"left over from a crash")
    server = await make_server(
        server_config(
            signed_model,
            model_uri=uri,
            model_sha256=signed_model.sha256,
            s3_endpoint=s3_env.endpoint,
            download_dir=str(kept.parent),
        )
    )
    assert (await server.get("/ready"))[0] == 200
    assert kept.read_bytes() == signed_model.package.read_bytes()
