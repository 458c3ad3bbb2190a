"""The runtime's exception tree.

Every error subclasses the built-in it refines (a bad package is a ``ValueError``) so that
callers who know nothing about Axiom still catch it sensibly, and one table in the server can
map error classes to HTTP status codes. Messages name the thing that is wrong (a layer index
and type, a JSON field, a file) and what was expected, in one line.
"""

from __future__ import annotations


class AxiomError(Exception):
    """Base of every error the runtime raises on purpose."""


class PackageError(AxiomError, ValueError):
    """A ``.axiom`` package (or a model description) that cannot be loaded or built."""


class InvalidInput(AxiomError, ValueError):
    """Inference input that does not match the model; ``field`` names the offending part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class ConversionError(PackageError):
    """A source model (scikit-learn, layer descriptor) that cannot be turned into a package."""


class CertificateError(AxiomError, ValueError):
    """A certificate, key or signing request that is malformed or cannot be honoured."""


class PropertyViolation(CertificateError):
    """A property the signer was asked to certify does not hold on the given data."""
