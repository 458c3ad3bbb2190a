"""Request errors of the server and the one table that maps every error class to HTTP.

Bad input comes from the core as :class:`~axiom_runtime.errors.InvalidInput`; the transport
adds its own (wrong media type, body too large, unknown model, not ready). Each carries the
``field`` it is about, which goes into the JSON error body ``{"error": ..., "field": ...}``.
"""

from __future__ import annotations

from axiom_runtime.errors import AxiomError, InvalidInput


class RequestError(AxiomError):
    """An error that is answered to the client; ``field`` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.reason = message


class UnsupportedMediaType(RequestError, ValueError):
    """The request body is not declared as JSON."""


class PayloadTooLarge(RequestError, ValueError):
    """The request body exceeds the configured cap."""


class ModelNotFound(RequestError, LookupError):
    """The request names a model (or version) this server does not serve."""


class ModelNotReady(RequestError, RuntimeError):
    """The model is loading or failed to load or verify; inference is refused."""


class Overloaded(RequestError, RuntimeError):
    """Too many rows are already queued; the client should retry (or another replica)."""


# Order matters only for subclasses; the first matching class wins.
STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (InvalidInput, 400),
    (UnsupportedMediaType, 415),
    (PayloadTooLarge, 413),
    (ModelNotFound, 404),
    (ModelNotReady, 503),
    (Overloaded, 503),
)


# The same errors on gRPC, by status code name (this module does not import grpc: a server
# without a gRPC port never loads it). Overloaded is RESOURCE_EXHAUSTED, what gRPC clients
# treat as "back off"; a message over the size cap gets the same code from grpc itself.
GRPC_CODE_BY_ERROR: tuple[tuple[type[Exception], str], ...] = (
    (InvalidInput, "INVALID_ARGUMENT"),
    (PayloadTooLarge, "RESOURCE_EXHAUSTED"),
    (ModelNotFound, "NOT_FOUND"),
    (ModelNotReady, "UNAVAILABLE"),
    (Overloaded, "RESOURCE_EXHAUSTED"),
)


# gRPC trailing metadata key carrying the field alone, for programs (details say it to people).
GRPC_FIELD_METADATA_KEY = "axiom-field"


def grpc_code_name_for(error: Exception) -> str:
    """The gRPC status code name for an error; INTERNAL for anything the table does not know."""
    for kind, code in GRPC_CODE_BY_ERROR:
        if isinstance(error, kind):
            return code
    return "INTERNAL"


def status_for(error: Exception) -> int:
    """The HTTP status for an error; 500 for anything the table does not know."""
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def field_of(error: Exception) -> str | None:
    field = getattr(error, "field", None)
    return field if isinstance(field, str) else None


def reason_of(error: Exception) -> str:
    reason = getattr(error, "reason", None)
    return reason if isinstance(reason, str) else str(error)


def details_of(error: Exception) -> str:
    """``field: reason``: what clients that show only the message (tritonclient, KServe's,
    gRPC status details) need to see which field was wrong."""
    field = field_of(error)
    reason = reason_of(error)
    return f"{field}: {reason}" if field else reason
