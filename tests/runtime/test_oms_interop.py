"""OpenSSF Model Signing bundles, interop both ways with the ``model_signing`` command.

A package signed by ``model_signing sign`` is served by ``axiom serve --certificate-format
oms``; a bundle written by ``axiom cert sign --format oms`` passes ``model_signing verify``;
key-based and certificate-chain bundles alike. Each refusal has its own reason.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from axiom_runtime.certificate.oms_testing import ca_and_leaf, ec_key_files
from axiom_runtime.server import ServerConfig
from axiom_runtime.server.config import CertificateFormat
from axiom_runtime.server.testing import RunningServer, SignedModel, server_config

MakeServer = Callable[[ServerConfig], Awaitable[RunningServer]]
MODEL_SIGNING = Path(sys.executable).with_name("model_signing")
pytestmark = pytest.mark.skipif(not MODEL_SIGNING.exists(), reason="model_signing not installed")


def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=120, check=False
    )


def axiom(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "axiom_runtime.cli", *argv)


@pytest.fixture
def package(tmp_path: Path, signed_model: SignedModel) -> Path:
    copy = tmp_path / "tiny-1.0.0.axiom"
    shutil.copyfile(signed_model.package, copy)
    return copy


def trusted_dir(tmp_path: Path, **entries: Path) -> Path:
    directory = tmp_path / "trusted"
    directory.mkdir(exist_ok=True)
    for name, source in entries.items():
        shutil.copyfile(source, directory / name)
    return directory


async def test_a_package_signed_by_model_signing_is_served(
    make_server: MakeServer, signed_model: SignedModel, package: Path, tmp_path: Path
) -> None:
    keys = ec_key_files(tmp_path / "keys")
    bundle = tmp_path / "tiny.sig"
    signed = run(
        MODEL_SIGNING, "sign", "key", package, "--private_key", keys.private_key,
        "--signature", bundle,
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    config = server_config(
        signed_model,
        model_uri=str(package),
        certificate=str(bundle),
        certificate_format=CertificateFormat.OMS,
        trusted_keys=str(trusted_dir(tmp_path, **{"team-p256": keys.public_key})),
    )
    server = await make_server(config)
    status, document = await server.get("/ready")
    assert status == 200, document
    assert document["certificate"]["status"] == "Valid"
    assert document["certificate"]["issuer"] == "team-p256"


def test_a_bundle_axiom_writes_passes_model_signing_verify(package: Path, tmp_path: Path) -> None:
    keys = ec_key_files(tmp_path / "keys")
    bundle = tmp_path / "tiny.sig"
    signed = axiom(
        "cert", "sign", package, "--format", "oms", "--key", keys.private_key, "-o", bundle
    )
    assert signed.returncode == 0, signed.stderr
    verified = run(
        MODEL_SIGNING, "verify", "key", package, "--signature", bundle,
        "--public_key", keys.public_key,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    ours = axiom(
        "cert", "verify", bundle, "--format", "oms", "--package", package,
        "--trusted-keys", trusted_dir(tmp_path, p256=keys.public_key),
    )  # fmt: skip
    assert ours.returncode == 0, ours.stderr


def test_certificate_chain_bundles_interoperate_both_ways(package: Path, tmp_path: Path) -> None:
    pki = ca_and_leaf(tmp_path / "pki")
    ours = tmp_path / "ours.sig"
    signed = axiom(
        "cert", "sign", package, "--format", "oms", "--key", pki.leaf_key,
        "--signing-certificate", pki.leaf_certificate, "--certificate-chain", pki.ca_certificate,
        "-o", ours,
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    verified = run(
        MODEL_SIGNING, "verify", "certificate", package, "--signature", ours,
        "--certificate_chain", pki.ca_certificate,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    theirs = tmp_path / "theirs.sig"
    made = run(
        MODEL_SIGNING, "sign", "certificate", package, "--private_key", pki.leaf_key,
        "--signing_certificate", pki.leaf_certificate, "--certificate_chain", pki.ca_certificate,
        "--signature", theirs,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    trusted = trusted_dir(tmp_path, **{"team-ca": pki.ca_certificate})
    checked = axiom(
        "cert", "verify", theirs, "--format", "oms", "--package", package,
        "--trusted-keys", trusted,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "ml-team model signer" in checked.stdout


def test_another_ca_is_an_unknown_key(package: Path, tmp_path: Path) -> None:
    pki = ca_and_leaf(tmp_path / "pki")
    other = ca_and_leaf(tmp_path / "other", ca_name="Someone else's CA")
    bundle = tmp_path / "b.sig"
    axiom(
        "cert", "sign", package, "--format", "oms", "--key", pki.leaf_key,
        "--signing-certificate", pki.leaf_certificate, "--certificate-chain", pki.ca_certificate,
        "-o", bundle,
    )  # fmt: skip
    checked = axiom(
        "cert", "verify", bundle, "--format", "oms", "--package", package,
        "--trusted-keys", trusted_dir(tmp_path, ca=other.ca_certificate),
    )  # fmt: skip
    assert checked.returncode == 1 and "[OmsUnknownKey]" in checked.stderr


@pytest.mark.parametrize("case", ["OmsHashMismatch", "OmsUnknownKey", "OmsMalformed"])
async def test_each_refusal_keeps_the_server_not_ready_with_its_reason(
    make_server: MakeServer, signed_model: SignedModel, package: Path, tmp_path: Path, case: str
) -> None:
    keys = ec_key_files(tmp_path / "keys")
    other = ec_key_files(tmp_path / "other", "other")
    bundle = tmp_path / "tiny.sig"
    signing_key = other.private_key if case == "OmsUnknownKey" else keys.private_key
    assert (
        axiom(
            "cert", "sign", package, "--format", "oms", "--key", signing_key, "-o", bundle
        ).returncode
        == 0
    )
    served = package
    if case == "OmsHashMismatch":
        served = tmp_path / "other.axiom"
        served.write_bytes(package.read_bytes() + b"\0")  # noqa: ASYNC240 -- a test's setup
    if case == "OmsMalformed":
        bundle.write_text('{"mediaType": "text/plain"}')
    config = server_config(
        signed_model,
        model_uri=str(served),
        certificate=str(bundle),
        certificate_format=CertificateFormat.OMS,
        trusted_keys=str(trusted_dir(tmp_path, p256=keys.public_key)),
    )
    server = await make_server(config)
    status, document = await server.get("/ready")
    assert status == 503 and document["phase"] == "CertificateRejected"
    assert document["certificate"]["status"] == case, document


@pytest.mark.parametrize(
    ("bundle_key", "status"), [("trusted", "Valid"), ("other", "OmsUnknownKey")]
)
async def test_with_a_property_certificate_too_both_must_pass(
    make_server: MakeServer,
    signed_model: SignedModel,
    tmp_path: Path,
    bundle_key: str,
    status: str,
) -> None:
    keys = ec_key_files(tmp_path / "keys")
    other = ec_key_files(tmp_path / "other", "other")
    bundle = tmp_path / "tiny.sig"
    signer = keys.private_key if bundle_key == "trusted" else other.private_key
    made = axiom(
        "cert", "sign", signed_model.package, "--format", "oms", "--key", signer, "-o", bundle
    )
    assert made.returncode == 0, made.stderr
    trusted = tmp_path / "trusted"
    shutil.copytree(signed_model.trusted_keys, trusted)  # the Ed25519 key of the certificate
    shutil.copyfile(keys.public_key, trusted / "team-p256")
    config = server_config(signed_model, trusted_keys=str(trusted), oms_bundle=str(bundle))
    server = await make_server(config)
    code, document = await server.get("/ready")
    assert document["certificate"]["status"] == status, document
    assert code == (200 if status == "Valid" else 503)
    if status == "Valid":  # the property certificate's own verdict, after the bundle's
        assert document["certificate"]["issuer"] == "tests"
