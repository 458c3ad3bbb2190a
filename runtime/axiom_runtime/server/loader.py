"""Startup: fetch the package, check its hash and certificate, and say whether we may serve.

The server never serves a model it was told to verify and could not: any failure here ends
in a :class:`Readiness` that is not ready, with one line a person can act on (it is logged
once and shown by ``/ready``). With the ``audit`` policy a certificate failure is reported
but the model serves. A missing or broken *package* is never served, whatever the policy.

Sources: a local path or ``file://`` URI (a mounted ConfigMap or volume is a file), or
``http(s)://``, downloaded once into a private temp dir with a size cap and a timeout.
"""

from __future__ import annotations

import asyncio
import enum
import os
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from axiom_runtime.errors import AxiomError
from axiom_runtime.package import ModelPackage, load_package
from axiom_runtime.server.config import CertificatePolicy, ServerConfig

_DOWNLOAD_CHUNK = 256 * 1024


class ModelSourceError(AxiomError, OSError):
    """The model URI cannot be fetched (bad scheme, HTTP error, too large, timeout)."""


class Phase(enum.StrEnum):
    LOADING = "Loading"
    READY = "Ready"
    LOAD_FAILED = "LoadFailed"  # package missing, corrupt, wrong hash or version
    CERTIFICATE_REJECTED = "CertificateRejected"  # policy enforce and verification failed
    SHUTTING_DOWN = "ShuttingDown"


@dataclass(frozen=True)
class CertificateState:
    """What certificate verification found. ``status`` is a FailureReason value or one of
    ``NotConfigured`` (no certificate, none required), ``Missing`` (required, not given),
    ``Unreadable`` (file or trusted keys could not be read), ``Pending`` (not checked yet)."""

    status: str
    ok: bool
    message: str
    policy: CertificatePolicy | None
    issuer: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "valid": self.ok,
            "policy": None if self.policy is None else self.policy.value,
            "message": self.message,
            "issuer": self.issuer,
        }


@dataclass
class Readiness:
    """Mutable readiness of the server, read by /ready, /v2/health/ready and metrics."""

    phase: Phase = Phase.LOADING
    reason: str = "loading the model"
    certificate: CertificateState = field(
        default_factory=lambda: CertificateState("Pending", False, "not checked yet", None)
    )
    package: ModelPackage | None = None

    @property
    def ready(self) -> bool:
        return self.phase is Phase.READY


@dataclass(frozen=True)
class LoadOutcome:
    package: ModelPackage | None
    certificate: CertificateState
    failure: str | None  # one line; None when the package loaded and may serve
    phase: Phase


# -- fetching ---------------------------------------------------------------------------


def local_path(uri: str) -> Path | None:
    """The filesystem path a path or ``file://`` URI names; None for remote URIs."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ModelSourceError(f"model URI {uri!r}: file:// URIs must not name a host")
        return Path(urllib.parse.unquote(parsed.path))
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(uri)
    raise ModelSourceError(
        f"model URI {uri!r}: scheme {parsed.scheme!r} is not supported (use a path, file://, http://, https://)"
    )


async def download(uri: str, directory: Path, *, max_bytes: int, timeout_s: float) -> Path:
    """Stream ``uri`` into ``directory``; refuse more than ``max_bytes`` or ``timeout_s`` in total."""
    target = directory / "model.axiom"
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    received = 0
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(uri) as response,
        ):
            if response.status != 200:
                raise ModelSourceError(f"model URI {uri}: HTTP {response.status} {response.reason}")
            declared = response.content_length
            if declared is not None and declared > max_bytes:
                raise ModelSourceError(
                    f"model URI {uri}: {declared} bytes exceeds the download cap of {max_bytes}"
                )
            with target.open("wb") as handle:
                async for chunk in response.content.iter_chunked(_DOWNLOAD_CHUNK):
                    received += len(chunk)
                    if received > max_bytes:
                        raise ModelSourceError(
                            f"model URI {uri}: more than the download cap of {max_bytes} bytes"
                        )
                    handle.write(chunk)
    except TimeoutError:
        raise ModelSourceError(
            f"model URI {uri}: download did not finish in {timeout_s:g} s"
        ) from None
    except aiohttp.ClientError as error:
        raise ModelSourceError(f"model URI {uri}: {type(error).__name__}: {error}") from None
    return target


class ModelSource:
    """Resolves the model URI to a local file; owns (and removes) the download directory."""

    def __init__(self, config: ServerConfig) -> None:
        self._config = config
        self._directory: Path | None = None

    async def fetch(self) -> Path:
        path = local_path(self._config.model_uri)
        if path is not None:
            if not path.is_file():
                raise ModelSourceError(f"model URI {self._config.model_uri!r}: no such file {path}")
            return path
        self._directory = Path(tempfile.mkdtemp(prefix="axiom-model-"))
        return await download(
            self._config.model_uri,
            self._directory,
            max_bytes=self._config.max_download_bytes,
            timeout_s=self._config.download_timeout_s,
        )

    def cleanup(self) -> None:
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None


# -- verifying --------------------------------------------------------------------------


def verify(package: ModelPackage, config: ServerConfig) -> CertificateState:
    """Check the certificate against the trusted keys; never raises."""
    policy = config.effective_policy
    if config.certificate is None:
        if policy is None:
            return CertificateState("NotConfigured", False, "no certificate configured", None)
        return CertificateState(
            "Missing",
            False,
            f"certificate policy is {policy.value} but no certificate was given",
            policy,
        )
    # Imported here: the certificate module pulls in cryptography, which only this path needs.
    from axiom_runtime.certificate import load_trusted_keys, verify_certificate

    try:
        certificate = Path(config.certificate).read_bytes()
    except OSError as error:
        return CertificateState(
            "Unreadable",
            False,
            f"cannot read certificate {config.certificate}: {error.strerror}",
            policy,
        )
    if config.trusted_keys is None:
        return CertificateState(
            "Unreadable",
            False,
            "a certificate was given but no trusted keys (--trusted-keys)",
            policy,
        )
    try:
        keys = load_trusted_keys(config.trusted_keys)
    except (OSError, ValueError) as error:
        return CertificateState(
            "Unreadable", False, f"cannot load trusted keys {config.trusted_keys}: {error}", policy
        )
    result = verify_certificate(
        certificate,
        keys,
        package_sha256=package.sha256,
        expected_name=package.spec.name,
        expected_version=config.expected_version or package.spec.version,
    )
    issuer = _issuer_of(result.certificate)
    return CertificateState(result.reason.value, result.ok, result.message, policy, issuer)


def _issuer_of(certificate: Any) -> str | None:
    issuer = getattr(certificate, "issuer", None)
    if isinstance(issuer, str):
        return issuer
    key_id = getattr(certificate, "key_id", None)
    return key_id if isinstance(key_id, str) else None


async def load_and_verify(config: ServerConfig, source: ModelSource) -> LoadOutcome:
    """Fetch, load, pin-check and verify; the outcome says whether the server may serve."""
    pending = CertificateState("Pending", False, "package not loaded", config.effective_policy)
    try:
        path = await source.fetch()
        loop = asyncio.get_running_loop()
        # Loading decompresses and checks every layer: keep the event loop (health probes) free.
        package = await loop.run_in_executor(None, load_package, path)
    except (OSError, ValueError) as error:  # ModelSourceError, PackageError, unreadable file
        return LoadOutcome(None, pending, f"cannot load model: {error}", Phase.LOAD_FAILED)
    if config.model_sha256 is not None and package.sha256 != config.model_sha256:
        return LoadOutcome(
            None,
            pending,
            f"package sha256 {package.sha256} does not match the pinned {config.model_sha256}",
            Phase.LOAD_FAILED,
        )
    if config.expected_version is not None and package.spec.version != config.expected_version:
        return LoadOutcome(
            None,
            pending,
            f"package version {package.spec.version!r} is not the expected {config.expected_version!r}",
            Phase.LOAD_FAILED,
        )
    state = await asyncio.get_running_loop().run_in_executor(None, verify, package, config)
    if state.policy is CertificatePolicy.ENFORCE and not state.ok:
        return LoadOutcome(
            package,
            state,
            f"certificate rejected ({state.status}): {state.message}",
            Phase.CERTIFICATE_REJECTED,
        )
    return LoadOutcome(package, state, None, Phase.READY)
