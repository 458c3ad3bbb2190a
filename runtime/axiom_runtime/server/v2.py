"""Open Inference Protocol (V2, "KServe v2") JSON codec: request dicts in, response dicts out.

Pure functions, no HTTP: the dataplane calls them and the transport serialises the result.
Follows https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/ for the
REST/JSON binding. The model has one input tensor; its name is free (clients pick their
own, e.g. ``input-0``), its datatype may be any FP or INT type and is cast to float32.
Outputs: ``output`` (the model's scores), and for classifiers ``class`` (INT64 argmax) and
``confidence`` (FP32 max probability); a request may ask for a subset by name.

The binary tensor data extension (Triton's ``binary_tensor_data``) is decoded here too: an
input whose ``parameters.binary_data_size`` is set takes its elements, little-endian and
row-major, from the bytes after the JSON header instead of ``data``; an output asked for
with ``parameters.binary_data`` (or every output, with the request's ``binary_data_output``)
is answered the same way. :func:`decode_tensor_values` is shared with the gRPC codec, so a
tensor is held to one set of rules whichever way it arrived.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

from axiom_runtime.errors import InvalidInput
from axiom_runtime.package import ModelSpec
from axiom_runtime.tensors import FloatArray, check_values, numeric_array, shape_text

PLATFORM = "axiom-numpy"
OUTPUT_SCORES = "output"
OUTPUT_CLASS = "class"
OUTPUT_CONFIDENCE = "confidence"

_FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})
_INT_BOUNDS: dict[str, tuple[int, int]] = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}
SUPPORTED_DATATYPES = tuple(sorted(_FLOAT_TYPES | set(_INT_BOUNDS)))
_SUPPORTED = frozenset(SUPPORTED_DATATYPES)
_MISSING = object()
# Wire layout of each datatype in binary form (both the HTTP extension and gRPC's
# raw_input_contents): little-endian, whatever the host's byte order.
WIRE_DTYPES: dict[str, np.dtype[Any]] = {
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "INT8": np.dtype("i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
}
OUTPUT_DATATYPES = {OUTPUT_SCORES: "FP32", OUTPUT_CLASS: "INT64", OUTPUT_CONFIDENCE: "FP32"}
BINARY_EXTENSION = "binary_tensor_data"
EXTENSIONS = (BINARY_EXTENSION,)


@dataclass(frozen=True)
class InferRequest:
    """A decoded V2 infer request: the validated batch and what the answer must carry."""

    rows: FloatArray  # (N, *input_shape) float32
    request_id: str | None
    requested_outputs: tuple[str, ...] | None  # None: all outputs
    binary_outputs: frozenset[str] = frozenset()  # outputs answered as binary data


def output_names(spec: ModelSpec) -> tuple[str, ...]:
    if spec.is_classifier:
        return (OUTPUT_SCORES, OUTPUT_CLASS, OUTPUT_CONFIDENCE)
    return (OUTPUT_SCORES,)


def decode_infer_request(
    payload: Any,
    spec: ModelSpec,
    *,
    may_contain_bool: bool = True,
    binary: memoryview | None = None,
) -> InferRequest:
    """A V2 JSON request; ``binary`` is the part after the JSON header (binary extension)."""
    if not isinstance(payload, dict):
        raise InvalidInput("body", "must be a JSON object with an 'inputs' list")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput("id", "must be a string")
    parameters = payload.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidInput("parameters", "must be an object")
    inputs = payload.get("inputs")
    if inputs is None:
        raise InvalidInput("inputs", "is required: a list with one input tensor")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("inputs", "must be a non-empty list of input tensors")
    if len(inputs) != 1:
        raise InvalidInput("inputs", f"the model takes one input tensor, got {len(inputs)}")
    rows, used = _decode_tensor(inputs[0], "inputs[0]", spec, may_contain_bool, binary)
    if binary is not None and used != len(binary):
        # Bytes nobody claimed mean the header and the body disagree: refuse rather than guess.
        raise InvalidInput(
            "Inference-Header-Content-Length",
            f"{len(binary) - used} bytes after the JSON header belong to no input "
            f"(binary_data_size of the inputs adds up to {used}, the body has {len(binary)})",
        )
    default_binary = _bool_parameter(parameters, "binary_data_output", "parameters")
    requested, binary_outputs = _requested_outputs(payload.get("outputs"), spec, default_binary)
    return InferRequest(
        rows=rows,
        request_id=request_id,
        requested_outputs=requested,
        binary_outputs=binary_outputs,
    )


def _decode_tensor(
    tensor: Any,
    where: str,
    spec: ModelSpec,
    may_contain_bool: bool,
    binary: memoryview | None,
) -> tuple[FloatArray, int]:
    """The tensor's rows and how many bytes of ``binary`` it took (0 for JSON data)."""
    if type(tensor) is not dict:
        raise InvalidInput(where, "must be an object with name, shape, datatype and data")
    if type(tensor.get("name")) is not str:
        raise InvalidInput(f"{where}.name", "is required and must be a string")
    shape = tensor.get("shape")
    if not _is_shape(shape):
        raise InvalidInput(f"{where}.shape", "must be a non-empty list of non-negative integers")
    datatype = tensor.get("datatype")
    if type(datatype) is not str or datatype not in _SUPPORTED:
        raise InvalidInput(
            f"{where}.datatype",
            f"must be one of {', '.join(SUPPORTED_DATATYPES)}, got {datatype!r}",
        )
    parameters = tensor.get("parameters")
    size = _binary_data_size(parameters, where)
    data = tensor.get("data", _MISSING)
    if size is not None:
        if data is not _MISSING:
            raise InvalidInput(
                f"{where}.data", "must be absent when parameters.binary_data_size is set"
            )
        field = f"{where}.parameters.binary_data_size"
        if binary is None:
            raise InvalidInput(
                field,
                "is set but the request has no binary part "
                "(no Inference-Header-Content-Length header)",
            )
        if size > len(binary):
            raise InvalidInput(
                field, f"is {size} but only {len(binary)} bytes follow the JSON header"
            )
        array = binary_array(binary[:size], shape, datatype, field)
        return decode_tensor_values(array, shape, datatype, field, f"{where}.shape", spec), size
    field = f"{where}.data"
    if data is _MISSING:
        raise InvalidInput(field, "is required")
    array = numeric_array(data, field, may_contain_bool=may_contain_bool)
    return decode_tensor_values(array, shape, datatype, field, f"{where}.shape", spec), 0


def binary_array(
    raw: bytes | memoryview, shape: list[int], datatype: str, field: str
) -> np.ndarray[Any, Any]:
    """``raw`` read as ``datatype`` elements (a zero-copy view), its length checked first."""
    dtype = WIRE_DTYPES[datatype]
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise InvalidInput(
            field,
            f"{len(raw)} bytes do not hold shape {shape_text(shape)} of {datatype} "
            f"({expected} bytes)",
        )
    return np.frombuffer(raw, dtype=dtype)


def decode_tensor_values(
    array: np.ndarray[Any, Any],
    shape: list[int],
    datatype: str,
    field: str,
    shape_field: str,
    spec: ModelSpec,
) -> FloatArray:
    """Element count, integer bounds, row shape, finiteness and range of one input tensor."""
    expected_size = math.prod(shape)
    if array.size != expected_size:
        raise InvalidInput(
            field, f"has {array.size} elements but shape {shape_text(shape)} needs {expected_size}"
        )
    if datatype in _INT_BOUNDS:
        array = _check_integers(array, datatype, field)
    per_row = spec.input_shape
    rows_shape = tuple(shape)
    if rows_shape == per_row:
        rows_shape = (1, *per_row)
    elif rows_shape[1:] != per_row or rows_shape[0] < 1:
        raise InvalidInput(
            shape_field,
            f"expected [N, {', '.join(map(str, per_row))}] with N >= 1, got {shape_text(shape)}",
        )
    return check_values(array.reshape(rows_shape), field, spec.input_range, single_row=False)


def _binary_data_size(parameters: Any, where: str) -> int | None:
    if parameters is None:
        return None
    if type(parameters) is not dict:
        raise InvalidInput(f"{where}.parameters", "must be an object")
    size = parameters.get("binary_data_size")
    if size is None:
        return None
    if type(size) is not int or size < 0:
        raise InvalidInput(f"{where}.parameters.binary_data_size", "must be a non-negative integer")
    return size


def _bool_parameter(parameters: Any, name: str, where: str) -> bool | None:
    if type(parameters) is not dict:
        return None
    value = parameters.get(name)
    if value is None or type(value) is bool:
        return value
    raise InvalidInput(f"{where}.{name}", "must be true or false")


def _is_shape(value: Any) -> TypeGuard[list[int]]:
    """A non-empty list of non-negative ints (``type is int`` also refuses JSON booleans)."""
    if type(value) is not list or not value:
        return False
    for size in value:  # noqa: SIM110  (a generator per request costs more than the check)
        if type(size) is not int or size < 0:
            return False
    return True


def _check_integers(array: np.ndarray[Any, Any], datatype: str, field: str) -> np.ndarray[Any, Any]:
    if array.dtype.kind not in "iu":
        raise InvalidInput(field, f"must contain integers for datatype {datatype}")
    if array.dtype == WIRE_DTYPES[datatype]:  # binary data: the dtype itself is the bound
        return array
    low, high = _INT_BOUNDS[datatype]
    if array.size and (int(array.min()) < low or int(array.max()) > high):
        raise InvalidInput(field, f"has values outside the {datatype} range [{low}, {high}]")
    return array


def _requested_outputs(
    outputs: Any, spec: ModelSpec, default_binary: bool | None
) -> tuple[tuple[str, ...] | None, frozenset[str]]:
    """(requested output names or None for all, the names answered as binary data)."""
    known = output_names(spec)
    if outputs is None:
        return None, frozenset(known) if default_binary else frozenset()
    if not isinstance(outputs, list):
        raise InvalidInput("outputs", "must be a list of {'name': ...} objects")
    names: list[str] = []
    binary: set[str] = set()
    for index, item in enumerate(outputs):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise InvalidInput(f"outputs[{index}].name", "is required and must be a string")
        if name not in known:
            raise InvalidInput(
                f"outputs[{index}].name",
                f"unknown output {name!r}; this model has {', '.join(known)}",
            )
        assert isinstance(item, dict)
        parameters = item.get("parameters")
        if parameters is not None and type(parameters) is not dict:
            raise InvalidInput(f"outputs[{index}].parameters", "must be an object")
        wants = _bool_parameter(parameters, "binary_data", f"outputs[{index}].parameters")
        if wants or (wants is None and default_binary):
            binary.add(name)
        names.append(name)
    return tuple(names), frozenset(binary)


def encode_infer_response(
    *,
    model_name: str,
    model_version: str,
    request_id: str | None,
    scores: FloatArray,
    classes: np.ndarray[Any, Any] | None,
    confidences: FloatArray | None,
    requested: tuple[str, ...] | None,
) -> dict[str, Any]:
    """The V2 response dict; numpy arrays are left in place for orjson to serialise."""
    tensors: dict[str, dict[str, Any]] = {
        OUTPUT_SCORES: {
            "name": OUTPUT_SCORES,
            "datatype": "FP32",
            "shape": list(scores.shape),
            "data": scores.reshape(-1),
        }
    }
    if classes is not None:
        tensors[OUTPUT_CLASS] = {
            "name": OUTPUT_CLASS,
            "datatype": "INT64",
            "shape": [int(classes.shape[0])],
            "data": classes,
        }
    if confidences is not None:
        tensors[OUTPUT_CONFIDENCE] = {
            "name": OUTPUT_CONFIDENCE,
            "datatype": "FP32",
            "shape": [int(confidences.shape[0])],
            "data": confidences,
        }
    chosen = list(tensors.values()) if requested is None else [tensors[n] for n in requested]
    response: dict[str, Any] = {
        "model_name": model_name,
        "model_version": model_version,
        "outputs": chosen,
    }
    if request_id is not None:
        response["id"] = request_id
    return response


def model_metadata(served_name: str, spec: ModelSpec) -> dict[str, Any]:
    outputs: list[dict[str, Any]] = [
        {"name": OUTPUT_SCORES, "datatype": "FP32", "shape": [-1, *spec.output_shape]}
    ]
    if spec.is_classifier:
        outputs.append({"name": OUTPUT_CLASS, "datatype": "INT64", "shape": [-1]})
        outputs.append({"name": OUTPUT_CONFIDENCE, "datatype": "FP32", "shape": [-1]})
    return {
        "name": served_name,
        "versions": [spec.version],
        "platform": PLATFORM,
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, *spec.input_shape]}],
        "outputs": outputs,
    }


def server_metadata(server_version: str) -> dict[str, Any]:
    return {"name": "axiom", "version": server_version, "extensions": list(EXTENSIONS)}


def binary_response(response: dict[str, Any], binary_outputs: frozenset[str]) -> list[bytes]:
    """Move the data of ``binary_outputs`` out of ``response`` (in place) into raw chunks.

    Each moved output gets ``parameters.binary_data_size`` instead of ``data``; the chunks
    follow the JSON header in the order of ``response["outputs"]``, as the extension says.
    """
    chunks: list[bytes] = []
    for tensor in response["outputs"]:
        if tensor["name"] not in binary_outputs:
            continue
        dtype = WIRE_DTYPES[tensor["datatype"]]
        raw = np.ascontiguousarray(tensor.pop("data"), dtype=dtype).tobytes()
        tensor["parameters"] = {"binary_data_size": len(raw)}
        chunks.append(raw)
    return chunks
