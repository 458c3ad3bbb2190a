"""A path or ``file://`` URI: a file in the pod (a volume, a ConfigMap, a PVC, the image)."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from axiom_runtime.sources.base import FetchedPackage, ModelSourceError


def local_path(uri: str) -> Path:
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ModelSourceError(f"model URI {uri!r}: file:// URIs must not name a host")
        return Path(urllib.parse.unquote(parsed.path))
    return Path(uri)


def fetch(uri: str) -> FetchedPackage:
    path = local_path(uri)
    if not path.is_file():
        raise ModelSourceError(f"model URI {uri!r}: no such file {path}")
    # Not hashed here: the loader hashes and reads the file through one open handle.
    return FetchedPackage(path, path.stat().st_size)
