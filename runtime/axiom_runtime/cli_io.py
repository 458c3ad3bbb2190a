"""Reading input arrays and writing outputs for the CLI: the file formats a person has at hand.

Inputs come as JSON (``{"input": [...]}`` as the server takes it, or a bare list) or as
``.npy`` (never unpickled), and are checked by the server's own rules (:func:`prepare_rows`).
Outputs are written whole to a temporary file and renamed, so an interrupted command never
leaves half a package or certificate behind.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from axiom_runtime.cli import CommandFailed
from axiom_runtime.errors import InvalidInput

if TYPE_CHECKING:  # numpy is imported only by the commands that read arrays
    from axiom_runtime.package import ModelPackage
    from axiom_runtime.tensors import FloatArray


def read_input(source: str) -> Any:
    """An input batch (or row) from a ``.npy`` or JSON file, or JSON on stdin for ``-``."""
    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    if source.endswith(".npy"):
        import numpy as np

        try:
            return np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise CommandFailed(f"{source}: not a readable .npy array ({exc})") from None
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandFailed(f"{source}: not JSON ({exc})") from None
    return input_of(document, source)


def input_of(document: Any, source: str) -> Any:
    """The rows in a decoded JSON document: under ``input`` (as the server takes them), or bare."""
    if isinstance(document, dict):
        for key in ("input", "inputs", "instances"):
            if key in document:
                return document[key]
        raise CommandFailed(f"{source}: a JSON object must hold the data under 'input'")
    return document


def prepare_rows(package: ModelPackage, data: Any, source: str) -> FloatArray:
    """``data`` as the model's float32 batch, by the server's rules; errors name ``source``.

    One row or a batch, exactly as ``POST /predict`` accepts them: a string such as ``"1.5"``
    or a boolean is refused here as it is there, so nothing is computed (or certified) on
    input the served model would reject.
    """
    try:
        batch, _ = package.prepare_input(data)
    except InvalidInput as exc:
        raise CommandFailed(f"{source}: {exc}") from None
    return batch


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
