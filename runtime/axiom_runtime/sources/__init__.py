"""Where a model package comes from: one door for every URI scheme.

``fetch(uri, ...)`` turns a model URI into a local file and, for remote sources, the SHA-256
of its bytes, computed while they streamed to a private file (so a 200 MB package is read
from the network once, hashed once, and never held whole in memory). Each scheme is a small
module with one ``async fetch`` that writes through :class:`~.sink.HashingSink`:

- a path or ``file://`` (:mod:`.local`): a mounted volume, ConfigMap or PVC; hashed when loaded,
- ``http://`` / ``https://`` (:mod:`.http`),
- ``s3://bucket/key`` (:mod:`.s3`): any S3-compatible endpoint, SigV4-signed GET,
- ``oci://registry/repository[:tag]@sha256:...`` (:mod:`.oci`): an OCI artifact, by digest.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from axiom_runtime.sources.base import FetchedPackage, FetchLimits, ModelSourceError, S3Settings

__all__ = [
    "SCHEMES",
    "FetchLimits",
    "FetchedPackage",
    "ModelSourceError",
    "S3Settings",
    "fetch",
    "scheme_of",
]

SCHEMES = ("file", "http", "https", "s3", "oci")


def scheme_of(uri: str) -> str:
    """The URI's scheme, ``file`` for a plain path; ModelSourceError for any other."""
    parsed = urllib.parse.urlparse(uri)
    scheme = parsed.scheme or "file"
    if scheme not in SCHEMES:
        raise ModelSourceError(
            f"model URI {uri!r}: scheme {parsed.scheme!r} is not supported "
            "(use a path, file://, http://, https://, s3://, oci://)"
        )
    return scheme


async def fetch(
    uri: str,
    directory: Path,
    limits: FetchLimits,
    *,
    s3: S3Settings | None = None,
    env: Mapping[str, str] | None = None,
) -> FetchedPackage:
    """The package at ``uri`` as a local file; remote bytes land in ``directory``."""
    scheme = scheme_of(uri)
    if scheme == "file":
        from axiom_runtime.sources import local

        return local.fetch(uri)
    target = directory / "model.axiom"
    if scheme in ("http", "https"):
        from axiom_runtime.sources import http

        return await http.fetch(uri, target, limits)
    if scheme == "oci":
        from axiom_runtime.sources import oci

        return await oci.fetch(uri, target, limits)
    from axiom_runtime.sources import s3 as s3_source

    return await s3_source.fetch(uri, target, limits, s3 or S3Settings.from_env(env))
