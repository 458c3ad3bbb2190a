"""Layer types of the numpy engine: one small builder per type, in one registry.

A builder receives a layer's declared parameters, its weight arrays and the per-row shape
arriving from the previous layer. It checks all of them *once*, at load time, precomputes
whatever the forward pass can reuse (transposed weights, folded batchnorm scale), and returns
a :class:`BoundLayer` whose ``forward`` is a closure over float32 arrays. Checking at load
time is what lets the server refuse a broken package before it reports ready, and
precomputing is what keeps the per-request cost to a few vectorised numpy calls.

Conventions: arrays carry a leading batch axis that per-row shapes leave out; images are
NCHW; ``dense`` weights are (in, out) as in scikit-learn, ``linear`` weights are (out, in)
as in PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from axiom_runtime.errors import PackageError

FloatArray = npt.NDArray[np.float32]
Forward = Callable[[FloatArray], FloatArray]
Shape = tuple[int, ...]


@dataclass(frozen=True)
class BoundLayer:
    """A layer whose shapes and weights have been checked, ready to run."""

    index: int
    type: str
    input_shape: Shape
    output_shape: Shape
    forward: Forward
    parameter_count: int = 0


@dataclass(frozen=True)
class LayerInput:
    """Everything a builder may look at, plus helpers that phrase errors uniformly."""

    index: int
    type: str
    params: Mapping[str, Any]
    weights: Mapping[str, FloatArray]
    input_shape: Shape

    def error(self, message: str) -> PackageError:
        return PackageError(f"layer {self.index} ({self.type}): {message}")

    def int_param(self, name: str, default: int | None = None, minimum: int = 0) -> int:
        value = self.params.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(f"parameter '{name}' must be an integer >= {minimum}, got {value!r}")
        return value

    def float_param(self, name: str, default: float) -> float:
        value = self.params.get(name, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.error(f"parameter '{name}' must be a finite number, got {value!r}")
        return float(value)

    def pair_param(self, name: str, default: int | None, minimum: int) -> tuple[int, int]:
        value = self.params.get(name, default)
        pair = [value, value] if isinstance(value, int) and not isinstance(value, bool) else value
        if (
            not isinstance(pair, list | tuple)
            or len(pair) != 2
            or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in pair
            )
        ):
            raise self.error(
                f"parameter '{name}' must be an integer or a pair of integers >= {minimum}, got {value!r}"
            )
        return int(pair[0]), int(pair[1])

    def weight(self, name: str, shape: Shape) -> FloatArray:
        array = self.optional_weight(name, shape)
        if array is None:
            raise self.error(f"missing weight '{name}' (expected shape {list(shape)})")
        return array

    def optional_weight(self, name: str, shape: Shape) -> FloatArray | None:
        array = self.weights.get(name)
        if array is not None and tuple(array.shape) != shape:
            raise self.error(
                f"weight '{name}' has shape {list(array.shape)}, expected {list(shape)} "
                f"for input shape {list(self.input_shape)}"
            )
        return array

    def require_rank(self, rank: int, what: str) -> None:
        if len(self.input_shape) != rank:
            raise self.error(
                f"expects {what} (rank {rank} per row), got input shape {list(self.input_shape)}"
            )

    def row_axis(self, name: str = "axis", default: int = -1) -> int:
        """An axis counted within a row (negative from the end), as a batch-array axis."""
        axis = self.params.get(name, default)
        rank = len(self.input_shape)
        if isinstance(axis, bool) or not isinstance(axis, int) or not -rank <= axis < rank:
            raise self.error(
                f"parameter '{name}' must be an axis of the row shape {list(self.input_shape)}, got {axis!r}"
            )
        return axis if axis < 0 else axis + 1


Builder = Callable[[LayerInput], BoundLayer]


def as_f32(array: Any) -> FloatArray:
    """Type a float32 result as such (a no-op for arrays that already are float32)."""
    return np.asarray(array, dtype=np.float32)


@dataclass(frozen=True)
class LayerType:
    """A registry entry: the builder and the parameter and weight names it understands."""

    name: str
    builder: Builder
    params: frozenset[str] = field(default_factory=frozenset)
    weights: frozenset[str] = field(default_factory=frozenset)


LAYER_TYPES: dict[str, LayerType] = {}


def register(
    name: str, *, params: tuple[str, ...] = (), weights: tuple[str, ...] = ()
) -> Callable[[Builder], Builder]:
    def add(builder: Builder) -> Builder:
        LAYER_TYPES[name] = LayerType(name, builder, frozenset(params), frozenset(weights))
        return builder

    return add


def build_layer(
    index: int,
    layer_type: str,
    params: Mapping[str, Any],
    weights: Mapping[str, FloatArray],
    input_shape: Shape,
) -> BoundLayer:
    """Check one layer against its incoming per-row shape and bind it for execution."""
    entry = LAYER_TYPES.get(layer_type)
    if entry is None:
        raise PackageError(
            f"layer {index} ({layer_type}): unknown layer type; known types: {', '.join(sorted(LAYER_TYPES))}"
        )
    unknown_params = sorted(set(params) - entry.params)
    if unknown_params:
        raise PackageError(
            f"layer {index} ({layer_type}): unknown parameter(s) {unknown_params}; "
            f"accepted: {sorted(entry.params)}"
        )
    unknown_weights = sorted(set(weights) - entry.weights)
    if unknown_weights:
        raise PackageError(
            f"layer {index} ({layer_type}): unknown weight(s) {unknown_weights}; "
            f"accepted: {sorted(entry.weights)}"
        )
    return entry.builder(LayerInput(index, layer_type, params, weights, input_shape))


def _bound(
    spec: LayerInput, output_shape: Shape, forward: Forward, *arrays: FloatArray | None
) -> BoundLayer:
    count = sum(int(a.size) for a in arrays if a is not None)
    return BoundLayer(spec.index, spec.type, spec.input_shape, output_shape, forward, count)


# --- affine layers -------------------------------------------------------------------------


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

    return _bound(spec, (*spec.input_shape[:-1], out_features), forward, w, bias)


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


# --- convolution and pooling -----------------------------------------------------------------


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

    return _bound(spec, (out_channels, oh, ow), forward, weight, bias)


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

    return _bound(spec, (channels, oh, ow), forward)


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

    return _bound(spec, (spec.input_shape[0],), forward)


# --- shape layers ------------------------------------------------------------------------------


@register("flatten")
def _flatten(spec: LayerInput) -> BoundLayer:
    size = math.prod(spec.input_shape)

    def forward(x: FloatArray) -> FloatArray:
        return x.reshape(x.shape[0], size)

    return _bound(spec, (size,), forward)


@register("reshape", params=("shape",))
def _reshape(spec: LayerInput) -> BoundLayer:
    target = spec.params.get("shape")
    if (
        not isinstance(target, list | tuple)
        or not target
        or not all(
            isinstance(d, int) and not isinstance(d, bool) and (d >= 1 or d == -1) for d in target
        )
        or sum(1 for d in target if d == -1) > 1
    ):
        raise spec.error(
            f"parameter 'shape' must be a list of positive integers with at most one -1, got {target!r}"
        )
    size = math.prod(spec.input_shape)
    known = math.prod(d for d in target if d != -1)
    if -1 in target:
        if size % known:
            raise spec.error(
                f"cannot reshape {list(spec.input_shape)} ({size} values) into {list(target)}"
            )
        shape = tuple(size // known if d == -1 else d for d in target)
    else:
        shape = tuple(target)
    if math.prod(shape) != size:
        raise spec.error(
            f"cannot reshape {list(spec.input_shape)} ({size} values) into {list(target)}"
        )

    def forward(x: FloatArray) -> FloatArray:
        return x.reshape((x.shape[0], *shape))

    return _bound(spec, shape, forward)


@register("dropout", params=("p",))
def _dropout(spec: LayerInput) -> BoundLayer:
    # Inference only: dropout is the identity; `p` is accepted so exported models load.
    spec.float_param("p", 0.5)
    return _bound(spec, spec.input_shape, lambda x: x)


# --- normalisation ------------------------------------------------------------------------------


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

    return _bound(spec, spec.input_shape, forward, mean, var, gamma, beta)


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

    return _bound(spec, spec.input_shape, forward, gamma, beta)


# --- activations ----------------------------------------------------------------------------------


def _elementwise(spec: LayerInput, function: Forward) -> BoundLayer:
    return _bound(spec, spec.input_shape, function)


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


# Alternative spellings found in exporters; they map to the same builders.
ALIASES = {
    "global_average_pool": "global_avg_pool2d",
    "global_avg_pool": "global_avg_pool2d",
    "batchnorm1d": "batchnorm",
    "batchnorm2d": "batchnorm",
    "batch_norm": "batchnorm",
    "layer_norm": "layernorm",
}
for _alias, _target in ALIASES.items():
    LAYER_TYPES[_alias] = LAYER_TYPES[_target]
