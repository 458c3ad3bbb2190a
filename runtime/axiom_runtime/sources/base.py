"""Value types shared by the source modules (apart so each scheme imports only these)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from axiom_runtime.errors import AxiomError


class ModelSourceError(AxiomError, OSError):
    """The model URI cannot be fetched (bad scheme, HTTP error, denied, too large, timeout)."""


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    timeout_s: float


@dataclass(frozen=True)
class FetchedPackage:
    """A package on local disk. ``sha256`` is set when the bytes were hashed as they were
    written (a download); None for a file someone else wrote, hashed when it is loaded."""

    path: Path
    size: int
    sha256: str | None = None


@dataclass(frozen=True, repr=False)
class S3Settings:
    """Where and as whom to read ``s3://`` URIs. Credentials come from the environment
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, optional ``AWS_SESSION_TOKEN``: in a
    pod, from the Secret the AxiomModel names), never from flags, which ``ps`` shows."""

    endpoint: str
    region: str
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never print the secret
        return f"S3Settings(endpoint={self.endpoint!r}, region={self.region!r})"

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        endpoint: str | None = None,
        region: str | None = None,
    ) -> S3Settings:
        """From ``AXIOM_S3_ENDPOINT``/``_REGION`` (or the given endpoint and region) and the
        ``AWS_*`` credential variables of ``env`` (default: this process's)."""
        env = dict(os.environ if env is None else env)
        if endpoint:
            env["AXIOM_S3_ENDPOINT"] = endpoint
        if region:
            env["AXIOM_S3_REGION"] = region
        missing = [
            name
            for name in ("AXIOM_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            if not env.get(name)
        ]
        if missing:
            raise ModelSourceError(f"s3:// model URI: {', '.join(missing)} not set")
        return cls(
            endpoint=env["AXIOM_S3_ENDPOINT"].rstrip("/"),
            region=env.get("AXIOM_S3_REGION") or "us-east-1",
            access_key_id=env["AWS_ACCESS_KEY_ID"],
            secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            session_token=env.get("AWS_SESSION_TOKEN") or None,
        )


class HashingSink:
    """A private file that hashes and counts what is written, refusing more than ``max_bytes``.

    Every remote source writes through one of these, so "hash while streaming, capped, never
    whole in memory" is written once. With ``path=None`` nothing is written: the bytes are
    only hashed and counted (the operator's verification).
    """

    def __init__(self, path: Path | None, uri: str, max_bytes: int) -> None:
        self.path = path
        self._uri = uri
        self._max_bytes = max_bytes
        self._digest = hashlib.sha256()
        self.size = 0
        self._handle: IO[bytes] | None = None

    def __enter__(self) -> HashingSink:
        if self.path is not None:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._handle = os.fdopen(fd, "wb")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.close()
        if error is not None and self.path is not None:
            self.path.unlink(missing_ok=True)

    def check_declared(self, declared: int | None) -> None:
        if declared is not None and declared > self._max_bytes:
            raise ModelSourceError(
                f"model URI {self._uri}: {declared} bytes exceeds the download cap of {self._max_bytes}"
            )

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._max_bytes:
            raise ModelSourceError(
                f"model URI {self._uri}: more than the download cap of {self._max_bytes} bytes"
            )
        self._digest.update(chunk)
        if self._handle is not None:
            self._handle.write(chunk)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def result(self) -> FetchedPackage:
        assert self.path is not None
        return FetchedPackage(self.path, self.size, self._digest.hexdigest())
