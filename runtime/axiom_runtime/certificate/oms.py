"""OpenSSF Model Signing (OMS) bundles: signed with, and verified through, ``model-signing``.

An OMS bundle is a Sigstore bundle whose DSSE envelope signs an in-toto statement listing
each file of the model with its digest. An ``.axiom`` package is one file, so its bundle
lists one resource whose sha256 is the package's identity: verifying a bundle here means
(1) the library checks the DSSE signature offline, against a trusted ECDSA public key
(P-256/384/521) or a certificate chain that ends at a trusted CA root, and hands back the
signed manifest; (2) we check that the manifest is the file serialization with sha256, of
exactly one file, whose digest is the package's SHA-256.

Step 2 is ours rather than the library's ``verify(model_path, ...)`` so that the operator,
which holds a package's *hash* (streamed from S3, http or a ConfigMap) but never the file,
and the runtime, which hashed the file while downloading it, need not hash it again. That
uses the library's verifier classes (``model_signing._signing``) directly: pinned to one
version in runtime/pyproject.toml, and the interop tests run the ``model_signing`` command
on both sides, so a change there fails here first.

Trust anchors live in the same trusted-keys Secret as the Ed25519 keys: an entry holding a
PEM EC ``PUBLIC KEY`` or a PEM ``CERTIFICATE`` is an OMS anchor, every other entry an
Ed25519 key for property certificates (:mod:`axiom_runtime.keys`).
"""

from __future__ import annotations

import enum
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

BUNDLE_MEDIA_TYPE_PREFIX = "application/vnd.dev.sigstore.bundle"
MAX_BUNDLE_BYTES = 1024 * 1024


class OmsReason(enum.StrEnum):
    VALID = "Valid"
    MALFORMED = "OmsMalformed"  # not a Sigstore bundle with a DSSE envelope
    UNKNOWN_KEY = "OmsUnknownKey"  # no trusted key or CA root in the Secret signed it
    BAD_SIGNATURE = "OmsBadSignature"  # a trusted anchor, but the signature does not verify
    UNSUPPORTED = "OmsUnsupported"  # not one file hashed with sha256 (shards, blake3, a dir)
    HASH_MISMATCH = "OmsHashMismatch"  # signed, but for other bytes than this package


@dataclass(frozen=True)
class OmsVerdict:
    reason: OmsReason
    message: str
    signer: str | None = None  # the key id or the certificate subject that signed

    @property
    def ok(self) -> bool:
        return self.reason is OmsReason.VALID


@dataclass(frozen=True)
class OmsTrust:
    """The OMS trust anchors of a trusted-keys Secret: EC public keys and CA certificates
    (PEM), by entry name."""

    public_keys: Mapping[str, bytes] = field(default_factory=dict)
    ca_certificates: Mapping[str, bytes] = field(default_factory=dict)

    @classmethod
    def from_entries(cls, entries: Mapping[str, str | bytes]) -> OmsTrust:
        keys: dict[str, bytes] = {}
        roots: dict[str, bytes] = {}
        for name, value in entries.items():
            if name.startswith("."):
                continue
            data = value.encode() if isinstance(value, str) else value
            kind = anchor_kind(data)
            if kind == "key":
                keys[name] = data
            elif kind == "certificate":
                roots[name] = data
        return cls(keys, roots)

    @classmethod
    def from_directory(cls, path: str | Path) -> OmsTrust:
        root = Path(path)
        entries = {
            entry.name: entry.read_bytes()
            for entry in sorted(root.iterdir())
            if not entry.name.startswith(".") and entry.is_file()
        }
        return cls.from_entries(entries)


def anchor_kind(data: bytes) -> str | None:
    """``key`` (a PEM EC public key), ``certificate`` (PEM X.509) or None (anything else)."""
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            x509.load_pem_x509_certificates(data)
        except ValueError:
            return None
        return "certificate"
    if b"-----BEGIN PUBLIC KEY-----" in data:
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm):
            return None
        return "key" if isinstance(key, ec.EllipticCurvePublicKey) else None
    return None


def _bundle_shape(bundle: bytes) -> tuple[dict[str, Any] | None, str]:
    if len(bundle) > MAX_BUNDLE_BYTES:
        return None, f"larger than {MAX_BUNDLE_BYTES} bytes"
    try:
        document = json.loads(bundle)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"not JSON ({error})"
    if not isinstance(document, dict) or not str(document.get("mediaType", "")).startswith(
        BUNDLE_MEDIA_TYPE_PREFIX
    ):
        return None, f"not a Sigstore bundle (mediaType {BUNDLE_MEDIA_TYPE_PREFIX}+json...)"
    if not isinstance(document.get("dsseEnvelope"), dict):
        return None, "the bundle has no DSSE envelope"
    return document, ""


def verify_oms_bundle(bundle: bytes, trust: OmsTrust, *, package_sha256: str) -> OmsVerdict:
    """Check an OMS bundle offline against ``trust`` and the package's SHA-256; never raises."""
    document, problem = _bundle_shape(bundle)
    if document is None:
        return OmsVerdict(OmsReason.MALFORMED, f"OMS bundle: {problem}")
    material = document.get("verificationMaterial") or {}
    by_certificate = "publicKey" not in material
    with tempfile.TemporaryDirectory(prefix="axiom-oms-") as scratch:
        directory = Path(scratch)
        bundle_path = directory / "bundle.sig"
        bundle_path.write_bytes(bundle)
        if by_certificate:
            verdict = _verify_with_roots(bundle_path, trust, directory)
        else:
            hint = str((material.get("publicKey") or {}).get("hint", ""))
            verdict = _verify_with_keys(bundle_path, trust, directory, hint)
    if isinstance(verdict, OmsVerdict):
        return verdict
    manifest, signer = verdict
    return _check_manifest(manifest, package_sha256, signer)


def _read_signature(bundle_path: Path) -> Any:
    from model_signing._signing import sign_sigstore_pb

    return sign_sigstore_pb.Signature.read(bundle_path)


def _key_hint(pem: bytes) -> str:
    import hashlib

    key = serialization.load_pem_public_key(pem)
    canonical = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(canonical).hexdigest()


def _verify_with_keys(
    bundle_path: Path, trust: OmsTrust, directory: Path, hint: str
) -> OmsVerdict | tuple[Any, str]:
    from model_signing._signing import sign_ec_key

    if not trust.public_keys:
        return OmsVerdict(
            OmsReason.UNKNOWN_KEY,
            "OMS bundle signed by a key, but the trusted keys hold no EC (P-256/384/521) public key",
        )
    candidates = [
        (name, pem)
        for name, pem in sorted(trust.public_keys.items())
        if not hint or _key_hint(pem) == hint
    ]
    if not candidates:
        return OmsVerdict(
            OmsReason.UNKNOWN_KEY,
            f"OMS bundle signed by key {hint[:16]}..., which no trusted EC public key is",
        )
    try:
        signature = _read_signature(bundle_path)
    except Exception as error:  # the library raises many kinds on bad input
        return OmsVerdict(OmsReason.MALFORMED, f"OMS bundle: {type(error).__name__}: {error}")
    failures: list[str] = []
    for name, pem in candidates:
        key_path = directory / f"key-{len(failures)}.pem"
        key_path.write_bytes(pem)
        try:
            manifest = sign_ec_key.Verifier(key_path).verify(signature)
        except Exception as error:
            failures.append(f"{name}: {type(error).__name__} {error}".strip())
            continue
        return manifest, name
    return OmsVerdict(
        OmsReason.BAD_SIGNATURE, f"OMS bundle signature does not verify ({'; '.join(failures)})"
    )


def _verify_with_roots(
    bundle_path: Path, trust: OmsTrust, directory: Path
) -> OmsVerdict | tuple[Any, str]:
    from model_signing._signing import sign_certificate

    if not trust.ca_certificates:
        # Never let the library fall back to the system's CA bundle: only our roots count.
        return OmsVerdict(
            OmsReason.UNKNOWN_KEY,
            "OMS bundle signed with a certificate, but the trusted keys hold no CA certificate",
        )
    roots = directory / "roots.pem"
    roots.write_bytes(
        b"\n".join(trust.ca_certificates[name] for name in sorted(trust.ca_certificates))
    )
    try:
        signature = _read_signature(bundle_path)
    except Exception as error:
        return OmsVerdict(OmsReason.MALFORMED, f"OMS bundle: {type(error).__name__}: {error}")
    try:
        manifest = sign_certificate.Verifier([roots]).verify(signature)
    except Exception as error:
        text = f"{type(error).__name__}: {error}"
        reason = OmsReason.BAD_SIGNATURE if "InvalidSignature" in text else OmsReason.UNKNOWN_KEY
        return OmsVerdict(reason, f"OMS bundle certificate chain or signature rejected ({text})")
    return manifest, _leaf_subject(signature)


def _leaf_subject(signature: Any) -> str:
    try:
        material = signature.bundle.verification_material
        chain = material.x509_certificate_chain.certificates
        raw = chain[0].raw_bytes if chain else material.certificate.raw_bytes
        return x509.load_der_x509_certificate(raw).subject.rfc4514_string()
    except Exception:  # the subject only names the signer in messages
        return "certificate"


def _check_manifest(manifest: Any, package_sha256: str, signer: str) -> OmsVerdict:
    serialization_type = dict(manifest.serialization_type)
    method, hash_type = serialization_type.get("method"), serialization_type.get("hash_type")
    descriptors = list(manifest.resource_descriptors())
    if method != "files" or hash_type != "sha256" or len(descriptors) != 1:
        return OmsVerdict(
            OmsReason.UNSUPPORTED,
            f"OMS bundle lists {len(descriptors)} resource(s) by {method}/{hash_type}: sign the "
            ".axiom package file itself with file serialization and sha256 (the defaults)",
            signer,
        )
    signed = descriptors[0].digest.digest_hex
    if signed != package_sha256:
        return OmsVerdict(
            OmsReason.HASH_MISMATCH,
            f"OMS bundle signs sha256 {signed}, not this package's {package_sha256}",
            signer,
        )
    return OmsVerdict(OmsReason.VALID, f"OMS bundle signed by {signer}", signer)


def sign_oms_bundle(
    package: str | Path,
    bundle: str | Path,
    *,
    private_key: str | Path,
    signing_certificate: str | Path | None = None,
    certificate_chain: tuple[str | Path, ...] = (),
) -> None:
    """Write an OMS bundle for the package file: signed with an EC private key (PEM), and
    with ``signing_certificate`` (and its chain) as a certificate-based bundle."""
    from model_signing import hashing, signing

    config = signing.Config().set_hashing_config(  # type: ignore[no-untyped-call]
        hashing.Config().use_file_serialization(hashing_algorithm="sha256")  # type: ignore[no-untyped-call]
    )
    if signing_certificate is None:
        config = config.use_elliptic_key_signer(private_key=Path(private_key))
    else:
        config = config.use_certificate_signer(
            private_key=Path(private_key),
            signing_certificate=Path(signing_certificate),
            certificate_chain=[Path(c) for c in certificate_chain],
        )
    config.sign(Path(package), Path(bundle))
