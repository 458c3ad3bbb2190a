"""Reading input arrays and writing outputs for the CLI: the file formats a person has at hand.

Inputs come as JSON (``{"input": [...]}`` as the server takes it, or a bare list) or as
``.npy`` (never unpickled). Outputs are written whole to a temporary file and renamed, so an
interrupted command never leaves half a package or certificate behind.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from axiom_runtime.cli import CommandFailed


def read_input(source: str) -> Any:
    """An input batch (or row) from a ``.npy`` or JSON file, or JSON on stdin for ``-``."""
    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    if source.endswith(".npy"):
        try:
            return np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise CommandFailed(f"{source}: not a readable .npy array ({exc})") from None
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandFailed(f"{source}: not JSON ({exc})") from None
    if isinstance(document, dict):
        for key in ("input", "inputs", "instances"):
            if key in document:
                return document[key]
        raise CommandFailed(f"{source}: a JSON object must hold the data under 'input'")
    return document


def write_atomically(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    target = Path(path)
    handle, temporary = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
