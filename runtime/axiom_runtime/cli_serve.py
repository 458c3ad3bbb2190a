"""``axiom serve``: flags for every :class:`~axiom_runtime.server.ServerConfig` field.

Flags default to None so that an unset flag falls back to its ``AXIOM_*`` environment
variable (how pods are configured), then to the built-in default. ``--help`` lists both.
"""

from __future__ import annotations

import argparse

from axiom_runtime.server.config import (
    FLAG_NAMES,
    CertificateFormat,
    CertificatePolicy,
    ServerConfig,
    UvloopMode,
)

_HELP = {
    "model_uri": "model package: a path, file://, http://, https:// or s3://bucket/key URI",
    "model_sha256": "refuse to serve unless the package has this SHA-256 (hex)",
    "certificate": "certificate JSON file for the package",
    "trusted_keys": "trusted public keys: a directory (one file per key id) or a 'key_id: key' file",
    "certificate_policy": "enforce: stay not-ready on a bad certificate (default when one is given); "
    "audit: serve and report",
    "certificate_format": "axiom: --certificate is a property certificate (default); oms: an "
    "OpenSSF Model Signing bundle, checked against the EC keys and CA certificates among "
    "--trusted-keys",
    "oms_bundle": "an OMS bundle to check as well as the property certificate: both must pass",
    "model_name": "name the V2 routes answer to (default: the package's name)",
    "expected_version": "refuse a package or certificate of any other version",
    "host": "address to listen on (default 0.0.0.0)",
    "port": "port to listen on (default 8080)",
    "grpc_port": "port for the Open Inference Protocol over gRPC, on the same host; 0 = off "
    "(default 0; the operator's pods use 8081)",
    "max_batch_size": "rows per forward pass (default 64)",
    "max_batch_wait_ms": "how long a batch may wait to fill, only under load (default 1.0)",
    "max_pending_rows": "queued rows beyond which inference answers 503 (default 16384)",
    "max_body_bytes": "request body limit (default 4 MiB)",
    "max_download_bytes": "size cap for http(s) and s3 model downloads (default 512 MiB)",
    "download_timeout_s": "time limit for http(s) and s3 model downloads in seconds (default 60)",
    "download_dir": "keep a verified download here by its --sha256, for the next start "
    "(default: a private temp dir, removed at shutdown)",
    "s3_endpoint": "S3-compatible endpoint for s3:// URIs, http(s)://host[:port] (path-style); "
    "credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN",
    "s3_region": "SigV4 region for s3:// URIs (default us-east-1)",
    "traffic_config": "traffic split config file (stable pods of a canary rollout)",
    "log_level": "DEBUG, INFO, WARNING, ERROR (default INFO)",
    "request_log_sample_rate": "fraction of requests to log, 0..1 (default 0)",
    "shutdown_timeout_s": "seconds to let in-flight requests finish on SIGTERM (default 20)",
    "uvloop": "use uvloop: auto (when installed), on, off",
}
_CHOICES = {
    "certificate_policy": [policy.value for policy in CertificatePolicy],
    "certificate_format": [kind.value for kind in CertificateFormat],
    "uvloop": [mode.value for mode in UvloopMode],
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Serve a verified .axiom model over HTTP (/predict, Open Inference Protocol v2, "
        "/health, /ready, /metrics) and, with --grpc-port, the same protocol over gRPC. Every flag can also be set by the environment "
        "variable shown in brackets."
    )
    for name, flag in FLAG_NAMES.items():
        env = "AXIOM_" + name.upper()
        parser.add_argument(
            flag,
            dest=name,
            default=None,
            choices=_CHOICES.get(name),
            help=f"{_HELP.get(name, '')} [{env}]",
        )
    parser.set_defaults(handler=_serve)


def _serve(options: argparse.Namespace) -> int:
    from axiom_runtime.server.app import run

    flags = {name: getattr(options, name, None) for name in FLAG_NAMES}
    return run(ServerConfig.from_sources(flags))
