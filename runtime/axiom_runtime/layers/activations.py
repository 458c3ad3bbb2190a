"""Elementwise activations and the (log-)softmax, plus the :func:`softmax` and :func:`erf`
helpers the engine and GELU use.
"""

from __future__ import annotations

import math

import numpy as np

from axiom_runtime.layers.registry import (
    BoundLayer,
    FloatArray,
    Forward,
    LayerInput,
    as_f32,
    bound,
    register,
)


def _elementwise(spec: LayerInput, function: Forward) -> BoundLayer:
    return bound(spec, spec.input_shape, function)


def _sigmoid(x: FloatArray) -> FloatArray:
    # exp of a non-positive number never overflows, whatever the sign of x.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32, copy=False)


def erf(x: FloatArray) -> FloatArray:
    """Error function (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7: below float32 resolution).

    numpy has no erf and the runtime must not need scipy just for exact GELU.
    """
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return as_f32(sign * (1.0 - poly * np.exp(-a * a)))


@register("relu")
def _relu(spec: LayerInput) -> BoundLayer:
    return _elementwise(spec, lambda x: np.maximum(x, np.float32(0)))


@register("leaky_relu", params=("negative_slope",))
def _leaky_relu(spec: LayerInput) -> BoundLayer:
    slope = np.float32(spec.float_param("negative_slope", 0.01))
    return _elementwise(spec, lambda x: np.where(x >= 0, x, x * slope))


@register("elu", params=("alpha",))
def _elu(spec: LayerInput) -> BoundLayer:
    alpha = np.float32(spec.float_param("alpha", 1.0))
    return _elementwise(spec, lambda x: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))))


@register("gelu", params=("approximate",))
def _gelu(spec: LayerInput) -> BoundLayer:
    approximate = spec.params.get("approximate", "none")
    if approximate == "none":
        inv_sqrt2 = np.float32(1 / math.sqrt(2))
        return _elementwise(spec, lambda x: 0.5 * x * (1.0 + erf(x * inv_sqrt2)))
    if approximate == "tanh":
        c = np.float32(math.sqrt(2 / math.pi))
        return _elementwise(
            spec, lambda x: as_f32(0.5 * x * (1.0 + np.tanh(c * (x + 0.044715 * x**3))))
        )
    raise spec.error(f"parameter 'approximate' must be 'none' or 'tanh', got {approximate!r}")


@register("sigmoid")
def _sigmoid_layer(spec: LayerInput) -> BoundLayer:
    return _elementwise(spec, _sigmoid)


@register("tanh")
def _tanh(spec: LayerInput) -> BoundLayer:
    return _elementwise(spec, np.tanh)


def softmax(x: FloatArray, axis: int = -1) -> FloatArray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    e /= np.sum(e, axis=axis, keepdims=True)
    return as_f32(e)


@register("softmax", params=("axis",))
def _softmax(spec: LayerInput) -> BoundLayer:
    axis = spec.row_axis()
    return _elementwise(spec, lambda x: softmax(x, axis))


@register("log_softmax", params=("axis",))
def _log_softmax(spec: LayerInput) -> BoundLayer:
    axis = spec.row_axis()

    def forward(x: FloatArray) -> FloatArray:
        shifted = x - np.max(x, axis=axis, keepdims=True)
        return as_f32(shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True)))

    return _elementwise(spec, forward)
