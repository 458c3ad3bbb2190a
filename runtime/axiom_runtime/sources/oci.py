"""``oci://registry/repository[:tag]@sha256:<manifest digest>``: a package as an OCI artifact.

The artifact is what ORAS makes of one file: an OCI image manifest with ``artifactType``
:data:`ARTIFACT_TYPE`, the empty config, and one layer, the package, of media type
:data:`LAYER_MEDIA_TYPE`. A layer's digest is the SHA-256 of its bytes, so the layer digest
*is* the package's identity: pulling by manifest digest, checking the manifest's own bytes
against it, and then the blob against the layer digest while it streams, makes the registry
a content-addressed store we need not trust. The operator checks the same chain without the
blob: manifest by digest -> layer digest == ``spec.model.sha256`` (:func:`layer_digest`).

Only anonymous access (pull; push for ``axiom model push``) is spoken: registries that
require a token are not supported yet (docs/model-sources.md). Plain HTTP is used for
loopback registries and when ``AXIOM_OCI_PLAIN_HTTP=true``; HTTPS otherwise.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from axiom_runtime.sources.base import FetchedPackage, FetchLimits, ModelSourceError
from axiom_runtime.sources.http import stream_get

ARTIFACT_TYPE = "application/vnd.axiom.model.v1"
LAYER_MEDIA_TYPE = "application/vnd.axiom.package.v1+zip"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_REFERENCE = re.compile(
    r"^oci://(?P<registry>[A-Za-z0-9.-]+(:[0-9]{1,5})?)/"
    r"(?P<repository>[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(@sha256:(?P<digest>[0-9a-f]{64}))?$"
)


@dataclass(frozen=True)
class OciReference:
    registry: str
    repository: str
    tag: str | None
    digest: str | None  # hex, without "sha256:"

    @classmethod
    def parse(cls, uri: str) -> OciReference:
        match = _REFERENCE.match(uri)
        if match is None:
            raise ModelSourceError(
                f"model URI {uri!r}: expected oci://<registry>/<repository>[:<tag>]@sha256:<digest>"
            )
        return cls(match["registry"], match["repository"], match["tag"], match["digest"])

    @property
    def base_url(self) -> str:
        host = self.registry.rsplit(":", 1)[0] if self.registry.count(":") == 1 else self.registry
        plain = os.environ.get("AXIOM_OCI_PLAIN_HTTP", "").lower() in ("1", "true", "yes")
        return f"{'http' if plain or _is_loopback(host) else 'https'}://{self.registry}/v2/{self.repository}"

    def pinned(self, digest: str) -> str:
        tag = f":{self.tag}" if self.tag else ""
        return f"oci://{self.registry}/{self.repository}{tag}@sha256:{digest}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _require_digest(reference: OciReference, uri: str) -> str:
    if reference.digest is None:
        raise ModelSourceError(
            f"model URI {uri!r}: pull by digest: add @sha256:<manifest digest> "
            "(axiom model push prints it)"
        )
    return reference.digest


def package_layer(manifest_bytes: bytes, manifest_digest: str, uri: str) -> dict[str, Any]:
    """The package layer of a manifest whose bytes were checked against its digest."""
    if hashlib.sha256(manifest_bytes).hexdigest() != manifest_digest:
        raise ModelSourceError(
            f"model URI {uri}: the registry's manifest does not match its digest"
        )
    try:
        manifest = json.loads(manifest_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelSourceError(f"model URI {uri}: manifest is not JSON ({error})") from None
    layers = [
        layer
        for layer in (manifest.get("layers") or [])
        if isinstance(layer, dict) and layer.get("mediaType") == LAYER_MEDIA_TYPE
    ]
    if len(layers) != 1 or not str(layers[0].get("digest", "")).startswith("sha256:"):
        raise ModelSourceError(
            f"model URI {uri}: not an axiom package artifact (expected one layer of media type "
            f"{LAYER_MEDIA_TYPE})"
        )
    return layers[0]


async def _manifest(reference: OciReference, digest: str, uri: str, timeout_s: float) -> bytes:
    url = f"{reference.base_url}/manifests/sha256:{digest}"
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers={"Accept": MANIFEST_MEDIA_TYPE}) as response,
        ):
            if response.status != 200:
                raise ModelSourceError(
                    f"model URI {uri}: manifest: HTTP {response.status} {response.reason}"
                )
            body = await response.content.read(MAX_MANIFEST_BYTES + 1)
    except TimeoutError:
        raise ModelSourceError(f"model URI {uri}: manifest not read in {timeout_s:g} s") from None
    except aiohttp.ClientError as error:
        raise ModelSourceError(f"model URI {uri}: {type(error).__name__}: {error}") from None
    if len(body) > MAX_MANIFEST_BYTES:
        raise ModelSourceError(f"model URI {uri}: manifest larger than {MAX_MANIFEST_BYTES} bytes")
    return body


async def layer_digest(uri: str, timeout_s: float = 30.0) -> str:
    """The package's sha256 as the artifact pinned by ``uri`` declares it (no blob read)."""
    reference = OciReference.parse(uri)
    digest = _require_digest(reference, uri)
    layer = package_layer(await _manifest(reference, digest, uri, timeout_s), digest, uri)
    return str(layer["digest"]).removeprefix("sha256:")


async def fetch(uri: str, target: Path, limits: FetchLimits) -> FetchedPackage:
    reference = OciReference.parse(uri)
    digest = _require_digest(reference, uri)
    layer = package_layer(await _manifest(reference, digest, uri, limits.timeout_s), digest, uri)
    blob = f"{reference.base_url}/blobs/{layer['digest']}"
    fetched = await stream_get(blob, target, limits, shown_as=uri)
    if f"sha256:{fetched.sha256}" != layer["digest"]:  # the caller removes the directory
        raise ModelSourceError(f"model URI {uri}: the blob does not match its layer digest")
    return fetched


# -- push (the CLI's ``axiom model push``; synchronous, standard library only) --------------

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _request(method: str, url: str, **kwargs: Any) -> Any:
    request = urllib.request.Request(url, method=method, **kwargs)
    try:
        return _NO_PROXY.open(request, timeout=600)
    except urllib.error.HTTPError as error:
        detail = error.read(2048).decode("utf-8", "replace")
        raise ModelSourceError(f"{method} {url}: HTTP {error.code} {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        raise ModelSourceError(f"{method} {url}: {error}") from None


def _push_blob(base: str, digest: str, size: int, body: Any) -> None:
    with _request("POST", f"{base}/blobs/uploads/", data=b"") as started:
        location = started.headers["Location"]
    if location.startswith("/"):
        location = base.split("/v2/", 1)[0] + location
    separator = "&" if "?" in location else "?"
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
    with _request(
        "PUT", f"{location}{separator}digest=sha256:{digest}", data=body, headers=headers
    ):
        pass


def push_package(path: str | os.PathLike[str], uri: str, *, sha256: str) -> str:
    """Upload the package at ``path`` as an OCI artifact tagged by ``uri``; the pinned URI."""
    reference = OciReference.parse(uri)
    if reference.tag is None or reference.digest is not None:
        raise ModelSourceError(f"{uri!r}: push to oci://<registry>/<repository>:<tag>")
    base = reference.base_url
    size = Path(path).stat().st_size
    with open(path, "rb") as handle:  # streamed by http.client in blocks, never read whole
        _push_blob(base, sha256, size, handle)
    empty = hashlib.sha256(EMPTY_CONFIG).hexdigest()
    _push_blob(base, empty, len(EMPTY_CONFIG), EMPTY_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": f"sha256:{empty}", "size": 2},
        "layers": [
            {
                "mediaType": LAYER_MEDIA_TYPE,
                "digest": f"sha256:{sha256}",
                "size": size,
                "annotations": {"org.opencontainers.image.title": Path(path).name},
            }
        ],
    }
    body = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
    with _request(
        "PUT",
        f"{base}/manifests/{reference.tag}",
        data=body,
        headers={"Content-Type": MANIFEST_MEDIA_TYPE},
    ):
        pass
    return reference.pinned(hashlib.sha256(body).hexdigest())
