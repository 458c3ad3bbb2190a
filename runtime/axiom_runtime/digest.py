"""A package's identity: the SHA-256 of its bytes.

Apart from :mod:`axiom_runtime.package` because checking a certificate against a package file
needs the digest and nothing else: no zip reading, no numpy.
"""

from __future__ import annotations

import hashlib
import os

_READ_CHUNK = 1024 * 1024


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_READ_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
