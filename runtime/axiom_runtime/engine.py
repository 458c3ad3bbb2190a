"""The compiled model: layers bound to weights and shapes, run as one vectorised pass.

Compilation walks the layers once with the declared per-row input shape, so every shape
error surfaces at load time with the layer that caused it. ``run`` is then a plain loop over
a handful of closures, each a few numpy calls on the whole batch: no per-row Python code,
float32 throughout, and no mutable state, so one compiled model serves many threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from axiom_runtime.errors import PackageError
from axiom_runtime.layers import BoundLayer, FloatArray, Shape, as_f32, build_layer, softmax
from axiom_runtime.spec import LayerSpec, weight_member


@dataclass(frozen=True)
class CompiledModel:
    input_shape: Shape
    output_shape: Shape
    layers: tuple[BoundLayer, ...]

    @property
    def parameter_count(self) -> int:
        return sum(layer.parameter_count for layer in self.layers)

    def run(self, batch: FloatArray) -> FloatArray:
        """Forward pass of an already validated float32 batch of shape (N, *input_shape)."""
        x = batch
        for layer in self.layers:
            x = layer.forward(x)
        return as_f32(x)


def _bind(
    index: int, spec: LayerSpec, weights: Mapping[str, FloatArray], shape: Shape
) -> BoundLayer:
    arrays: dict[str, FloatArray] = {}
    for role, name in spec.weights.items():
        if name not in weights:
            raise PackageError(
                f"layer {index} ({spec.type}): weight '{role}' refers to "
                f"{weight_member(name)}, which is not in the package"
            )
        arrays[role] = weights[name]
    return build_layer(index, spec.type, spec.params, arrays, shape)


def compile_layers(
    layers: Sequence[LayerSpec],
    weights: Mapping[str, FloatArray],
    input_shape: Shape,
    output_shape: Shape,
) -> CompiledModel:
    """Bind ``layers`` to ``weights`` (by name), checking every shape from ``input_shape`` on."""
    bound: list[BoundLayer] = []
    shape = input_shape
    for index, spec in enumerate(layers):
        layer = _bind(index, spec, weights, shape)
        bound.append(layer)
        shape = layer.output_shape
    if shape != output_shape:
        last = len(layers) - 1
        raise PackageError(
            f"layer {last} ({layers[last].type}): the layers produce rows of shape {list(shape)} "
            f"but model.json declares output shape {list(output_shape)}"
        )
    return CompiledModel(input_shape, output_shape, tuple(bound))


def infer_output_shape(
    layers: Sequence[LayerSpec], weights: Mapping[str, FloatArray], input_shape: Shape
) -> Shape:
    """The per-row output shape ``layers`` produce from ``input_shape`` (checking them all)."""
    shape = input_shape
    for index, spec in enumerate(layers):
        shape = _bind(index, spec, weights, shape).output_shape
    return shape


def class_probabilities(outputs: FloatArray, last_layer_type: str) -> FloatArray:
    """Per-class probabilities of a classifier's (N, classes) output, whatever its last layer."""
    if last_layer_type in ("softmax", "sigmoid"):
        return outputs
    if last_layer_type == "log_softmax":
        return as_f32(np.exp(outputs))
    return softmax(outputs, axis=-1)
