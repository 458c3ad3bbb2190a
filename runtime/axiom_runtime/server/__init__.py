"""``axiom serve``: the inference server (transport → dataplane → model).

Public surface: :class:`ServerConfig` (flags and ``AXIOM_*`` env vars), :func:`init_app`
(aiohttp application factory), :func:`serve` / :func:`run` (process entry).
"""

from axiom_runtime.server.app import init_app, run, serve
from axiom_runtime.server.config import CertificatePolicy, ConfigError, ServerConfig

__all__ = ["CertificatePolicy", "ConfigError", "ServerConfig", "init_app", "run", "serve"]
