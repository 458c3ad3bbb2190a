"""Normalisation: ``batchnorm`` folded into one scale and shift at load, ``layernorm`` over
the trailing axes.
"""

from __future__ import annotations

import numpy as np

from axiom_runtime.layers.registry import (
    BoundLayer,
    FloatArray,
    LayerInput,
    Shape,
    as_f32,
    bound,
    register,
)


@register("batchnorm", params=("eps", "num_features"), weights=("mean", "var", "weight", "bias"))
def _batchnorm(spec: LayerInput) -> BoundLayer:
    if not spec.input_shape:
        raise spec.error("expects a channel axis, got a scalar row")
    channels = spec.input_shape[0]
    if spec.int_param("num_features", channels, minimum=1) != channels:
        raise spec.error(
            f"num_features is {spec.params['num_features']} but the input has {channels} channels"
        )
    eps = spec.float_param("eps", 1e-5)
    mean = spec.weight("mean", (channels,))
    var = spec.weight("var", (channels,))
    gamma = spec.optional_weight("weight", (channels,))
    beta = spec.optional_weight("bias", (channels,))
    if np.any(var < 0):
        raise spec.error("weight 'var' has negative entries")
    # Fold the four vectors into one scale and one shift: two array ops per call.
    scale64 = (1.0 if gamma is None else gamma.astype(np.float64)) / np.sqrt(
        var.astype(np.float64) + eps
    )
    shift64 = (0.0 if beta is None else beta.astype(np.float64)) - mean.astype(np.float64) * scale64
    broadcast = (channels,) + (1,) * (len(spec.input_shape) - 1)
    scale = np.asarray(scale64, dtype=np.float32).reshape(broadcast)
    shift = np.asarray(shift64, dtype=np.float32).reshape(broadcast)

    def forward(x: FloatArray) -> FloatArray:
        y = x * scale
        y += shift
        return y

    return bound(spec, spec.input_shape, forward, mean, var, gamma, beta)


@register("layernorm", params=("eps", "normalized_shape"), weights=("weight", "bias"))
def _layernorm(spec: LayerInput) -> BoundLayer:
    if not spec.input_shape:
        raise spec.error("expects at least one axis to normalise, got a scalar row")
    declared = spec.params.get("normalized_shape", [spec.input_shape[-1]])
    if isinstance(declared, int) and not isinstance(declared, bool):
        declared = [declared]
    rank = len(declared) if isinstance(declared, list | tuple) else 0
    if not 1 <= rank <= len(spec.input_shape) or tuple(declared) != spec.input_shape[-rank:]:
        raise spec.error(
            f"normalized_shape {declared!r} must equal the trailing axes of the input shape {list(spec.input_shape)}"
        )
    normalized: Shape = tuple(int(d) for d in declared)
    eps = np.float32(spec.float_param("eps", 1e-5))
    gamma = spec.optional_weight("weight", normalized)
    beta = spec.optional_weight("bias", normalized)
    axes = tuple(range(-rank, 0))

    def forward(x: FloatArray) -> FloatArray:
        mean = np.mean(x, axis=axes, keepdims=True, dtype=np.float32)
        centered = x - mean
        var = np.mean(np.square(centered), axis=axes, keepdims=True, dtype=np.float32)
        y = centered / np.sqrt(var + eps)
        if gamma is not None:
            y *= gamma
        if beta is not None:
            y += beta
        return as_f32(y)

    return bound(spec, spec.input_shape, forward, gamma, beta)
