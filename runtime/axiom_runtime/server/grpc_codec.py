"""Open Inference Protocol gRPC codec: ``ModelInferRequest`` in, ``ModelInferResponse`` out.

The gRPC twin of :mod:`axiom_runtime.server.v2` (the JSON codec), pure and without I/O. A
tensor's elements arrive either in its typed ``contents`` field (the one field the protocol
gives its datatype: ``fp32_contents`` for FP32, ``int_contents`` for INT8/16/32, ...) or as
little-endian bytes in ``raw_input_contents`` (what tritonclient sends); both then go through
:func:`v2.decode_tensor_values`, so HTTP and gRPC hold a tensor to the same rules. Field
names in errors are the protobuf ones (``inputs[0].contents.fp32_contents``).

Outputs are answered in ``raw_output_contents``, as Triton does: one bytes copy per output
instead of a Python-level repeated field, and every V2 client reads it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from axiom_runtime.errors import InvalidInput
from axiom_runtime.package import ModelSpec
from axiom_runtime.server import v2
from axiom_runtime.server.protocol import open_inference_pb2 as pb

# The typed contents field of each datatype (FP16 has none: raw_input_contents only).
CONTENTS_FIELD: dict[str, str] = {
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
}
# The numpy type of each contents field, so the values keep their exact integer type.
_FIELD_DTYPE: dict[str, np.dtype[Any]] = {
    "fp32_contents": np.dtype(np.float32),
    "fp64_contents": np.dtype(np.float64),
    "int_contents": np.dtype(np.int32),
    "int64_contents": np.dtype(np.int64),
    "uint_contents": np.dtype(np.uint32),
    "uint64_contents": np.dtype(np.uint64),
}
_ALL_FIELDS = (*_FIELD_DTYPE, "bool_contents", "bytes_contents")


def decode_model_infer(request: pb.ModelInferRequest, spec: ModelSpec) -> v2.InferRequest:
    """The validated batch of a ModelInferRequest, or InvalidInput naming the protobuf field."""
    inputs = request.inputs
    if len(inputs) != 1:
        raise InvalidInput("inputs", f"the model takes one input tensor, got {len(inputs)}")
    raw = request.raw_input_contents
    if raw and len(raw) != len(inputs):
        raise InvalidInput(
            "raw_input_contents",
            f"has {len(raw)} entries for {len(inputs)} inputs (one per input, in order)",
        )
    tensor = inputs[0]
    where = "inputs[0]"
    shape = list(tensor.shape)
    if not shape or min(shape) < 0:
        raise InvalidInput(f"{where}.shape", "must be a non-empty list of non-negative integers")
    datatype = tensor.datatype
    if datatype not in v2.WIRE_DTYPES:
        raise InvalidInput(
            f"{where}.datatype",
            f"must be one of {', '.join(v2.SUPPORTED_DATATYPES)}, got {datatype!r}",
        )
    if raw:
        _require_no_contents(tensor, where)
        field = "raw_input_contents[0]"
        array = v2.binary_array(raw[0], shape, datatype, field)
    else:
        field, array = _typed_contents(tensor, datatype, where)
    rows = v2.decode_tensor_values(array, shape, datatype, field, f"{where}.shape", spec)
    return v2.InferRequest(
        rows=rows,
        request_id=request.id or None,
        requested_outputs=_requested_outputs(request, spec),
    )


def _typed_contents(
    tensor: pb.ModelInferRequest.InferInputTensor, datatype: str, where: str
) -> tuple[str, np.ndarray[Any, Any]]:
    expected = CONTENTS_FIELD.get(datatype)
    for name in _ALL_FIELDS:
        if name != expected and len(getattr(tensor.contents, name)):
            hint = f"use {expected}" if expected else "send FP16 in raw_input_contents"
            raise InvalidInput(
                f"{where}.contents.{name}", f"does not carry datatype {datatype}: {hint}"
            )
    if expected is None:
        raise InvalidInput(
            "raw_input_contents", f"is required for datatype {datatype} (no typed contents field)"
        )
    values = getattr(tensor.contents, expected)
    return f"{where}.contents.{expected}", np.array(values, dtype=_FIELD_DTYPE[expected])


def _require_no_contents(tensor: pb.ModelInferRequest.InferInputTensor, where: str) -> None:
    for name in _ALL_FIELDS:
        if len(getattr(tensor.contents, name)):
            raise InvalidInput(
                f"{where}.contents.{name}",
                "must be empty when the input is sent in raw_input_contents",
            )


def _requested_outputs(request: pb.ModelInferRequest, spec: ModelSpec) -> tuple[str, ...] | None:
    if not request.outputs:
        return None
    known = v2.output_names(spec)
    names: list[str] = []
    for index, output in enumerate(request.outputs):
        if output.name not in known:
            raise InvalidInput(
                f"outputs[{index}].name",
                f"unknown output {output.name!r}; this model has {', '.join(known)}",
            )
        names.append(output.name)
    return tuple(names)


def encode_model_infer(response: dict[str, Any]) -> pb.ModelInferResponse:
    """The V2 response dict (:func:`v2.encode_infer_response`) as a ModelInferResponse."""
    outputs = []
    raw = []
    for tensor in response["outputs"]:
        datatype = tensor["datatype"]
        outputs.append(
            pb.ModelInferResponse.InferOutputTensor(
                name=tensor["name"], datatype=datatype, shape=tensor["shape"]
            )
        )
        raw.append(np.ascontiguousarray(tensor["data"], dtype=v2.WIRE_DTYPES[datatype]).tobytes())
    return pb.ModelInferResponse(
        model_name=response["model_name"],
        model_version=response["model_version"],
        id=response.get("id") or "",
        outputs=outputs,
        raw_output_contents=raw,
    )


def answer_document(response: pb.ModelInferResponse) -> dict[str, Any]:
    """A ModelInferResponse (raw contents, as this runtime answers) as the V2 JSON answer,
    ``outputs`` with name, shape and data: what the shadow comparison reads. A tensor whose
    bytes are missing or do not fit its shape has no ``data`` (uncomparable)."""
    raw = response.raw_output_contents
    outputs: list[dict[str, Any]] = []
    for index, tensor in enumerate(response.outputs):
        document: dict[str, Any] = {"name": tensor.name, "shape": list(tensor.shape)}
        dtype = v2.WIRE_DTYPES.get(tensor.datatype)
        if dtype is not None and index < len(raw):
            data = np.frombuffer(raw[index], dtype=dtype)
            if data.size == int(np.prod(tensor.shape, dtype=np.int64)):
                document["data"] = data.tolist()
        outputs.append(document)
    return {"outputs": outputs}


def model_metadata(document: dict[str, Any]) -> pb.ModelMetadataResponse:
    """:func:`v2.model_metadata`'s document as a ModelMetadataResponse."""

    def tensors(items: list[dict[str, Any]]) -> list[pb.ModelMetadataResponse.TensorMetadata]:
        return [
            pb.ModelMetadataResponse.TensorMetadata(
                name=item["name"], datatype=item["datatype"], shape=item["shape"]
            )
            for item in items
        ]

    return pb.ModelMetadataResponse(
        name=document["name"],
        versions=document["versions"],
        platform=document["platform"],
        inputs=tensors(document["inputs"]),
        outputs=tensors(document["outputs"]),
    )
