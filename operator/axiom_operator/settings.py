"""Operator settings, read once from ``AXIOM_OPERATOR_*`` environment variables.

One frozen object, so every handler sees the same configuration and tests can build one
directly. Every variable has a default that works in-cluster except the metrics host, which
defaults to loopback (the Helm chart sets ``0.0.0.0`` so Prometheus can scrape the pod).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

PREFIX = "AXIOM_OPERATOR_"
# The largest remote package the operator hashes itself (streamed, so memory does not grow
# with it; time and bandwidth do). 8 GiB: above every single-file model this project serves.
DEFAULT_MAX_PACKAGE_FETCH_BYTES = 8 * 2**30


def _default_image() -> str:
    try:
        tag = package_version("axiom-operator")
    except PackageNotFoundError:  # running from a source tree that was never installed
        tag = "latest"
    # No registry host: images are built locally (`make images`) and pushed wherever a team keeps
    # them; the chart sets the full reference.
    return f"axiom-runtime:{tag}"


class SettingsError(ValueError):
    """An AXIOM_OPERATOR_* variable has a value the operator cannot use."""


def _at_least(low: int, name: str, value: float) -> int:
    if value != int(value) or value < low:
        raise SettingsError(f"{PREFIX}{name}={value:g}: a whole number of at least {low}")
    return int(value)


@dataclass(frozen=True)
class OperatorSettings:
    runtime_image: str
    trusted_keys_kind: str  # "Secret" | "ConfigMap"
    trusted_keys_name: str
    metrics_host: str
    metrics_port: int  # 0 disables the metrics server
    namespaces: tuple[str, ...]  # empty: all namespaces
    max_package_fetch_bytes: int
    # Every model is looked at again after this long even if nothing changed (0: never): a
    # trusted key removed from the Secret, or a certificate revoked, shows in status within
    # it. Reads only; a pass over an unchanged world writes nothing.
    resync_seconds: float
    watch_server_timeout: int
    request_timeout: float
    # Pod addresses the operator may connect to (/ready, /metrics); empty: any. Test and demo
    # clusters set 127.0.0.0/8 so nothing is ever sent off the machine.
    pod_network_allowlist: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    pod_request_timeout: float = 2.0
    # CertificateValid turns to reason ExpiresSoon (and a Warning Event) this long before a
    # deployed version's certificate expires.
    certificate_expiry_warning_seconds: float = 7 * 86400.0
    # Pinned trust: read the trusted keys only from this namespace (e.g. the operator's own),
    # never from the model's, and refuse spec.certificate.trustedKeysRef. Empty: each model's
    # namespace holds its trusted keys (anyone who may write Secrets there decides what is
    # trusted in it). See certificates.py.
    trusted_keys_namespace: str = ""
    # At most this many reconcile passes run at once (0: no limit). A thousand models created
    # together then finish their first passes in order instead of all sharing the apiserver
    # at once and all finishing late; docs/operator-at-scale.md has the measurements.
    # Each pass sends its reads at once (about six), so 32 passes keep the requests in flight
    # near the API client's pool: httpx's default of 100 connections (lightkube sets none).
    max_concurrent_passes: int = 32
    # Longest a canary that left the split is kept while stable pods have not confirmed the
    # split without it (rollout.traffic.settle_draining).
    traffic_drain_seconds: float = 180.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OperatorSettings:
        env = os.environ if environ is None else environ

        def get(name: str, default: str) -> str:
            return env.get(PREFIX + name, default)

        def number(name: str, default: str) -> float:
            raw = get(name, default)
            try:
                return float(raw)
            except ValueError:
                raise SettingsError(f"{PREFIX}{name}={raw!r} is not a number") from None

        kind = get("TRUSTED_KEYS_KIND", "Secret")
        if kind not in ("Secret", "ConfigMap"):
            raise SettingsError(
                f"{PREFIX}TRUSTED_KEYS_KIND must be Secret or ConfigMap, not {kind!r}"
            )
        namespaces = tuple(n for n in get("NAMESPACES", "").replace(",", " ").split() if n)
        allowlist = []
        for cidr in get("POD_NETWORK_ALLOWLIST", "").replace(",", " ").split():
            try:
                allowlist.append(ipaddress.ip_network(cidr, strict=False))
            except ValueError:
                raise SettingsError(
                    f"{PREFIX}POD_NETWORK_ALLOWLIST: {cidr!r} is not a CIDR like 127.0.0.0/8"
                ) from None
        return cls(
            runtime_image=get("RUNTIME_IMAGE", _default_image()),
            trusted_keys_kind=kind,
            trusted_keys_name=get("TRUSTED_KEYS_NAME", "axiom-trusted-keys"),
            metrics_host=get("METRICS_HOST", "127.0.0.1"),
            metrics_port=int(number("METRICS_PORT", "9808")),
            namespaces=namespaces,
            max_package_fetch_bytes=int(
                number("MAX_PACKAGE_FETCH_BYTES", str(DEFAULT_MAX_PACKAGE_FETCH_BYTES))
            ),
            resync_seconds=number("RESYNC_SECONDS", "300"),
            watch_server_timeout=int(number("WATCH_SERVER_TIMEOUT", "300")),
            request_timeout=number("REQUEST_TIMEOUT", "30"),
            pod_network_allowlist=tuple(allowlist),
            pod_request_timeout=number("POD_REQUEST_TIMEOUT", "2"),
            certificate_expiry_warning_seconds=number(
                "CERTIFICATE_EXPIRY_WARNING_SECONDS", str(7 * 86400)
            ),
            trusted_keys_namespace=get("TRUSTED_KEYS_NAMESPACE", "").strip(),
            max_concurrent_passes=_at_least(
                0, "MAX_CONCURRENT_PASSES", number("MAX_CONCURRENT_PASSES", "32")
            ),
            traffic_drain_seconds=_at_least(
                0, "TRAFFIC_DRAIN_SECONDS", number("TRAFFIC_DRAIN_SECONDS", "180")
            ),
        )
