"""``model.json``: the declarative half of a ``.axiom`` package, parsed into frozen dataclasses.

Parsing is strict on purpose. A package is an artefact that crosses trust boundaries (a data
scientist's laptop, a model registry, a cluster), so a field that is missing, misspelled or
of the wrong type is an error that names the field, never a default that silently changes
what the model computes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from axiom_runtime.errors import PackageError

MODEL_FORMAT = "axiom-model"
MODEL_FORMAT_VERSION = 1
TASKS = ("classification", "regression")
SUPPORTED_DTYPES = ("float32",)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]{0,127}$")
WEIGHT_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class LayerSpec:
    """One entry of ``layers``: its type, its scalar parameters, and role -> weight name."""

    type: str
    params: Mapping[str, Any] = field(default_factory=dict)
    weights: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    """Everything ``model.json`` declares about a model."""

    # Field order is the one in coord/CONTRACT-runtime-core.md, for positional callers.
    name: str
    version: str
    input_shape: tuple[int, ...]  # per row, without the batch axis
    output_shape: tuple[int, ...]
    input_dtype: str  # "float32"
    output_dtype: str
    input_range: tuple[float, float] | None
    task: str  # "classification" | "regression"
    labels: tuple[str, ...] | None
    layers: tuple[LayerSpec, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_classifier(self) -> bool:
        """Whether answers carry a class and its probability: what ``task`` declares.

        Declared, never guessed from the layers: a regression model may end in ``sigmoid``
        (a bounded score) and a classifier may end in a plain ``dense`` (logits), so no final
        layer decides it. The final layer decides only how scores become probabilities
        (:func:`axiom_runtime.engine.class_probabilities`). A ``model.json`` without ``task``
        is a classifier, as it always was.
        """
        return self.task == "classification"


def weight_member(name: str) -> str:
    """The zip member that holds the weight called ``name``."""
    return f"weights/{name}.npy"


def _require(doc: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in doc:
        raise PackageError(f"model.json: missing field '{where}{key}'")
    return doc[key]


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in value
    ):
        raise PackageError(
            f"model.json: '{where}' must be a list of positive integers, got {value!r}"
        )
    if math.prod(value) > 2**31:
        raise PackageError(f"model.json: '{where}' {value} is unreasonably large")
    return tuple(value)


def _dtype(value: Any, where: str) -> str:
    if value not in SUPPORTED_DTYPES:
        raise PackageError(
            f"model.json: '{where}' must be one of {list(SUPPORTED_DTYPES)}, got {value!r}"
        )
    return str(value)


def _string(value: Any, pattern: re.Pattern[str], where: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise PackageError(f"model.json: '{where}' must match {pattern.pattern}, got {value!r}")
    return value


def _range(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
        or value[0] > value[1]
    ):
        raise PackageError(
            f"model.json: 'input.range' must be [low, high] with low <= high, got {value!r}"
        )
    return float(value[0]), float(value[1])


def _layer(index: int, doc: Any) -> LayerSpec:
    where = f"layers[{index}]"
    if not isinstance(doc, dict):
        raise PackageError(f"model.json: '{where}' must be an object, got {type(doc).__name__}")
    unknown = sorted(set(doc) - {"type", "params", "weights"})
    if unknown:
        raise PackageError(f"model.json: '{where}' has unknown field(s) {unknown}")
    layer_type = doc.get("type")
    if not isinstance(layer_type, str) or not layer_type:
        raise PackageError(f"model.json: '{where}.type' must be a non-empty string")
    params = doc.get("params", {})
    if not isinstance(params, dict):
        raise PackageError(f"model.json: '{where}.params' ({layer_type}) must be an object")
    weights = doc.get("weights", {})
    if not isinstance(weights, dict):
        raise PackageError(f"model.json: '{where}.weights' ({layer_type}) must be an object")
    for role, name in weights.items():
        _string(name, WEIGHT_NAME_PATTERN, f"{where}.weights.{role}")
    return LayerSpec(layer_type, dict(params), dict(weights))


def spec_from_dict(doc: Any) -> ModelSpec:
    """Validate a parsed ``model.json`` document and return the spec it declares."""
    if not isinstance(doc, dict):
        raise PackageError("model.json: the document must be a JSON object")
    if doc.get("format") != MODEL_FORMAT:
        raise PackageError(
            f"model.json: 'format' must be {MODEL_FORMAT!r}, got {doc.get('format')!r}"
        )
    if doc.get("format_version") != MODEL_FORMAT_VERSION:
        raise PackageError(
            f"model.json: 'format_version' {doc.get('format_version')!r} is not supported "
            f"(this runtime reads version {MODEL_FORMAT_VERSION})"
        )
    io_in = _require(doc, "input", "")
    io_out = _require(doc, "output", "")
    if not isinstance(io_in, dict) or not isinstance(io_out, dict):
        raise PackageError("model.json: 'input' and 'output' must be objects")
    task = doc.get("task", "classification")
    if task not in TASKS:
        raise PackageError(f"model.json: 'task' must be one of {list(TASKS)}, got {task!r}")
    output_shape = _shape(_require(io_out, "shape", "output."), "output.shape")
    labels = io_out.get("labels")
    if labels is not None:
        if not isinstance(labels, list) or not all(isinstance(lab, str) for lab in labels):
            raise PackageError("model.json: 'output.labels' must be a list of strings")
        if len(labels) != math.prod(output_shape):
            raise PackageError(
                f"model.json: 'output.labels' has {len(labels)} entries but the output has "
                f"{math.prod(output_shape)} values per row"
            )
    layers = _require(doc, "layers", "")
    if not isinstance(layers, list) or not layers:
        raise PackageError("model.json: 'layers' must be a non-empty list")
    metadata = doc.get("metadata", {})
    if not isinstance(metadata, dict):
        raise PackageError("model.json: 'metadata' must be an object")
    return ModelSpec(
        name=_string(_require(doc, "name", ""), NAME_PATTERN, "name"),
        version=_string(_require(doc, "version", ""), VERSION_PATTERN, "version"),
        input_shape=_shape(_require(io_in, "shape", "input."), "input.shape"),
        output_shape=output_shape,
        layers=tuple(_layer(i, layer) for i, layer in enumerate(layers)),
        input_dtype=_dtype(io_in.get("dtype", "float32"), "input.dtype"),
        output_dtype=_dtype(io_out.get("dtype", "float32"), "output.dtype"),
        input_range=_range(io_in.get("range")),
        task=task,
        labels=None if labels is None else tuple(labels),
        metadata=metadata,
    )


def spec_to_dict(spec: ModelSpec) -> dict[str, Any]:
    """The ``model.json`` document for ``spec`` (inverse of :func:`spec_from_dict`)."""
    io_in: dict[str, Any] = {"shape": list(spec.input_shape), "dtype": spec.input_dtype}
    if spec.input_range is not None:
        io_in["range"] = list(spec.input_range)
    io_out: dict[str, Any] = {"shape": list(spec.output_shape), "dtype": spec.output_dtype}
    if spec.labels is not None:
        io_out["labels"] = list(spec.labels)
    doc: dict[str, Any] = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "name": spec.name,
        "version": spec.version,
        "task": spec.task,
        "input": io_in,
        "output": io_out,
        "layers": [_layer_to_dict(layer) for layer in spec.layers],
    }
    if spec.metadata:
        doc["metadata"] = dict(spec.metadata)
    return doc


def _layer_to_dict(layer: LayerSpec) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": layer.type}
    if layer.params:
        doc["params"] = dict(layer.params)
    if layer.weights:
        doc["weights"] = dict(layer.weights)
    return doc


def referenced_weights(layers: Sequence[LayerSpec]) -> set[str]:
    return {name for layer in layers for name in layer.weights.values()}
