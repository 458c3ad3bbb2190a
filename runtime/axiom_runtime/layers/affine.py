"""Affine layers: ``dense`` with (in, out) weights as in scikit-learn, ``linear`` with (out, in)
weights as in PyTorch; both run as one GEMM on a contiguous (in, out) matrix.
"""

from __future__ import annotations

import numpy as np

from axiom_runtime.layers.registry import BoundLayer, FloatArray, LayerInput, bound, register


def _affine(spec: LayerInput, weight_in_out: FloatArray, bias: FloatArray | None) -> BoundLayer:
    # A contiguous (in, out) matrix makes `x @ w` a single GEMM with no per-call transpose.
    w = np.ascontiguousarray(weight_in_out, dtype=np.float32)
    out_features = int(w.shape[1])

    if bias is None:

        def forward(x: FloatArray) -> FloatArray:
            return x @ w

    else:
        b = np.ascontiguousarray(bias, dtype=np.float32)

        def forward(x: FloatArray) -> FloatArray:
            y = x @ w
            y += b
            return y

    return bound(spec, (*spec.input_shape[:-1], out_features), forward, w, bias)


def _features_in(spec: LayerInput) -> int:
    if not spec.input_shape:
        raise spec.error("expects at least one feature axis, got a scalar row")
    return spec.input_shape[-1]


def _axis_size_or_one(matrix: FloatArray, axis: int) -> int:
    # A weight of the wrong rank yields 1 here, so the shape check below reports the mismatch.
    return int(matrix.shape[axis]) if matrix.ndim == 2 else 1


@register("dense", params=("units",), weights=("weight", "bias"))
def _dense(spec: LayerInput) -> BoundLayer:
    in_features = _features_in(spec)
    raw = spec.weights.get("weight")
    if raw is None:
        raise spec.error(f"missing weight 'weight' (expected shape [{in_features}, units])")
    units = spec.int_param("units", _axis_size_or_one(raw, 1), minimum=1)
    weight = spec.weight("weight", (in_features, units))
    bias = spec.optional_weight("bias", (units,))
    return _affine(spec, weight, bias)


@register("linear", params=("in_features", "out_features"), weights=("weight", "bias"))
def _linear(spec: LayerInput) -> BoundLayer:
    in_features = _features_in(spec)
    declared_in = spec.int_param("in_features", in_features, minimum=1)
    if declared_in != in_features:
        raise spec.error(
            f"in_features is {declared_in} but the incoming row has {in_features} features"
        )
    raw = spec.weights.get("weight")
    if raw is None:
        raise spec.error(f"missing weight 'weight' (expected shape [out_features, {in_features}])")
    out_features = spec.int_param("out_features", _axis_size_or_one(raw, 0), minimum=1)
    weight = spec.weight("weight", (out_features, in_features))
    bias = spec.optional_weight("bias", (out_features,))
    return _affine(spec, weight.T, bias)
