"""Ed25519 keys: generation, key ids, and the trusted-key set read from a Secret or ConfigMap.

Trusted keys are meant to be mounted as-is. A mounted Secret or ConfigMap is a directory with
one file per key (the file name is the key id) next to kubelet's bookkeeping: ``..data``
symlinks and ``..2026_01_01_...`` directories, which are skipped because their names start
with a dot. The same data can also be one YAML file of ``key_id: key`` entries, or a mapping
already in memory (the operator reads the Secret through the API). A key is either a PEM
``PUBLIC KEY`` block or the raw 32-byte key in base64. Entries holding an EC public key or a
CA certificate are trust anchors of OMS bundles and are left to
:mod:`axiom_runtime.certificate.oms`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from axiom_runtime.errors import CertificateError

KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,252}$")
MAX_KEY_FILE_BYTES = 64 * 1024


class TrustedKeys(Mapping[str, Ed25519PublicKey]):
    """An immutable mapping from key id to the public key that verifies its signatures."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    def __getitem__(self, key_id: str) -> Ed25519PublicKey:
        return self._keys[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._keys))

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"TrustedKeys({sorted(self._keys)})"


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_for(public_key: Ed25519PublicKey) -> str:
    """A stable default key id: a fingerprint of the public key."""
    return "ed25519-" + hashlib.sha256(raw_public_bytes(public_key)).hexdigest()[:16]


def private_key_pem(private_key: Ed25519PrivateKey, *, comment: str = "") -> bytes:
    """PKCS#8 PEM, optionally preceded by ``#`` comment lines (PEM readers skip them)."""
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    return header.encode("utf-8") + pem


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Read an unencrypted Ed25519 private key in PEM."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CertificateError(
            f"cannot read private key {os.fspath(path)!r}: {exc.strerror}"
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertificateError(
            f"private key {os.fspath(path)!r}: not an unencrypted PEM key ({exc})"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CertificateError(f"private key {os.fspath(path)!r}: not an Ed25519 key")
    return key


def parse_public_key(value: str | bytes, *, where: str) -> Ed25519PublicKey:
    """A public key from PEM or from the raw 32 bytes in base64; ``where`` names it in errors."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    text = text.strip()
    if "-----BEGIN" in text:
        try:
            key = serialization.load_pem_public_key(text.encode("utf-8"))
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise CertificateError(f"{where}: not a readable PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise CertificateError(f"{where}: not an Ed25519 public key")
        return key
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateError(f"{where}: neither PEM nor base64") from None
    if len(raw) != 32:
        raise CertificateError(f"{where}: a raw Ed25519 public key is 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def _check_key_id(key_id: str, where: str) -> None:
    if not KEY_ID_PATTERN.match(key_id):
        raise CertificateError(f"{where}: key id {key_id!r} must match {KEY_ID_PATTERN.pattern}")


def parse_trusted_keys(entries: Mapping[str, str | bytes]) -> TrustedKeys:
    """Trusted keys from ``key_id -> key`` data already in memory (e.g. a Secret's data)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for key_id, value in entries.items():
        if key_id.startswith(".") or _is_oms_anchor(value):
            continue
        _check_key_id(key_id, "trusted keys")
        keys[key_id] = parse_public_key(value, where=f"trusted key {key_id!r}")
    return TrustedKeys(keys)


def _is_oms_anchor(value: str | bytes) -> bool:
    """An EC public key or a CA certificate: a trust anchor of OMS bundles
    (:mod:`axiom_runtime.certificate.oms`), kept in the same Secret and skipped here."""
    from axiom_runtime.certificate.oms import anchor_kind

    return anchor_kind(value.encode() if isinstance(value, str) else value) is not None


def _read_small(path: Path) -> bytes:
    if path.stat().st_size > MAX_KEY_FILE_BYTES:
        raise CertificateError(
            f"trusted key file {str(path)!r} is larger than {MAX_KEY_FILE_BYTES} bytes"
        )
    return path.read_bytes()


def load_trusted_keys(path: str | os.PathLike[str]) -> TrustedKeys:
    """Trusted keys from a directory (one file per key id) or from one YAML ``key_id: key`` file."""
    root = Path(path)
    try:
        if root.is_dir():
            entries = {
                entry.name: _read_small(entry)
                for entry in sorted(root.iterdir())
                if not entry.name.startswith(".") and entry.is_file()
            }
            source = f"directory {str(root)!r}"
        else:
            try:
                document = yaml.safe_load(_read_small(root))
            except yaml.YAMLError as exc:
                raise CertificateError(
                    f"trusted key file {str(root)!r}: not YAML ({exc})"
                ) from None
            if not isinstance(document, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in document.items()
            ):
                raise CertificateError(
                    f"trusted key file {str(root)!r}: expected lines of 'key_id: public key'"
                )
            entries = dict(document)
            source = f"file {str(root)!r}"
    except OSError as exc:
        raise CertificateError(f"cannot read trusted keys {str(root)!r}: {exc.strerror}") from None
    keys = parse_trusted_keys(entries)
    if not keys:
        raise CertificateError(f"no trusted keys found in {source}")
    return keys
