"""``oci://registry/repository[:tag]@sha256:<manifest digest>``: a package in an OCI registry.

Two forms, both written by ``axiom model push`` and both pulled by digest:

- **artifact** (the default; what ORAS makes of one file): an OCI image manifest with
  ``artifactType`` :data:`ARTIFACT_TYPE`, the empty config, and one layer, the package, of
  media type :data:`LAYER_MEDIA_TYPE`. A layer's digest is the SHA-256 of its bytes, so the
  layer digest *is* the package's identity.
- **image** (``--as-image``): a one-layer container image whose layer is an uncompressed tar
  holding ``model.axiom`` (:data:`IMAGE_MEMBER`), and an image config naming that layer's
  diff id. This is the form a kubelet can mount as an ``image`` volume (containerd unpacks
  only image layers); the runtime and the operator can also pull it themselves, reading the
  member out of the tar while it streams (gzip layers too).

Pulling by manifest digest, checking the manifest's own bytes against it, then the blob against
the layer digest while it streams, makes the registry a content-addressed store we need not
trust. Registries that require credentials are answered as :mod:`.registry_auth` describes
(Basic, or the Bearer token flow), with the ``.dockerconfigjson`` of an imagePullSecret.
Plain HTTP is used for loopback registries and when ``AXIOM_OCI_PLAIN_HTTP=true``; HTTPS
otherwise.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import os
import platform
import re
import tarfile
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from axiom_runtime.sources.base import FetchedPackage, FetchLimits, HashingSink, ModelSourceError
from axiom_runtime.sources.registry_auth import (
    RegistryCredentials,
    RegistrySession,
    credentials_from_env,
)

ARTIFACT_TYPE = "application/vnd.axiom.model.v1"
LAYER_MEDIA_TYPE = "application/vnd.axiom.package.v1+zip"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
IMAGE_CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
TAR_LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
TAR_LAYER_MEDIA_TYPES = {
    TAR_LAYER_MEDIA_TYPE: False,  # -> gzip-compressed?
    "application/vnd.oci.image.layer.v1.tar+gzip": True,
    "application/vnd.docker.image.rootfs.diff.tar": False,
    "application/vnd.docker.image.rootfs.diff.tar.gzip": True,
}
IMAGE_MEMBER = "model.axiom"
EMPTY_CONFIG = b"{}"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
CHUNK = 256 * 1024
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

    @property
    def image_reference(self) -> str:
        """How a pod's ``image`` volume names it: ``registry/repository@sha256:...``."""
        assert self.digest is not None
        return f"{self.registry}/{self.repository}@sha256:{self.digest}"


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


@dataclass(frozen=True)
class PackageLayer:
    """Where the package is in a manifest: its one layer, and whether that layer is the
    package itself (an artifact) or a tar holding it (an image; ``gzip`` if compressed)."""

    digest: str  # "sha256:<hex>"
    size: int
    form: str  # "artifact" | "image"
    gzip: bool = False

    @property
    def package_sha256(self) -> str | None:
        """The package's sha256 when the layer digest is it (artifacts), else None."""
        return self.digest.removeprefix("sha256:") if self.form == "artifact" else None


def package_layer(manifest_bytes: bytes, manifest_digest: str, uri: str) -> PackageLayer:
    """The package layer of a manifest whose bytes are checked against its digest here."""
    if hashlib.sha256(manifest_bytes).hexdigest() != manifest_digest:
        raise ModelSourceError(
            f"model URI {uri}: the registry's manifest does not match its digest"
        )
    try:
        manifest = json.loads(manifest_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelSourceError(f"model URI {uri}: manifest is not JSON ({error})") from None
    layers = [layer for layer in (manifest.get("layers") or []) if isinstance(layer, dict)]
    artifact = [layer for layer in layers if layer.get("mediaType") == LAYER_MEDIA_TYPE]
    images = [layer for layer in layers if layer.get("mediaType") in TAR_LAYER_MEDIA_TYPES]
    if len(artifact) == 1:
        chosen, form = artifact[0], "artifact"
    elif len(layers) == 1 and len(images) == 1:
        chosen, form = images[0], "image"
    else:
        raise ModelSourceError(
            f"model URI {uri}: not an axiom package (expected one layer of media type "
            f"{LAYER_MEDIA_TYPE}, or an image of one tar layer holding {IMAGE_MEMBER})"
        )
    digest = str(chosen.get("digest", ""))
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise ModelSourceError(f"model URI {uri}: the package layer has no sha256 digest")
    gzip = TAR_LAYER_MEDIA_TYPES.get(str(chosen.get("mediaType")), False)
    return PackageLayer(digest, int(chosen.get("size") or 0), form, gzip)


@dataclass(frozen=True)
class OciAccess:
    """How to reach a registry: credentials (None: anonymous until asked) and plain HTTP."""

    credentials: RegistryCredentials | None = None
    plain_http: bool = False

    @classmethod
    def from_env(cls, registry: str) -> OciAccess:
        """The pod's: ``AXIOM_OCI_DOCKER_CONFIG_JSON`` and ``AXIOM_OCI_PLAIN_HTTP``."""
        plain = os.environ.get("AXIOM_OCI_PLAIN_HTTP", "").lower() in ("1", "true", "yes")
        return cls(credentials_from_env(registry), plain)


def _base_url(reference: OciReference, access: OciAccess) -> str:
    host = reference.registry.rsplit(":", 1)[0]
    plain = access.plain_http or _is_loopback(host) or reference.base_url.startswith("http:")
    return f"{'http' if plain else 'https'}://{reference.registry}/v2/{reference.repository}"


class _Pull:
    """One pull from one registry: a session that answers auth challenges."""

    def __init__(
        self, reference: OciReference, access: OciAccess, timeout_s: float, scope: str = "pull"
    ) -> None:
        self.reference = reference
        self.base = _base_url(reference, access)
        self.timeout_s = timeout_s
        self._access = access
        self._scope = f"repository:{reference.repository}:{scope}"
        self._session: aiohttp.ClientSession | None = None
        self.registry: RegistrySession | None = None

    async def __aenter__(self) -> RegistrySession:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout)
        self.registry = RegistrySession(
            self._session, self.reference.registry, self._scope, self._access.credentials
        )
        return self.registry

    async def __aexit__(self, *exc: object) -> None:
        assert self._session is not None
        await self._session.close()


async def _manifest(registry: RegistrySession, base: str, digest: str, uri: str) -> bytes:
    accept = f"{MANIFEST_MEDIA_TYPE}, {DOCKER_MANIFEST_MEDIA_TYPE}"
    async with registry.request(
        "GET", f"{base}/manifests/sha256:{digest}", headers={"Accept": accept}
    ) as response:
        if response.status != 200:
            raise ModelSourceError(
                f"model URI {uri}: manifest: HTTP {response.status} {response.reason}"
            )
        body = await response.content.read(MAX_MANIFEST_BYTES + 1)
    if len(body) > MAX_MANIFEST_BYTES:
        raise ModelSourceError(f"model URI {uri}: manifest larger than {MAX_MANIFEST_BYTES} bytes")
    return body


class TarMember:
    """Feed a tar stream chunk by chunk; the data of the member named :data:`IMAGE_MEMBER`
    goes to ``out``. ustar, pax and GNU long names; every other member is skipped. Exactly one
    regular file of that name must be there (:meth:`close` says otherwise)."""

    def __init__(self, out: Callable[[bytes], None], uri: str) -> None:
        self._out = out
        self._uri = uri
        self._buffer = bytearray()
        self._remaining = 0  # data bytes of the current member still to come
        self._padding = 0
        self._target = False
        self._meta: bytearray | None = None  # collecting a pax/longname header's data
        self._meta_type = b""
        self._next_name: str | None = None
        self.found = 0
        self._ended = False

    def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            if self._ended:
                return
            if self._remaining:
                take = view[: self._remaining]
                if self._target:
                    self._out(bytes(take))
                elif self._meta is not None:
                    self._meta += take
                self._remaining -= len(take)
                view = view[len(take) :]
                if not self._remaining:
                    self._member_done()
                continue
            if self._padding:
                skip = min(self._padding, len(view))
                self._padding -= skip
                view = view[skip:]
                continue
            need = 512 - len(self._buffer)
            self._buffer += view[:need]
            view = view[need:]
            if len(self._buffer) == 512:
                block, self._buffer = bytes(self._buffer), bytearray()
                self._header(block)

    def _header(self, block: bytes) -> None:
        if block == b"\0" * 512:
            self._ended = True
            return
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.TarError as error:
            raise ModelSourceError(
                f"model URI {self._uri}: image layer: bad tar ({error})"
            ) from None
        name = self._next_name if self._next_name is not None else info.name
        self._next_name = None
        self._target, self._meta = False, None
        if info.type in (tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME):
            self._meta, self._meta_type = bytearray(), info.type
        elif info.type == tarfile.XGLTYPE:
            pass
        elif name.removeprefix("./") == IMAGE_MEMBER:
            if not info.isreg():
                raise ModelSourceError(
                    f"model URI {self._uri}: {IMAGE_MEMBER} in the image layer is not a file"
                )
            self.found += 1
            self._target = True
        self._remaining = info.size
        self._padding = -info.size % 512
        if not self._remaining:
            self._member_done()

    def _member_done(self) -> None:
        if self._meta is not None:
            data = bytes(self._meta)
            if self._meta_type == tarfile.GNUTYPE_LONGNAME:
                self._next_name = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
            else:
                for record in re.finditer(rb"(\d+) path=([^\n]*)\n", data):
                    self._next_name = record[2].decode("utf-8", "surrogateescape")
            self._meta = None
        self._target = False

    def close(self) -> None:
        if self.found != 1:
            raise ModelSourceError(
                f"model URI {self._uri}: the image layer holds {self.found} files named "
                f"{IMAGE_MEMBER} (expected exactly one)"
            )


async def stream_package(
    uri: str, target: Path | None, limits: FetchLimits, access: OciAccess | None = None
) -> tuple[str, int, PackageLayer]:
    """Pull the package of ``uri`` into ``target`` (None: hash only), hashed as it streams.

    Returns (package sha256, package size, layer). The blob is checked against its layer
    digest; for an image its ``model.axiom`` member is the package.
    """
    reference = OciReference.parse(uri)
    digest = _require_digest(reference, uri)
    access = access or OciAccess.from_env(reference.registry)
    pull = _Pull(reference, access, limits.timeout_s)
    try:
        async with pull as registry:
            layer = package_layer(await _manifest(registry, pull.base, digest, uri), digest, uri)
            blob_digest = hashlib.sha256()
            blob_size = 0
            # The blob may be a little larger than the package (a tar's headers and padding).
            blob_cap = limits.max_bytes + 1024 * 1024
            with HashingSink(target, uri, limits.max_bytes) as sink:
                sink.check_declared(layer.size if layer.form == "artifact" else None)
                if layer.size > blob_cap:
                    sink.check_declared(layer.size)
                member = TarMember(sink.write, uri) if layer.form == "image" else None
                inflate = zlib.decompressobj(wbits=31) if layer.gzip else None
                url = f"{pull.base}/blobs/{layer.digest}"
                async with registry.request("GET", url) as response:
                    if response.status != 200:
                        raise ModelSourceError(
                            f"model URI {uri}: blob: HTTP {response.status} {response.reason}"
                        )
                    async for chunk in response.content.iter_chunked(CHUNK):
                        blob_size += len(chunk)
                        if blob_size > blob_cap:
                            raise ModelSourceError(
                                f"model URI {uri}: more than the download cap of "
                                f"{limits.max_bytes} bytes"
                            )
                        blob_digest.update(chunk)
                        data = inflate.decompress(chunk, CHUNK * 8) if inflate else chunk
                        _deliver(data, member, sink)
                        while inflate is not None and inflate.unconsumed_tail:
                            _deliver(
                                inflate.decompress(inflate.unconsumed_tail, CHUNK * 8), member, sink
                            )
                if f"sha256:{blob_digest.hexdigest()}" != layer.digest:
                    raise ModelSourceError(
                        f"model URI {uri}: the blob does not match its layer digest"
                    )
                if member is not None:
                    member.close()
                return sink.sha256, sink.size, layer
    except TimeoutError:
        raise ModelSourceError(
            f"model URI {uri}: download did not finish in {limits.timeout_s:g} s"
        ) from None
    except (aiohttp.ClientError, zlib.error) as error:
        raise ModelSourceError(f"model URI {uri}: {type(error).__name__}: {error}") from None


def _deliver(data: bytes, member: TarMember | None, sink: HashingSink) -> None:
    if member is not None:
        member.feed(data)
    elif data:
        sink.write(data)


async def manifest_layer(
    uri: str, access: OciAccess | None = None, timeout_s: float = 30.0
) -> PackageLayer:
    """The package layer the artifact pinned by ``uri`` declares (no blob read)."""
    reference = OciReference.parse(uri)
    digest = _require_digest(reference, uri)
    access = access or OciAccess.from_env(reference.registry)
    pull = _Pull(reference, access, timeout_s)
    try:
        async with pull as registry:
            return package_layer(await _manifest(registry, pull.base, digest, uri), digest, uri)
    except TimeoutError:
        raise ModelSourceError(f"model URI {uri}: manifest not read in {timeout_s:g} s") from None
    except aiohttp.ClientError as error:
        raise ModelSourceError(f"model URI {uri}: {type(error).__name__}: {error}") from None


async def layer_digest(uri: str, timeout_s: float = 30.0, access: OciAccess | None = None) -> str:
    """The package's sha256 as an artifact's manifest declares it (no blob read)."""
    layer = await manifest_layer(uri, access, timeout_s)
    if layer.package_sha256 is None:
        raise ModelSourceError(f"model URI {uri}: an image: its package sha256 is in the blob")
    return layer.package_sha256


async def fetch(uri: str, target: Path, limits: FetchLimits) -> FetchedPackage:
    sha256, size, _ = await stream_package(uri, target, limits)
    return FetchedPackage(target, size, sha256)


# -- push (the CLI's ``axiom model push``) ----------------------------------------------------


def docker_platform() -> tuple[str, str]:
    """(os, architecture) of this machine as OCI names them (an image config needs one)."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    return "linux", arch


def _tar_header(size: int) -> bytes:
    info = tarfile.TarInfo(IMAGE_MEMBER)
    info.size, info.mode, info.mtime, info.uid, info.gid = size, 0o444, 0, 0, 0
    info.uname = info.gname = ""
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _tar_parts(path: Path) -> tuple[bytes, int, bytes]:
    """(header, package size, trailer: padding + two zero blocks) of the one-file tar."""
    size = path.stat().st_size
    return _tar_header(size), size, b"\0" * (-size % 512) + b"\0" * 1024


def image_layer_digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    """(sha256, size) of the tar layer ``--as-image`` writes for the package at ``path``
    (deterministic: one read-only file, owner 0, mtime 0)."""
    header, size, trailer = _tar_parts(Path(path))
    digest = hashlib.sha256(header)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    digest.update(trailer)
    return digest.hexdigest(), len(header) + size + len(trailer)


async def _tar_body(path: Path) -> AsyncIterator[bytes]:
    header, _, trailer = _tar_parts(path)
    yield header
    with open(path, "rb") as handle:  # noqa: ASYNC230 (the CLI's push: nothing else waits)
        while chunk := handle.read(1 << 20):
            yield chunk
    yield trailer


async def _push_blob(
    registry: RegistrySession, base: str, digest: str, size: int, body: Any
) -> None:
    async with registry.request("HEAD", f"{base}/blobs/sha256:{digest}") as exists:
        if exists.status == 200:
            return
    async with registry.request("POST", f"{base}/blobs/uploads/", data=b"") as started:
        if started.status != 202:
            raise ModelSourceError(f"POST {base}/blobs/uploads/: HTTP {started.status}")
        location = started.headers["Location"]
    if location.startswith("/"):
        location = base.split("/v2/", 1)[0] + location
    separator = "&" if "?" in location else "?"
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
    async with registry.request(
        "PUT", f"{location}{separator}digest=sha256:{digest}", data=body, headers=headers
    ) as done:
        if done.status != 201:
            raise ModelSourceError(f"PUT blob sha256:{digest}: HTTP {done.status}")


async def push_package_async(
    path: str | os.PathLike[str],
    uri: str,
    *,
    sha256: str,
    as_image: bool = False,
    access: OciAccess | None = None,
) -> str:
    reference = OciReference.parse(uri)
    if reference.tag is None or reference.digest is not None:
        raise ModelSourceError(f"{uri!r}: push to oci://<registry>/<repository>:<tag>")
    access = access or OciAccess.from_env(reference.registry)
    package = Path(path)
    package_size = os.path.getsize(package)  # noqa: ASYNC240
    pull = _Pull(reference, access, 3600, scope="pull,push")
    try:
        async with pull as registry:
            base = pull.base
            if as_image:
                layer_sha, layer_size = await asyncio.to_thread(image_layer_digest, package)
                await _push_blob(registry, base, layer_sha, layer_size, _tar_body(package))
                os_name, arch = docker_platform()
                config = json.dumps(
                    {
                        "architecture": arch,
                        "os": os_name,
                        "config": {"Labels": {"dev.axiom.package.sha256": sha256}},
                        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_sha}"]},
                    },
                    separators=(",", ":"),
                    sort_keys=True,
                ).encode()
                config_type = IMAGE_CONFIG_MEDIA_TYPE
                layer = {
                    "mediaType": TAR_LAYER_MEDIA_TYPE,
                    "digest": f"sha256:{layer_sha}",
                    "size": layer_size,
                }
            else:
                # Streamed by aiohttp, never read whole; the CLI's push: nothing else waits.
                with open(package, "rb") as handle:  # noqa: ASYNC230
                    await _push_blob(registry, base, sha256, package_size, handle)
                config, config_type = EMPTY_CONFIG, EMPTY_MEDIA_TYPE
                layer = {
                    "mediaType": LAYER_MEDIA_TYPE,
                    "digest": f"sha256:{sha256}",
                    "size": package_size,
                    "annotations": {"org.opencontainers.image.title": package.name},
                }
            config_sha = hashlib.sha256(config).hexdigest()
            await _push_blob(registry, base, config_sha, len(config), config)
            manifest: dict[str, Any] = {
                "schemaVersion": 2,
                "mediaType": MANIFEST_MEDIA_TYPE,
                "config": {
                    "mediaType": config_type,
                    "digest": f"sha256:{config_sha}",
                    "size": len(config),
                },
                "layers": [layer],
            }
            if not as_image:
                manifest["artifactType"] = ARTIFACT_TYPE
            body = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
            async with registry.request(
                "PUT",
                f"{base}/manifests/{reference.tag}",
                data=body,
                headers={"Content-Type": MANIFEST_MEDIA_TYPE},
            ) as put:
                if put.status != 201:
                    raise ModelSourceError(f"PUT manifest {reference.tag}: HTTP {put.status}")
    except aiohttp.ClientError as error:
        raise ModelSourceError(f"push {uri}: {type(error).__name__}: {error}") from None
    return reference.pinned(hashlib.sha256(body).hexdigest())


def push_package(
    path: str | os.PathLike[str],
    uri: str,
    *,
    sha256: str,
    as_image: bool = False,
    access: OciAccess | None = None,
) -> str:
    """Upload the package at ``path`` tagged by ``uri`` (an artifact, or with ``as_image`` a
    one-layer image an ``image`` volume can mount); returns the URI pinned by digest."""
    return asyncio.run(
        push_package_async(path, uri, sha256=sha256, as_image=as_image, access=access)
    )
