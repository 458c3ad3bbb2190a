"""The ``.axiom`` package: a zip of ``model.json`` and ``weights/<name>.npy`` arrays.

A package comes from outside the trust boundary until its certificate says otherwise, so
loading treats it as hostile: nothing is ever unpickled, member names are checked before
anything is read (no absolute paths, no ``..``, only the two kinds of member), sizes are
capped from the zip directory *before* decompressing and again while reading (a forged
directory cannot make us inflate a bomb), and every layer's weights are checked against the
declared input shape before the package is handed to anyone who could serve it.

A package's identity is the SHA-256 of its bytes, so writing is byte-reproducible: fixed
member order, fixed timestamps and permissions, canonical JSON.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from axiom_runtime.digest import sha256_bytes, sha256_file, sha256_stream
from axiom_runtime.engine import CompiledModel, class_probabilities, compile_layers
from axiom_runtime.errors import PackageError
from axiom_runtime.layers import FloatArray, as_f32
from axiom_runtime.spec import (
    LayerSpec,
    ModelSpec,
    referenced_weights,
    spec_from_dict,
    spec_to_dict,
    weight_member,
)
from axiom_runtime.tensors import decode_batch, decode_rows

__all__ = [
    "DEFAULT_MAX_UNCOMPRESSED_BYTES",
    "LayerSpec",
    "ModelPackage",
    "ModelSpec",
    "load_package",
    "sha256_bytes",
    "sha256_file",
    "write_package",
]

DEFAULT_MAX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024
MAX_MEMBERS = 4096
MODEL_JSON = "model.json"
MAX_MODEL_JSON_BYTES = 16 * 1024 * 1024
# 1980-01-01 is the earliest time a zip header can hold; any constant would do.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_WEIGHT_MEMBER = re.compile(r"^weights/([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})\.npy$")
_READ_CHUNK = 1024 * 1024


class ModelPackage:
    """A loaded, shape-checked package, ready to run. Immutable, so safe to share across threads."""

    def __init__(self, spec: ModelSpec, model: CompiledModel, sha256: str, size_bytes: int) -> None:
        self.spec = spec
        self.model = model
        self.sha256 = sha256
        self.size_bytes = size_bytes

    def __repr__(self) -> str:
        return f"ModelPackage({self.spec.name}:{self.spec.version} sha256={self.sha256[:12]})"

    def validate_batch(self, batch: Any) -> FloatArray:
        """``batch`` as float32 (N, *input_shape), or :class:`InvalidInput` naming what is wrong.

        The server's rules (:mod:`axiom_runtime.tensors`): numbers only, no strings or
        booleans, finite, inside the declared input range.
        """
        return decode_batch(batch, self.spec.input_shape, self.spec.input_range)

    def prepare_input(self, data: Any) -> tuple[FloatArray, bool]:
        """One row or a batch, as ``POST /predict`` takes it; the batch and whether it was one row."""
        return decode_rows(data, self.spec.input_shape, self.spec.input_range)

    def predict(self, batch: Any) -> FloatArray:
        """float32 (N, *input_shape) -> float32 (N, *output_shape), vectorised over the batch."""
        return self.model.run(self.validate_batch(batch))

    def class_probabilities(self, outputs: FloatArray) -> FloatArray:
        """Per-class probabilities for ``outputs`` of a classification model, (N, classes)."""
        flat = outputs.reshape(outputs.shape[0], -1)
        return class_probabilities(flat, self.spec.layers[-1].type)

    def label(self, class_index: int) -> str:
        return self.spec.labels[class_index] if self.spec.labels else str(class_index)


def _check_member_name(info: zipfile.ZipInfo) -> None:
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ":" in name or ".." in parts or "\\" in name:
        raise PackageError(
            f"package member {name!r}: absolute, drive or '..' paths are not allowed"
        )
    if name != MODEL_JSON and not _WEIGHT_MEMBER.match(name):
        raise PackageError(
            f"package member {name!r}: only {MODEL_JSON} and weights/<name>.npy are allowed"
        )
    if info.flag_bits & 0x1:
        raise PackageError(f"package member {name!r}: encrypted members are not supported")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise PackageError(
            f"package member {name!r}: compression method {info.compress_type} is not supported"
        )


def _check_directory(
    archive: zipfile.ZipFile, max_uncompressed_bytes: int
) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise PackageError(
            f"package has {len(infos)} members, more than the limit of {MAX_MEMBERS}"
        )
    seen: set[str] = set()
    for info in infos:
        _check_member_name(info)
        if info.filename in seen:
            raise PackageError(f"package member {info.filename!r} appears twice")
        seen.add(info.filename)
    declared = sum(info.file_size for info in infos)
    if declared > max_uncompressed_bytes:
        raise PackageError(
            f"package declares {declared} uncompressed bytes, more than the limit of {max_uncompressed_bytes}"
        )
    model_json = [info for info in infos if info.filename == MODEL_JSON]
    if model_json and model_json[0].file_size > MAX_MODEL_JSON_BYTES:
        raise PackageError(
            f"package member {MODEL_JSON} is larger than {MAX_MODEL_JSON_BYTES} bytes"
        )
    return infos


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    # Never trust file_size alone: stop as soon as the stream yields more than it declared.
    buffer = bytearray()
    with archive.open(info) as stream:
        while chunk := stream.read(min(_READ_CHUNK, limit - len(buffer) + 1)):
            buffer += chunk
            if len(buffer) > limit:
                raise PackageError(
                    f"package member {info.filename!r} inflates beyond its declared size {info.file_size}"
                )
    return bytes(buffer)


def _load_weight(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> FloatArray:
    """One ``.npy`` member, read from the zip stream straight into its array.

    ``read_array`` fills a preallocated array from the stream, so a member is never held as
    bytes *and* as an array: the package is in memory once, as its weights. The zip stream
    stops at the member's declared size and checks its CRC at the end.
    """
    member = info.filename
    try:
        with archive.open(info) as stream:
            array = np.lib.format.read_array(stream, allow_pickle=False)
            if stream.read(1):
                raise PackageError(f"package member {member!r}: bytes after the .npy array")
    except (ValueError, OSError, EOFError) as exc:
        raise PackageError(
            f"package member {member!r}: not a readable .npy array ({exc})"
        ) from None
    if not isinstance(array, np.ndarray):
        raise PackageError(f"package member {member!r}: not a single .npy array")
    if array.dtype.kind != "f":
        raise PackageError(f"package member {member!r}: dtype {array.dtype} is not floating point")
    if not _all_finite(array):
        raise PackageError(f"package member {member!r}: contains NaN or infinity")
    return np.ascontiguousarray(array, dtype=np.float32)


def _all_finite(array: np.ndarray[Any, Any]) -> bool:
    # In slices: np.isfinite of a whole 200 MB array would allocate a 50 MB mask beside it.
    flat = np.ravel(array, order="K")  # a view for C- and Fortran-ordered arrays alike
    step = 1 << 20
    return all(np.isfinite(flat[i : i + step]).all() for i in range(0, flat.size, step))


def _parse_model_json(data: bytes) -> ModelSpec:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackageError(f"{MODEL_JSON}: not valid UTF-8 JSON ({exc})") from None
    return spec_from_dict(doc)


def load_package(
    source: str | os.PathLike[str] | bytes,
    *,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
    sha256: str | None = None,
) -> ModelPackage:
    """Open, check and compile a package from a path or from its bytes.

    A path is never read whole: its SHA-256 is computed in one streaming pass over the open
    file (or taken from ``sha256``, when the caller hashed the bytes while downloading them
    into a private file), and the zip is then read member by member from the same handle.
    """
    if isinstance(source, bytes):
        return _load_archive(
            io.BytesIO(source), len(source), sha256 or sha256_bytes(source), max_uncompressed_bytes
        )
    try:
        handle = open(source, "rb")  # noqa: SIM115 -- closed below, after the zip is read
    except OSError as exc:
        raise PackageError(f"cannot read package {os.fspath(source)!r}: {exc.strerror}") from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if sha256 is None:
            sha256 = sha256_stream(handle)
            handle.seek(0)
        return _load_archive(handle, size, sha256, max_uncompressed_bytes)


def _load_archive(
    handle: IO[bytes], size: int, sha256: str, max_uncompressed_bytes: int
) -> ModelPackage:
    try:
        archive = zipfile.ZipFile(handle)
    except zipfile.BadZipFile as exc:
        raise PackageError(f"not a .axiom package (zip): {exc}") from None
    with archive:
        try:
            infos = _check_directory(archive, max_uncompressed_bytes)
            by_name = {info.filename: info for info in infos}
            if MODEL_JSON not in by_name:
                raise PackageError(f"package has no {MODEL_JSON}")
            info = by_name.pop(MODEL_JSON)
            spec = _parse_model_json(_read_capped(archive, info, info.file_size))
            unused = sorted(set(map(_weight_name, by_name)) - referenced_weights(spec.layers))
            if unused:
                raise PackageError(
                    f"package member {weight_member(unused[0])!r} is not referenced by any layer"
                )
            weights = {
                _weight_name(member): _load_weight(archive, info)
                for member, info in by_name.items()
            }
        except (zipfile.BadZipFile, zlib.error) as exc:
            raise PackageError(f"corrupt package: {exc}") from None
    model = compile_layers(spec.layers, weights, spec.input_shape, spec.output_shape)
    return ModelPackage(spec, model, sha256, size)


def _weight_name(member: str) -> str:
    match = _WEIGHT_MEMBER.match(member)
    assert match is not None  # names were checked by _check_member_name
    return match.group(1)


def _zip_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    info.create_system = 3  # unix: the same bytes whichever OS writes the package
    return info


def _npy_bytes(array: np.ndarray[Any, Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


def package_bytes(spec: ModelSpec | Mapping[str, Any], weights: Mapping[str, Any]) -> bytes:
    """The exact bytes of the package for ``spec`` and ``weights``, after checking they compile."""
    # Through the dict form even for a ModelSpec, so the same validation as loading applies.
    model_spec = spec_from_dict(spec_to_dict(spec) if isinstance(spec, ModelSpec) else dict(spec))
    arrays = {name: as_f32(np.asarray(value, dtype=np.float32)) for name, value in weights.items()}
    for name in arrays:
        if not _WEIGHT_MEMBER.match(weight_member(name)):
            raise PackageError(f"weight name {name!r} must match [A-Za-z0-9_][A-Za-z0-9_.-]*")
    unused = sorted(set(arrays) - referenced_weights(model_spec.layers))
    if unused:
        raise PackageError(f"weight {unused[0]!r} is not referenced by any layer")
    compile_layers(model_spec.layers, arrays, model_spec.input_shape, model_spec.output_shape)
    model_json = json.dumps(spec_to_dict(model_spec), indent=2, sort_keys=True) + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_zip_entry(MODEL_JSON), model_json.encode("utf-8"))
        for name in sorted(arrays):
            archive.writestr(_zip_entry(weight_member(name)), _npy_bytes(arrays[name]))
    return buffer.getvalue()


def write_package(
    path: str | os.PathLike[str],
    spec: ModelSpec | Mapping[str, Any],
    weights: Mapping[str, Any],
) -> str:
    """Write a byte-reproducible package to ``path`` and return its SHA-256 (hex)."""
    data = package_bytes(spec, weights)
    Path(path).write_bytes(data)
    return sha256_bytes(data)
