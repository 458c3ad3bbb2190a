"""Certificates: every verification failure reason, each provoked by a real tampered file."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from axiom_runtime.certificate import (
    FailureReason,
    PropertySpec,
    VerificationResult,
    canonical_bytes,
    certificate_json,
    parse_property,
    sign_certificate,
    verify_certificate,
)
from axiom_runtime.errors import CertificateError, PropertyViolation
from axiom_runtime.keys import (
    key_id_for,
    load_trusted_keys,
    parse_trusted_keys,
    public_key_pem,
    raw_public_bytes,
)
from axiom_runtime.package import ModelPackage, load_package, sha256_file, write_package

NOW = datetime(2026, 6, 1, tzinfo=UTC)
CREATED = datetime(2026, 1, 1, tzinfo=UTC)
EXPIRES = datetime(2027, 1, 1, tzinfo=UTC)
KEY_ID = "team-a"
RNG = np.random.default_rng(11)
DATA = RNG.uniform(0, 1, (50, 4)).astype(np.float32)
PROPERTIES = [
    parse_property(p) for p in ("valid_probabilities", "bounded_output(0, 1)", "no_nan", "no_inf")
]


@pytest.fixture(scope="module")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture(scope="module")
def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


@pytest.fixture
def package_path(tmp_path: Path) -> Path:
    doc = {
        "format": "axiom-model",
        "format_version": 1,
        "name": "tiny",
        "version": "1.0.0",
        "input": {"shape": [4], "dtype": "float32", "range": [0, 1]},
        "output": {"shape": [3], "dtype": "float32"},
        "layers": [{"type": "dense", "weights": {"weight": "w", "bias": "b"}}, {"type": "softmax"}],
    }
    path = tmp_path / "tiny-1.0.0.axiom"
    write_package(path, doc, {"w": RNG.standard_normal((4, 3)), "b": RNG.standard_normal(3)})
    return path


@pytest.fixture
def package(package_path: Path) -> ModelPackage:
    return load_package(package_path)


@pytest.fixture
def trusted_dir(tmp_path: Path, signing_key: Ed25519PrivateKey) -> Path:
    directory = tmp_path / "trusted"
    directory.mkdir()
    (directory / KEY_ID).write_bytes(public_key_pem(signing_key.public_key()))
    return directory


def sign(package: ModelPackage, key: Ed25519PrivateKey, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "issuer": "unit tests",
        "key_id": KEY_ID,
        "properties": PROPERTIES,
        "data": DATA,
        "created_at": CREATED,
        "expires_at": EXPIRES,
    }
    arguments.update(overrides)
    return sign_certificate(package, key, **arguments)


@pytest.fixture
def cert_path(tmp_path: Path, package: ModelPackage, signing_key: Ed25519PrivateKey) -> Path:
    path = tmp_path / "tiny-1.0.0.cert.json"
    path.write_text(certificate_json(sign(package, signing_key)))
    return path


def verify(
    cert: Path | bytes, trusted: Path, package: Path | None = None, **kw: Any
) -> VerificationResult:
    data = cert.read_bytes() if isinstance(cert, Path) else cert
    return verify_certificate(
        data,
        load_trusted_keys(trusted),
        package_sha256=None if package is None else sha256_file(package),
        now=kw.pop("now", NOW),
        **kw,
    )


def edit(path: Path, change: Any) -> Path:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2))
    return path


def test_a_fresh_certificate_verifies_against_its_package(
    cert_path: Path, trusted_dir: Path, package_path: Path
) -> None:
    result = verify(
        cert_path, trusted_dir, package_path, expected_name="tiny", expected_version="1.0.0"
    )
    assert result.ok, result.message
    assert result.reason is FailureReason.VALID
    assert result.certificate is not None and result.certificate.model_name == "tiny"


def test_layout_follows_the_axiom_jl_certificate(cert_path: Path, package_path: Path) -> None:
    document = json.loads(cert_path.read_text())
    assert document["format"] == "axiom-verification-certificate"
    assert document["model"] == {
        "name": "tiny",
        "version": "1.0.0",
        "hash": sha256_file(package_path),
        "hash_algorithm": "SHA256",
        "size_bytes": package_path.stat().st_size,
    }
    assert set(document["metadata"]) == {"created_at", "expires_at", "issuer"}
    assert document["signature"]["algorithm"] == "ed25519"
    assert document["signature"]["key_id"] == KEY_ID


def test_checked_properties_are_recorded_with_their_parameters(cert_path: Path) -> None:
    properties = json.loads(cert_path.read_text())["verification"]["properties"]
    assert [p["name"] for p in properties] == [
        "valid_probabilities",
        "bounded_output",
        "no_nan",
        "no_inf",
    ]
    assert properties[1]["params"] == {"low": 0.0, "high": 1.0}
    assert all(p["status"] == "passed" for p in properties)


def test_reformatting_the_file_keeps_the_signature_valid(
    cert_path: Path, trusted_dir: Path
) -> None:
    document = json.loads(cert_path.read_text())
    reordered = json.dumps(dict(reversed(list(document.items()))), indent=7).encode()
    assert verify(reordered, trusted_dir).ok


def test_signing_is_deterministic(package: ModelPackage, signing_key: Ed25519PrivateKey) -> None:
    assert canonical_bytes(sign(package, signing_key)) == canonical_bytes(
        sign(package, signing_key)
    )


# --- every failure reason, from a real file --------------------------------------------------


def test_flipped_weight_byte_is_a_hash_mismatch(
    cert_path: Path, trusted_dir: Path, package_path: Path
) -> None:
    data = bytearray(package_path.read_bytes())
    data[len(data) // 2] ^= 0x01
    package_path.write_bytes(bytes(data))
    result = verify(cert_path, trusted_dir, package_path)
    assert result.reason is FailureReason.HASH_MISMATCH
    assert "not the one that was signed" in result.message


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("model", "version", "1.0.1"),
        ("metadata", "issuer", "someone else"),
        ("metadata", "expires_at", "2099-01-01T00:00:00Z"),
    ],
)
def test_edited_field_breaks_the_signature(
    cert_path: Path, trusted_dir: Path, section: str, key: str, value: str
) -> None:
    edit(cert_path, lambda d: d[section].__setitem__(key, value))
    assert verify(cert_path, trusted_dir).reason is FailureReason.BAD_SIGNATURE


def test_edited_property_parameter_breaks_the_signature(cert_path: Path, trusted_dir: Path) -> None:
    edit(cert_path, lambda d: d["verification"]["properties"][1]["params"].__setitem__("high", 0.5))
    assert verify(cert_path, trusted_dir).reason is FailureReason.BAD_SIGNATURE


def test_edited_key_id_is_covered_by_the_signature(
    cert_path: Path, tmp_path: Path, signing_key: Ed25519PrivateKey
) -> None:
    trusted = tmp_path / "two"
    trusted.mkdir()
    for key_id in (KEY_ID, "team-b"):
        (trusted / key_id).write_bytes(public_key_pem(signing_key.public_key()))
    edit(cert_path, lambda d: d["signature"].__setitem__("key_id", "team-b"))
    assert verify(cert_path, trusted).reason is FailureReason.BAD_SIGNATURE


def test_signed_by_another_key_under_a_trusted_id(
    tmp_path: Path, package: ModelPackage, other_key: Ed25519PrivateKey, trusted_dir: Path
) -> None:
    path = tmp_path / "swapped.cert.json"
    path.write_text(certificate_json(sign(package, other_key)))
    result = verify(path, trusted_dir)
    assert result.reason is FailureReason.BAD_SIGNATURE
    assert "team-a" in result.message


def test_garbled_signature_value(cert_path: Path, trusted_dir: Path) -> None:
    edit(cert_path, lambda d: d["signature"].__setitem__("value", "not base64 !"))
    assert verify(cert_path, trusted_dir).reason is FailureReason.BAD_SIGNATURE


def test_unknown_key_id(
    tmp_path: Path, package: ModelPackage, signing_key: Ed25519PrivateKey, trusted_dir: Path
) -> None:
    path = tmp_path / "unknown.cert.json"
    path.write_text(certificate_json(sign(package, signing_key, key_id="team-z")))
    result = verify(path, trusted_dir)
    assert result.reason is FailureReason.UNKNOWN_KEY
    assert "'team-z'" in result.message and "team-a" in result.message


def test_expired(
    tmp_path: Path, package: ModelPackage, signing_key: Ed25519PrivateKey, trusted_dir: Path
) -> None:
    path = tmp_path / "old.cert.json"
    path.write_text(
        certificate_json(
            sign(
                package,
                signing_key,
                created_at=datetime(2020, 1, 1, tzinfo=UTC),
                expires_at=datetime(2021, 1, 1, tzinfo=UTC),
            )
        )
    )
    result = verify(path, trusted_dir)
    assert result.reason is FailureReason.EXPIRED
    assert "2021-01-01T00:00:00Z" in result.message


def test_expiry_is_checked_against_the_real_clock_by_default(
    tmp_path: Path, package: ModelPackage, signing_key: Ed25519PrivateKey, trusted_dir: Path
) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    path = tmp_path / "lapsed.cert.json"
    path.write_text(
        certificate_json(
            sign(
                package,
                signing_key,
                created_at=yesterday - timedelta(days=30),
                expires_at=yesterday,
            )
        )
    )
    result = verify_certificate(path.read_bytes(), load_trusted_keys(trusted_dir))
    assert result.reason is FailureReason.EXPIRED


def test_created_in_the_future_is_not_yet_valid(
    tmp_path: Path, package: ModelPackage, signing_key: Ed25519PrivateKey, trusted_dir: Path
) -> None:
    path = tmp_path / "future.cert.json"
    path.write_text(
        certificate_json(
            sign(package, signing_key, created_at=NOW + timedelta(days=1), expires_at=None)
        )
    )
    assert verify(path, trusted_dir).reason is FailureReason.NOT_YET_VALID


def test_small_clock_skew_is_tolerated(
    tmp_path: Path, package: ModelPackage, signing_key: Ed25519PrivateKey, trusted_dir: Path
) -> None:
    path = tmp_path / "skew.cert.json"
    path.write_text(
        certificate_json(
            sign(package, signing_key, created_at=NOW + timedelta(minutes=2), expires_at=None)
        )
    )
    assert verify(path, trusted_dir).ok


def test_wrong_name(cert_path: Path, trusted_dir: Path) -> None:
    result = verify(cert_path, trusted_dir, expected_name="fraud-detector")
    assert result.reason is FailureReason.NAME_MISMATCH
    assert "'tiny'" in result.message and "'fraud-detector'" in result.message


def test_wrong_version(cert_path: Path, trusted_dir: Path) -> None:
    result = verify(cert_path, trusted_dir, expected_name="tiny", expected_version="2.0.0")
    assert result.reason is FailureReason.VERSION_MISMATCH


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[1, 2]", b"\xff\xfe", b'{"format": NaN}'],
)
def test_garbage_is_malformed(tmp_path: Path, trusted_dir: Path, content: bytes) -> None:
    path = tmp_path / "garbage.cert.json"
    path.write_bytes(content)
    assert verify(path, trusted_dir).reason is FailureReason.MALFORMED


def test_truncated_file_is_malformed(cert_path: Path, trusted_dir: Path) -> None:
    cert_path.write_bytes(cert_path.read_bytes()[:-40])
    assert verify(cert_path, trusted_dir).reason is FailureReason.MALFORMED


def test_duplicate_keys_are_malformed(cert_path: Path, trusted_dir: Path) -> None:
    text = cert_path.read_text()
    cert_path.write_text(text.replace('"format":', '"format": "x", "format":', 1))
    assert verify(cert_path, trusted_dir).reason is FailureReason.MALFORMED


def test_missing_field_is_malformed_and_named(cert_path: Path, trusted_dir: Path) -> None:
    edit(cert_path, lambda d: d["model"].pop("hash"))
    result = verify(cert_path, trusted_dir)
    assert result.reason is FailureReason.MALFORMED
    assert "'model.hash'" in result.message


def test_wrong_format_string(cert_path: Path, trusted_dir: Path) -> None:
    edit(cert_path, lambda d: d.__setitem__("format", "x509"))
    assert verify(cert_path, trusted_dir).reason is FailureReason.UNKNOWN_FORMAT


def test_unsupported_version(cert_path: Path, trusted_dir: Path) -> None:
    edit(cert_path, lambda d: d.__setitem__("version", "99"))
    assert verify(cert_path, trusted_dir).reason is FailureReason.UNKNOWN_FORMAT


def test_unsupported_signature_algorithm(cert_path: Path, trusted_dir: Path) -> None:
    edit(cert_path, lambda d: d["signature"].__setitem__("algorithm", "SHA-256"))
    assert verify(cert_path, trusted_dir).reason is FailureReason.UNKNOWN_FORMAT


# --- signing refuses what does not hold ------------------------------------------------------


def test_signing_refuses_a_failing_property(
    package: ModelPackage, signing_key: Ed25519PrivateKey
) -> None:
    with pytest.raises(
        PropertyViolation, match=r"bounded_output failed \(outputs in \[.*\], required \[0, 0.1\]\)"
    ):
        sign(package, signing_key, properties=[parse_property("bounded_output(low=0, high=0.1)")])


def test_signing_refuses_properties_without_data(
    package: ModelPackage, signing_key: Ed25519PrivateKey
) -> None:
    with pytest.raises(CertificateError, match="pass data"):
        sign(package, signing_key, data=None)


def test_signing_refuses_data_that_does_not_fit(
    package: ModelPackage, signing_key: Ed25519PrivateKey
) -> None:
    with pytest.raises(
        CertificateError,
        match=r"property data does not fit the model: input\[0\]\[0\]: value 5.1\d* is outside "
        r"the model's input range \[0, 1\]",
    ):
        sign(package, signing_key, data=DATA + 5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no_nan", PropertySpec("no_nan", {})),
        ("bounded_output(-1, 2.5)", PropertySpec("bounded_output", {"low": -1.0, "high": 2.5})),
        (
            "bounded_output(high=1, low=0)",
            PropertySpec("bounded_output", {"low": 0.0, "high": 1.0}),
        ),
        ("valid_probabilities(1e-3)", PropertySpec("valid_probabilities", {"tolerance": 0.001})),
    ],
)
def test_property_syntax(text: str, expected: PropertySpec) -> None:
    assert parse_property(text) == expected


@pytest.mark.parametrize(
    "text",
    ["accuracy", "bounded_output", "bounded_output(1, 0)", "no_nan(3)", "bounded_output(a, b)"],
)
def test_bad_property_syntax_is_refused(text: str) -> None:
    with pytest.raises(CertificateError, match="property"):
        parse_property(text)


# --- trusted keys ------------------------------------------------------------------------------


def test_mounted_secret_directory_skips_kubelet_dot_entries(
    tmp_path: Path, signing_key: Ed25519PrivateKey
) -> None:
    # What kubelet writes for a Secret volume: a timestamped dir, ..data -> it, and symlinks.
    mount = tmp_path / "mount"
    stamped = mount / "..2026_01_01_00_00_00.123456789"
    stamped.mkdir(parents=True)
    (stamped / KEY_ID).write_bytes(public_key_pem(signing_key.public_key()))
    os.symlink(stamped.name, mount / "..data")
    os.symlink(f"..data/{KEY_ID}", mount / KEY_ID)
    keys = load_trusted_keys(mount)
    assert list(keys) == [KEY_ID]


def test_key_file_with_base64_and_pem_entries(
    tmp_path: Path, signing_key: Ed25519PrivateKey, other_key: Ed25519PrivateKey
) -> None:
    raw = base64.b64encode(raw_public_bytes(signing_key.public_key())).decode()
    pem = public_key_pem(other_key.public_key()).decode()
    indented = "".join(f"  {line}\n" for line in pem.splitlines())
    path = tmp_path / "keys.yaml"
    path.write_text(f"team-a: {raw}\nteam-b: |\n{indented}")
    keys = load_trusted_keys(path)
    assert raw_public_bytes(keys["team-a"]) == raw_public_bytes(signing_key.public_key())
    assert raw_public_bytes(keys["team-b"]) == raw_public_bytes(other_key.public_key())


def test_parse_trusted_keys_from_secret_data(signing_key: Ed25519PrivateKey) -> None:
    keys = parse_trusted_keys({KEY_ID: public_key_pem(signing_key.public_key())})
    assert KEY_ID in keys


def test_a_bad_key_entry_names_its_key_id() -> None:
    with pytest.raises(
        CertificateError, match=r"trusted key 'team-a': a raw Ed25519 public key is 32 bytes, got 3"
    ):
        parse_trusted_keys({"team-a": "YWJj"})


def test_empty_trusted_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="no trusted keys found"):
        load_trusted_keys(tmp_path)


def test_default_key_id_is_the_public_key_fingerprint(
    package: ModelPackage, signing_key: Ed25519PrivateKey
) -> None:
    document = sign(package, signing_key, key_id=None)
    assert document["signature"]["key_id"] == key_id_for(signing_key.public_key())
    assert document["signature"]["key_id"].startswith("ed25519-")


def test_every_named_property_has_a_checker() -> None:
    from axiom_runtime.certificate.properties import PARAMETERS
    from axiom_runtime.certificate.signing import CHECKERS

    assert sorted(PARAMETERS) == sorted(CHECKERS)
