"""Startup: fetch the package, check its hash and certificate, and say whether we may serve.

The server never serves a model it was told to verify and could not: any failure here ends
in a :class:`Readiness` that is not ready, with one line a person can act on (it is logged
once and shown by ``/ready``). With the ``audit`` policy a certificate failure is reported
but the model serves. A missing or broken *package* is never served, whatever the policy.

Sources (:mod:`axiom_runtime.sources`): a local path or ``file://`` URI (a mounted
ConfigMap, volume or PVC is a file), ``http(s)://`` or ``s3://``, downloaded once into a
private temp dir with a size cap and a timeout, hashed while it streams.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axiom_runtime.digest import sha256_file
from axiom_runtime.package import ModelPackage, load_package
from axiom_runtime.server.config import CertificateFormat, CertificatePolicy, ServerConfig
from axiom_runtime.sources import (
    FetchedPackage,
    FetchLimits,
    ModelSourceError,
    S3Settings,
    fetch,
    scheme_of,
)

__all__ = ["ModelSource", "ModelSourceError", "load_and_verify"]


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


class ModelSource:
    """Resolves the model URI to a local file (:mod:`axiom_runtime.sources`).

    A pod downloads its package once: with ``download_dir`` set and a pinned sha256 (the
    operator's pods have both, in their ``/tmp`` emptyDir, which outlives a container restart
    such as an OOM kill or a failed liveness probe, but not the pod) the finished download is
    kept as ``<download_dir>/<sha256>.axiom``. A kept file is used only if it still hashes to
    the pin; a download lands under a private temp name first and is renamed into place
    whole, so a download cut short never looks finished. Otherwise the download is private
    to this process and removed at shutdown.
    """

    def __init__(self, config: ServerConfig) -> None:
        self._config = config
        self._directory: Path | None = None

    def _kept_path(self) -> Path | None:
        pinned, directory = self._config.model_sha256, self._config.download_dir
        if pinned is None or directory is None:
            return None
        return Path(directory) / f"{pinned}.axiom"

    async def fetch(self) -> FetchedPackage:
        uri = self._config.model_uri
        limits = FetchLimits(self._config.max_download_bytes, self._config.download_timeout_s)
        if scheme_of(uri) == "file":
            return await fetch(uri, Path(), limits)
        kept = self._kept_path()
        loop = asyncio.get_running_loop()
        if kept is not None and kept.is_file():
            if await loop.run_in_executor(None, sha256_file, kept) == self._config.model_sha256:
                return FetchedPackage(kept, kept.stat().st_size, self._config.model_sha256)
            kept.unlink(missing_ok=True)
        s3 = None
        if scheme_of(uri) == "s3":
            s3 = S3Settings.from_env(
                endpoint=self._config.s3_endpoint, region=self._config.s3_region
            )
        if kept is not None:
            kept.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Beside the kept name when there is one, so that the rename stays on one filesystem.
        where = None if kept is None else str(kept.parent)
        self._directory = Path(tempfile.mkdtemp(prefix=".axiom-download-", dir=where))
        fetched = await fetch(uri, self._directory, limits, s3=s3)
        if kept is None or fetched.sha256 != self._config.model_sha256:
            return fetched  # the loader reports a wrong hash; never keep those bytes
        os.replace(fetched.path, kept)
        return FetchedPackage(kept, fetched.size, fetched.sha256)

    def cleanup(self) -> None:
        """Remove this process's download directory (a kept package stays for a restart)."""
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
    if config.certificate_format is CertificateFormat.OMS:
        return _verify_oms(package, certificate, config.trusted_keys, policy)
    if config.oms_bundle is not None:
        # Who published these bytes first, then what was checked on them: both must pass.
        try:
            bundle = Path(config.oms_bundle).read_bytes()
        except OSError as error:
            return CertificateState(
                "Unreadable",
                False,
                f"cannot read OMS bundle {config.oms_bundle}: {error.strerror}",
                policy,
            )
        published = _verify_oms(package, bundle, config.trusted_keys, policy)
        if not published.ok:
            return published
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


def _verify_oms(
    package: ModelPackage, bundle: bytes, trusted_keys: str, policy: CertificatePolicy | None
) -> CertificateState:
    from axiom_runtime.certificate.oms import OmsTrust, verify_oms_bundle

    try:
        trust = OmsTrust.from_directory(trusted_keys)
    except OSError as error:
        return CertificateState(
            "Unreadable", False, f"cannot load trusted keys {trusted_keys}: {error}", policy
        )
    verdict = verify_oms_bundle(bundle, trust, package_sha256=package.sha256)
    return CertificateState(
        verdict.reason.value, verdict.ok, verdict.message, policy, verdict.signer
    )


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
        fetched = await source.fetch()
        loop = asyncio.get_running_loop()
        # Loading decompresses and checks every layer: keep the event loop (health probes) free.
        # A download was hashed as it streamed; a local file is hashed through the handle
        # the zip is then read from.
        package = await loop.run_in_executor(
            None, functools.partial(load_package, fetched.path, sha256=fetched.sha256)
        )
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
