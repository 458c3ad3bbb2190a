"""A package's identity: the SHA-256 of its bytes.

Apart from :mod:`axiom_runtime.package` because checking a certificate against a package file
needs the digest and nothing else: no zip reading, no numpy.
"""

from __future__ import annotations

import hashlib
import os
from typing import IO

_READ_CHUNK = 1024 * 1024


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as handle:
        return sha256_stream(handle)


def sha256_stream(handle: IO[bytes]) -> str:
    """SHA-256 of what is left in ``handle``, read in 1 MiB chunks (never whole)."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(_READ_CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()
