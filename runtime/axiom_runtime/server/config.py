"""Server configuration: one frozen dataclass, from CLI flags over ``AXIOM_*`` env vars.

Pods get every setting from environment variables (the operator writes them into the
Deployment), people get the same settings as flags; a flag wins over its variable. Parsing
is strict and each error names the flag or variable, because a typo in a Deployment should
fail the pod at start with one readable line rather than serve with a silent default.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from axiom_runtime.errors import AxiomError

MIB = 1024 * 1024


class ConfigError(AxiomError, ValueError):
    """A setting that cannot be parsed or is out of range; names the flag / env var."""


class CertificatePolicy(enum.StrEnum):
    ENFORCE = "enforce"  # a failed verification keeps the server not-ready
    AUDIT = "audit"  # serve anyway, report the failure in /ready and metrics


class CertificateFormat(enum.StrEnum):
    AXIOM = "axiom"  # a property certificate (Ed25519), axiom_runtime.certificate
    OMS = "oms"  # an OpenSSF Model Signing bundle, axiom_runtime.certificate.oms


class UvloopMode(enum.StrEnum):
    AUTO = "auto"  # use uvloop when importable
    ON = "on"
    OFF = "off"


@dataclass(frozen=True)
class ServerConfig:
    """Every setting of ``axiom serve``; field ``x`` is flag ``--x`` and env ``AXIOM_X``."""

    model_uri: str
    model_sha256: str | None = None
    certificate: str | None = None
    trusted_keys: str | None = None
    # None means "not set": enforce when a certificate is given, else no verification.
    certificate_policy: CertificatePolicy | None = None
    certificate_format: CertificateFormat = CertificateFormat.AXIOM
    # An OMS bundle checked as well as the property certificate (both must pass).
    oms_bundle: str | None = None
    model_name: str | None = None  # name the V2 routes answer to; default the package's
    expected_version: str | None = None
    host: str = "0.0.0.0"
    port: int = 8080
    # 0 = no gRPC: a plain `axiom serve` opens one port, as before, and two local servers
    # never fight over a fixed second one. Pods get 8081 from the operator's Deployment.
    grpc_port: int = 0
    max_batch_size: int = 64  # rows per forward pass
    max_batch_wait_ms: float = 1.0  # only spent when several requests are already queued
    max_pending_rows: int = 16384  # beyond this, inference answers 503 (overloaded)
    max_body_bytes: int = 4 * MIB
    max_download_bytes: int = 512 * MIB
    download_timeout_s: float = 60.0
    # Keep a verified download here, named by its pinned sha256, for the next start (pods:
    # their /tmp emptyDir). None: a private temp dir, removed at shutdown.
    download_dir: str | None = None
    # s3:// URIs: the endpoint (path-style) and SigV4 region. The credentials are read from
    # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN only, never from flags.
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    traffic_config: str | None = None
    log_level: str = "INFO"
    request_log_sample_rate: float = 0.0  # fraction of requests logged, 0 = none
    shutdown_timeout_s: float = 20.0
    uvloop: UvloopMode = UvloopMode.AUTO

    @property
    def effective_policy(self) -> CertificatePolicy | None:
        """The policy in force; None when no certificate is configured and none was asked for."""
        if self.certificate_policy is not None:
            return self.certificate_policy
        return CertificatePolicy.ENFORCE if self.certificate else None

    @classmethod
    def from_sources(
        cls, flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> ServerConfig:
        """Build from flag values (None = not given) over env vars (``AXIOM_<FIELD>``)."""
        flags = flags or {}
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for spec in fields(cls):
            flag_value = flags.get(spec.name)
            env_name = "AXIOM_" + spec.name.upper()
            if flag_value is not None:
                raw, source = flag_value, FLAG_NAMES.get(spec.name, spec.name)
            elif env.get(env_name, "") != "":
                raw, source = env[env_name], env_name
            else:
                continue
            parse: Callable[[Any, str], Any] = _PARSERS.get(spec.name, _text)
            values[spec.name] = parse(raw, source)
        if "model_uri" not in values:
            raise ConfigError("--model / AXIOM_MODEL_URI is required: where to load the model from")
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        _require(0 < self.port < 65536, f"port must be 1..65535, got {self.port}")
        _require(
            0 <= self.grpc_port < 65536,
            f"grpc_port must be 0 (off) or 1..65535, got {self.grpc_port}",
        )
        _require(self.grpc_port != self.port, f"grpc_port must differ from port ({self.port})")
        _require(
            1 <= self.max_batch_size <= 65536,
            f"max_batch_size must be 1..65536, got {self.max_batch_size}",
        )
        _require(
            0 <= self.max_batch_wait_ms <= 1000,
            f"max_batch_wait_ms must be 0..1000, got {self.max_batch_wait_ms}",
        )
        _require(
            self.max_body_bytes >= 1024,
            f"max_body_bytes must be >= 1024, got {self.max_body_bytes}",
        )
        _require(
            self.max_pending_rows >= self.max_batch_size,
            "max_pending_rows must be >= max_batch_size",
        )
        _require(
            0.0 <= self.request_log_sample_rate <= 1.0,
            f"request_log_sample_rate must be 0..1, got {self.request_log_sample_rate}",
        )
        if self.model_sha256 is not None:
            digest = self.model_sha256.lower()
            _require(
                len(digest) == 64 and all(c in "0123456789abcdef" for c in digest),
                "model_sha256 must be 64 hex digits",
            )


# Flag of each field; the env var is always AXIOM_<FIELD>.
FLAG_NAMES: dict[str, str] = {
    "model_uri": "--model",
    "model_sha256": "--sha256",
    "certificate": "--certificate",
    "trusted_keys": "--trusted-keys",
    "certificate_policy": "--certificate-policy",
    "certificate_format": "--certificate-format",
    "oms_bundle": "--oms-bundle",
    "model_name": "--model-name",
    "expected_version": "--expected-version",
    "host": "--host",
    "port": "--port",
    "grpc_port": "--grpc-port",
    "max_batch_size": "--max-batch-size",
    "max_batch_wait_ms": "--max-batch-wait-ms",
    "max_pending_rows": "--max-pending-rows",
    "max_body_bytes": "--max-body-bytes",
    "max_download_bytes": "--max-download-bytes",
    "download_timeout_s": "--download-timeout",
    "download_dir": "--download-dir",
    "s3_endpoint": "--s3-endpoint",
    "s3_region": "--s3-region",
    "traffic_config": "--traffic-config",
    "log_level": "--log-level",
    "request_log_sample_rate": "--request-log-sample-rate",
    "shutdown_timeout_s": "--shutdown-timeout",
    "uvloop": "--uvloop",
}


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _text(raw: Any, source: str) -> str:
    return str(raw)


def _integer(raw: Any, source: str) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: expected an integer, got {raw!r}") from None


def _number(raw: Any, source: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: expected a number, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{source}: expected a finite number, got {raw!r}")
    return value


def _sha256(raw: Any, source: str) -> str:
    text = str(raw).strip().lower().removeprefix("sha256:")
    return text


EnumT = TypeVar("EnumT", bound=enum.Enum)


def _enum(kind: type[EnumT]) -> Callable[[Any, str], EnumT]:
    def parse(raw: Any, source: str) -> EnumT:
        try:
            return kind(str(raw).strip().lower())
        except ValueError:
            choices = "|".join(str(member.value) for member in kind)
            raise ConfigError(f"{source}: expected one of {choices}, got {raw!r}") from None

    return parse


def _log_level(raw: Any, source: str) -> str:
    level = str(raw).strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"{source}: expected DEBUG|INFO|WARNING|ERROR|CRITICAL, got {raw!r}")
    return level


_PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "model_sha256": _sha256,
    "certificate_policy": _enum(CertificatePolicy),
    "certificate_format": _enum(CertificateFormat),
    "port": _integer,
    "grpc_port": _integer,
    "max_batch_size": _integer,
    "max_batch_wait_ms": _number,
    "max_pending_rows": _integer,
    "max_body_bytes": _integer,
    "max_download_bytes": _integer,
    "download_timeout_s": _number,
    "request_log_sample_rate": _number,
    "shutdown_timeout_s": _number,
    "log_level": _log_level,
    "uvloop": _enum(UvloopMode),
}
