"""The server's version, as V2 server metadata reports it: the installed distribution's."""

from __future__ import annotations

from importlib import metadata

try:
    SERVER_VERSION = metadata.version("axiom-runtime")
except metadata.PackageNotFoundError:  # running from a source tree
    SERVER_VERSION = "0.0.0"
