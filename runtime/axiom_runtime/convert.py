"""Converters from the places models are trained into an Axiom ``(ModelSpec, weights)`` pair.

Two sources: a fitted scikit-learn ``MLPClassifier``/``MLPRegressor`` (read through its public
``coefs_``/``intercepts_`` attributes; scikit-learn itself is never imported here), and the
``axiom.pytorch.sequential.v1`` JSON descriptor, a framework-neutral dump of a PyTorch
``nn.Sequential`` with weights as nested lists, which any exporter can write without Axiom.
Both produce a spec that is compiled (so shape-checked) before it is returned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from axiom_runtime.engine import compile_layers, infer_output_shape
from axiom_runtime.errors import ConversionError, PackageError
from axiom_runtime.layers import FloatArray
from axiom_runtime.spec import LayerSpec, ModelSpec, spec_from_dict, spec_to_dict

DESCRIPTOR_FORMAT = "axiom.pytorch.sequential.v1"

Converted = tuple[ModelSpec, dict[str, FloatArray]]

_SKLEARN_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": None}


def _f32(value: Any, where: str) -> FloatArray:
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ConversionError(f"{where}: not a regular array of numbers ({exc})") from None
    if not np.isfinite(array).all():
        raise ConversionError(f"{where}: contains NaN or infinity")
    return np.ascontiguousarray(array)


def _finish(
    name: str,
    version: str,
    input_shape: tuple[int, ...],
    layers: list[LayerSpec],
    weights: dict[str, FloatArray],
    *,
    task: str,
    labels: tuple[str, ...] | None,
    input_range: tuple[float, float] | None,
    metadata: Mapping[str, Any] | None,
) -> Converted:
    try:
        output_shape = infer_output_shape(layers, weights, input_shape)
        if labels is not None and len(labels) != math.prod(output_shape):
            raise ConversionError(
                f"{len(labels)} labels given but the model outputs {math.prod(output_shape)} values per row"
            )
        declared = ModelSpec(
            name=name,
            version=version,
            input_shape=input_shape,
            output_shape=output_shape,
            input_dtype="float32",
            output_dtype="float32",
            layers=tuple(layers),
            input_range=input_range,
            task=task,
            labels=labels,
            metadata=dict(metadata or {}),
        )
        # The round trip applies model.json's validation (name, version, task) to converted models.
        spec = spec_from_dict(spec_to_dict(declared))
        compile_layers(spec.layers, weights, spec.input_shape, spec.output_shape)
    except PackageError as exc:
        raise ConversionError(str(exc)) from None
    return spec, weights


# --- scikit-learn -------------------------------------------------------------------------------


def from_sklearn(
    model: Any,
    *,
    name: str,
    version: str,
    input_range: tuple[float, float] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Converted:
    """Convert a fitted ``MLPClassifier`` or ``MLPRegressor``.

    The package reproduces ``predict_proba`` (classifier) or ``predict`` (regressor). A binary
    classifier's single logistic unit becomes two softmax outputs ``[1 - p, p]``, since
    ``softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)]``, so every classifier package answers one
    probability per class.
    """
    kind = type(model).__name__
    if kind not in ("MLPClassifier", "MLPRegressor"):
        raise ConversionError(f"expected an MLPClassifier or MLPRegressor, got {kind}")
    if not hasattr(model, "coefs_"):
        raise ConversionError(f"the {kind} is not fitted (it has no coefs_)")
    hidden = _SKLEARN_ACTIVATIONS.get(model.activation, "unsupported")
    if hidden == "unsupported":
        raise ConversionError(f"hidden activation {model.activation!r} is not supported")
    coefs = [_f32(c, f"coefs_[{i}]") for i, c in enumerate(model.coefs_)]
    intercepts = [_f32(b, f"intercepts_[{i}]") for i, b in enumerate(model.intercepts_)]
    layers: list[LayerSpec] = []
    weights: dict[str, FloatArray] = {}

    def dense(weight: FloatArray, bias: FloatArray) -> None:
        index = len(layers)
        weights[f"{index}.weight"], weights[f"{index}.bias"] = weight, bias
        layers.append(
            LayerSpec("dense", {}, {"weight": f"{index}.weight", "bias": f"{index}.bias"})
        )

    for weight, bias in zip(coefs[:-1], intercepts[:-1], strict=True):
        dense(weight, bias)
        if hidden is not None:
            layers.append(LayerSpec(hidden))
    last_w, last_b = coefs[-1], intercepts[-1]
    output = model.out_activation_
    labels: tuple[str, ...] | None = None
    if kind == "MLPClassifier":
        classes = np.asarray(model.classes_)
        if classes.ndim == 1:
            labels = tuple(str(c) for c in classes.tolist())
        if output == "logistic" and last_w.shape[1] == 1:
            last_w = np.concatenate([np.zeros_like(last_w), last_w], axis=1)
            last_b = np.concatenate([np.zeros_like(last_b), last_b])
            output = "softmax"
    dense(last_w, last_b)
    final = {"softmax": "softmax", "logistic": "sigmoid", "identity": None}.get(output, "bad")
    if final == "bad":
        raise ConversionError(f"output activation {output!r} is not supported")
    if final is not None:
        layers.append(LayerSpec(final))
    return _finish(
        name,
        version,
        (int(coefs[0].shape[0]),),
        layers,
        weights,
        task="classification" if kind == "MLPClassifier" else "regression",
        labels=labels,
        input_range=input_range,
        metadata={"converted_from": f"sklearn.{kind}", **(metadata or {})},
    )


# --- the axiom.pytorch.sequential.v1 descriptor -------------------------------------------------

# PyTorch module names and their Axiom layer types.
_TYPE_NAMES = {
    "linear": "linear",
    "conv2d": "conv2d",
    "maxpool2d": "maxpool2d",
    "avgpool2d": "avgpool2d",
    "adaptiveavgpool2d": "global_avg_pool2d",
    "global_avg_pool2d": "global_avg_pool2d",
    "flatten": "flatten",
    "reshape": "reshape",
    "unflatten": "reshape",
    "batchnorm1d": "batchnorm",
    "batchnorm2d": "batchnorm",
    "batchnorm": "batchnorm",
    "layernorm": "layernorm",
    "dropout": "dropout",
    "relu": "relu",
    "leakyrelu": "leaky_relu",
    "leaky_relu": "leaky_relu",
    "gelu": "gelu",
    "elu": "elu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "softmax": "softmax",
    "logsoftmax": "log_softmax",
    "log_softmax": "log_softmax",
}
# Array fields in the descriptor -> weight roles in the package.
_ARRAY_FIELDS = {"weight": "weight", "bias": "bias", "running_mean": "mean", "running_var": "var"}
# Fields PyTorch exports that change nothing at inference when they hold these values.
_NEUTRAL_FIELDS: dict[str, tuple[Any, ...]] = {
    "inplace": (True, False),
    "momentum": (None,),
    "track_running_stats": (True, False),
    "affine": (True, False),
    "elementwise_affine": (True, False),
    "num_batches_tracked": (),
    "dilation": (1, [1, 1]),
    "groups": (1,),
    "ceil_mode": (False,),
    "padding_mode": ("zeros",),
    "count_include_pad": (True,),
    "end_dim": (-1,),
    "start_dim": (1,),
}


def _descriptor_layer(index: int, doc: Any, weights: dict[str, FloatArray]) -> LayerSpec:
    if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
        raise ConversionError(f"layers[{index}]: must be an object with a string 'type'")
    source_type = doc["type"]
    layer_type = _TYPE_NAMES.get(source_type.lower().replace("-", "_"))
    if layer_type is None:
        raise ConversionError(f"layers[{index}] ({source_type}): unsupported layer type")
    params: dict[str, Any] = {}
    roles: dict[str, str] = {}
    for key, value in doc.items():
        if key == "type":
            continue
        if key in _ARRAY_FIELDS and isinstance(value, list):
            role = _ARRAY_FIELDS[key]
            weights[f"{index}.{role}"] = _f32(value, f"layers[{index}] ({source_type}).{key}")
            roles[role] = f"{index}.{role}"
        elif key in _NEUTRAL_FIELDS:
            if key == "num_batches_tracked" or value in _NEUTRAL_FIELDS[key]:
                continue
            raise ConversionError(
                f"layers[{index}] ({source_type}): {key}={value!r} is not supported"
            )
        elif key in ("bias",) and value in (None, False):
            continue
        else:
            params[key] = value
    if layer_type in ("softmax", "log_softmax") and "dim" in params:
        # PyTorch counts the batch axis; Axiom axes are within a row.
        dim = params.pop("dim")
        params["axis"] = dim - 1 if isinstance(dim, int) and dim > 0 else dim
    if layer_type == "global_avg_pool2d":
        size = params.pop("output_size", 1)
        if size not in (1, [1, 1], (1, 1)):
            raise ConversionError(
                f"layers[{index}] ({source_type}): only output_size 1 (global pooling) is supported"
            )
    if layer_type == "reshape" and "unflattened_size" in params:
        params = {"shape": list(params.pop("unflattened_size"))}
    return LayerSpec(layer_type, params, roles)


def from_sequential_descriptor(
    doc: Mapping[str, Any], *, name: str | None = None, version: str | None = None
) -> Converted:
    """Convert an ``axiom.pytorch.sequential.v1`` descriptor (already parsed from JSON).

    Layout: ``{"format": "axiom.pytorch.sequential.v1", "name", "version", "input_shape",
    "task"?, "labels"?, "input_range"?, "layers": [{"type": "linear", "in_features",
    "out_features", "weight": [[...]], "bias": [...]}, {"type": "relu"}, ...]}``. Layer types
    and field names are PyTorch's (``Linear``/``linear``, ``running_mean``, ``dim``...).
    """
    if doc.get("format") != DESCRIPTOR_FORMAT:
        raise ConversionError(
            f"descriptor 'format' must be {DESCRIPTOR_FORMAT!r}, got {doc.get('format')!r}"
        )
    model_name = name or doc.get("name")
    model_version = version or doc.get("version")
    if not isinstance(model_name, str) or not isinstance(model_version, str):
        raise ConversionError(
            "descriptor: 'name' and 'version' are required (or pass them explicitly)"
        )
    input_shape = doc.get("input_shape")
    if not isinstance(input_shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in input_shape
    ):
        raise ConversionError(
            f"descriptor: 'input_shape' must be a list of positive integers, got {input_shape!r}"
        )
    raw_layers = doc.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise ConversionError("descriptor: 'layers' must be a non-empty list")
    weights: dict[str, FloatArray] = {}
    layers = [_descriptor_layer(i, layer, weights) for i, layer in enumerate(raw_layers)]
    labels = doc.get("labels")
    input_range = doc.get("input_range")
    return _finish(
        model_name,
        model_version,
        tuple(input_shape),
        layers,
        weights,
        task=str(doc.get("task", "classification")),
        labels=tuple(str(x) for x in labels) if isinstance(labels, list) else None,
        input_range=(float(input_range[0]), float(input_range[1]))
        if isinstance(input_range, list) and len(input_range) == 2
        else None,
        metadata={"converted_from": DESCRIPTOR_FORMAT},
    )
