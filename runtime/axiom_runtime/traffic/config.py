"""The traffic config file the operator writes into a ConfigMap mounted by the stable pods.

Parsed strictly because a typo must not silently send traffic somewhere: every error names
the JSON field and the reason. The splitter keeps the last good config when a new file is
bad (a half-written file or an operator bug must not drop the split mid-experiment).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_REQUEST_ID_HEADER = "X-Request-ID"
DEFAULT_FORWARD_TIMEOUT_SECONDS = 2.0


class TrafficConfigError(ValueError):
    """The traffic config file is not valid; the message names the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"traffic config: {field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class CanaryTarget:
    """Where the canary's share goes: its version, base URL and percentage (0..100).

    ``grpc_target`` (``host:port``) is where gRPC calls of the canary's share go; without it
    every gRPC call is served by the stable pod. ``mirror`` (0..100) is the percentage of
    the requests the stable answers itself that are also copied to the canary (shadow
    traffic: compared, never shown to the user), chosen by request id like the split.
    """

    version: str
    url: str
    weight: float
    grpc_target: str | None = None
    mirror: float = 0.0


@dataclass(frozen=True)
class TrafficConfig:
    """One generation of the split. ``canary is None`` means every request is served locally."""

    generation: int
    canary: CanaryTarget | None = None
    request_id_header: str = DEFAULT_REQUEST_ID_HEADER
    forward_timeout_seconds: float = DEFAULT_FORWARD_TIMEOUT_SECONDS
    # Opt-in: a request carrying this header with value "canary" or "stable" is served by
    # that version (testers), counted apart and never analysed. None: no pinning.
    pin_header: str | None = None


def _percent(raw: dict[str, Any], field: str, name: str) -> float:
    value = _number(raw[name], field)
    if not 0.0 <= value <= 100.0:
        raise TrafficConfigError(field, f"must be within 0..100, got {value}")
    if round(value, 2) != value:
        raise TrafficConfigError(field, f"has more than 2 decimals: {value}")
    return value


def _header_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value or not value.isascii() or " " in value:
        raise TrafficConfigError(field, f"must be an HTTP header name, got {value!r}")
    return value


def _number(value: Any, field: str) -> float:
    # bool is an int subclass in Python; `true` as a weight is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TrafficConfigError(field, f"must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise TrafficConfigError(field, "must be finite")
    return number


def _parse_canary(raw: Any) -> CanaryTarget | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise TrafficConfigError("canary", "must be an object or null")
    unknown = set(raw) - {"version", "url", "weight", "grpcTarget", "mirrorPercent"}
    if unknown:
        raise TrafficConfigError(f"canary.{sorted(unknown)[0]}", "unknown field")
    version = raw.get("version")
    if not isinstance(version, str) or not version:
        raise TrafficConfigError("canary.version", "must be a non-empty string")
    url = raw.get("url")
    if not isinstance(url, str):
        raise TrafficConfigError("canary.url", "must be a string")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TrafficConfigError("canary.url", f"must be an http(s) URL with a host, got {url!r}")
    if "weight" not in raw:
        raise TrafficConfigError("canary.weight", "is required")
    weight = _percent(raw, "canary.weight", "weight")
    mirror = (
        _percent(raw, "canary.mirrorPercent", "mirrorPercent") if "mirrorPercent" in raw else 0.0
    )
    return CanaryTarget(
        version=version,
        url=url.rstrip("/"),
        weight=weight,
        grpc_target=_grpc_target(raw.get("grpcTarget")),
        mirror=mirror,
    )


def _grpc_target(value: Any) -> str | None:
    if value is None:
        return None
    field = "canary.grpcTarget"
    if not isinstance(value, str):
        raise TrafficConfigError(field, "must be a string host:port")
    host, _, port = value.rpartition(":")
    if not host or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise TrafficConfigError(field, f"must be host:port, got {value!r}")
    bracketed = host.startswith("[") and host.endswith("]")
    if (":" in host and not bracketed) or host.startswith("[") != host.endswith("]"):
        raise TrafficConfigError(field, f"an IPv6 host needs brackets, got {value!r}")
    return value


def parse_traffic_config(text: str) -> TrafficConfig:
    """Parse and validate the JSON text of a traffic config file."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise TrafficConfigError("<document>", f"not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise TrafficConfigError("<document>", "must be a JSON object")
    unknown = set(raw) - {
        "generation",
        "canary",
        "requestIdHeader",
        "forwardTimeoutSeconds",
        "pinHeader",
    }
    if unknown:
        raise TrafficConfigError(sorted(unknown)[0], "unknown field")
    if "generation" not in raw:
        raise TrafficConfigError("generation", "is required")
    generation = raw["generation"]
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
        raise TrafficConfigError("generation", f"must be an integer >= 0, got {generation!r}")
    header = _header_name(raw.get("requestIdHeader", DEFAULT_REQUEST_ID_HEADER), "requestIdHeader")
    pin = raw.get("pinHeader")
    pin_header = None if pin is None else _header_name(pin, "pinHeader")
    timeout = _number(
        raw.get("forwardTimeoutSeconds", DEFAULT_FORWARD_TIMEOUT_SECONDS), "forwardTimeoutSeconds"
    )
    if not 0.0 < timeout <= 300.0:
        raise TrafficConfigError("forwardTimeoutSeconds", f"must be within (0, 300], got {timeout}")
    return TrafficConfig(
        generation=generation,
        canary=_parse_canary(raw.get("canary")),
        request_id_header=header,
        forward_timeout_seconds=timeout,
        pin_header=pin_header,
    )


def render_traffic_config(config: TrafficConfig) -> str:
    """The JSON text for ``config`` (what the operator writes; the inverse of parsing)."""
    canary: dict[str, Any] | None = None
    if config.canary is not None:
        canary = {
            "version": config.canary.version,
            "url": config.canary.url,
            "weight": config.canary.weight,
        }
        if config.canary.grpc_target is not None:
            canary["grpcTarget"] = config.canary.grpc_target
        if config.canary.mirror:
            canary["mirrorPercent"] = config.canary.mirror
    document: dict[str, Any] = {
        "generation": config.generation,
        "canary": canary,
        "requestIdHeader": config.request_id_header,
        "forwardTimeoutSeconds": config.forward_timeout_seconds,
    }
    if config.pin_header is not None:
        document["pinHeader"] = config.pin_header
    return json.dumps(document, sort_keys=True) + "\n"
