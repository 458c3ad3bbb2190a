"""Layers over NCHW images: ``conv2d`` (im2col on a sliding-window view), max and average
pooling, global average pooling.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from axiom_runtime.layers.registry import (
    BoundLayer,
    FloatArray,
    LayerInput,
    as_f32,
    bound,
    register,
)


def _window_output(
    spec: LayerInput, size: int, kernel: int, stride: int, pad: int, axis: str
) -> int:
    out = (size + 2 * pad - kernel) // stride + 1
    if kernel > size + 2 * pad or out < 1:
        raise spec.error(
            f"kernel {kernel} does not fit the {axis} axis of size {size} with padding {pad}"
        )
    return out


@register(
    "conv2d",
    params=("in_channels", "out_channels", "kernel_size", "stride", "padding"),
    weights=("weight", "bias"),
)
def _conv2d(spec: LayerInput) -> BoundLayer:
    spec.require_rank(3, "a CHW image")
    channels, height, width = spec.input_shape
    if spec.int_param("in_channels", channels, minimum=1) != channels:
        raise spec.error(
            f"in_channels is {spec.params['in_channels']} but the input has {channels} channels"
        )
    raw = spec.weights.get("weight")
    if raw is None or raw.ndim != 4:
        raise spec.error(
            f"weight 'weight' must be present with shape [out_channels, {channels}, kh, kw]"
        )
    default_kernel = [int(raw.shape[2]), int(raw.shape[3])]
    kh, kw = (
        spec.pair_param("kernel_size", None, 1) if "kernel_size" in spec.params else default_kernel
    )
    sh, sw = spec.pair_param("stride", 1, 1)
    ph, pw = spec.pair_param("padding", 0, 0)
    out_channels = spec.int_param("out_channels", int(raw.shape[0]), minimum=1)
    weight = spec.weight("weight", (out_channels, channels, kh, kw))
    bias = spec.optional_weight("bias", (out_channels,))
    oh = _window_output(spec, height, kh, sh, ph, "height")
    ow = _window_output(spec, width, kw, sw, pw, "width")
    # im2col: patches laid out (C, kh, kw) to match the flattened weight rows.
    w_cols = np.ascontiguousarray(weight.reshape(out_channels, -1).T, dtype=np.float32)
    b = None if bias is None else np.ascontiguousarray(bias, dtype=np.float32)

    def forward(x: FloatArray) -> FloatArray:
        n = x.shape[0]
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        windows = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
        cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, channels * kh * kw)
        y = cols @ w_cols
        if b is not None:
            y += b
        return np.ascontiguousarray(y.reshape(n, oh, ow, out_channels).transpose(0, 3, 1, 2))

    return bound(spec, (out_channels, oh, ow), forward, weight, bias)


def _pool(
    spec: LayerInput, reduce: Callable[[FloatArray], FloatArray], pad_value: float
) -> BoundLayer:
    spec.require_rank(3, "a CHW image")
    channels, height, width = spec.input_shape
    kh, kw = spec.pair_param("kernel_size", None, 1)
    sh, sw = spec.pair_param("stride", None, 1) if "stride" in spec.params else (kh, kw)
    ph, pw = spec.pair_param("padding", 0, 0)
    if ph > kh // 2 or pw > kw // 2:
        raise spec.error(f"padding {[ph, pw]} must be at most half the kernel {[kh, kw]}")
    oh = _window_output(spec, height, kh, sh, ph, "height")
    ow = _window_output(spec, width, kw, sw, pw, "width")

    def forward(x: FloatArray) -> FloatArray:
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
        windows = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
        return reduce(windows[:, :, :oh, :ow])

    return bound(spec, (channels, oh, ow), forward)


@register("maxpool2d", params=("kernel_size", "stride", "padding"))
def _maxpool2d(spec: LayerInput) -> BoundLayer:
    return _pool(spec, lambda w: np.max(w, axis=(-2, -1)), -np.inf)


@register("avgpool2d", params=("kernel_size", "stride", "padding"))
def _avgpool2d(spec: LayerInput) -> BoundLayer:
    # Zero padding counts towards the average, as PyTorch's default count_include_pad=True.
    return _pool(spec, lambda w: np.mean(w, axis=(-2, -1), dtype=np.float32), 0.0)


@register("global_avg_pool2d")
def _global_avg_pool2d(spec: LayerInput) -> BoundLayer:
    spec.require_rank(3, "a CHW image")

    def forward(x: FloatArray) -> FloatArray:
        return as_f32(np.mean(x, axis=(2, 3), dtype=np.float32))

    return bound(spec, (spec.input_shape[0],), forward)
