"""Every layer against an independent reference: explicit loops or float64 scalar math."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from axiom_runtime.errors import PackageError
from axiom_runtime.layers import LAYER_TYPES, FloatArray, build_layer

RNG = np.random.default_rng(1234)


def rand(*shape: int) -> FloatArray:
    return RNG.standard_normal(shape).astype(np.float32)


def run(
    layer_type: str,
    x: FloatArray,
    params: dict[str, Any] | None = None,
    weights: dict[str, FloatArray] | None = None,
) -> FloatArray:
    layer = build_layer(0, layer_type, params or {}, weights or {}, tuple(x.shape[1:]))
    y = layer.forward(x)
    assert y.dtype == np.float32
    assert tuple(y.shape[1:]) == layer.output_shape
    return y


def elementwise(function: Any, x: FloatArray) -> Any:
    return np.vectorize(function, otypes=[np.float64])(x.astype(np.float64))


def test_dense_matches_explicit_sum() -> None:
    x, w, b = rand(5, 4), rand(4, 3), rand(3)
    expected = np.array(
        [[sum(x[n, i] * w[i, j] for i in range(4)) + b[j] for j in range(3)] for n in range(5)]
    )
    np.testing.assert_allclose(
        run("dense", x, {}, {"weight": w, "bias": b}), expected, rtol=1e-5, atol=1e-5
    )


def test_linear_uses_pytorch_out_in_weight_layout() -> None:
    x, w, b = rand(2, 4), rand(3, 4), rand(3)
    expected = np.array(
        [[sum(x[n, i] * w[j, i] for i in range(4)) + b[j] for j in range(3)] for n in range(2)]
    )
    got = run("linear", x, {"in_features": 4, "out_features": 3}, {"weight": w, "bias": b})
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def conv_reference(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int
) -> np.ndarray:
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad))
    xp[:, :, pad : pad + h, pad : pad + wd] = x
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for bi in range(n):
        for oc in range(o):
            for i in range(oh):
                for j in range(ow):
                    total = b[oc]
                    for ic in range(c):
                        for u in range(kh):
                            for v in range(kw):
                                total += (
                                    xp[bi, ic, i * stride + u, j * stride + v] * w[oc, ic, u, v]
                                )
                    out[bi, oc, i, j] = total
    return out


@pytest.mark.parametrize(("stride", "pad"), [(1, 0), (2, 1), (1, 2)])
def test_conv2d_matches_explicit_loops(stride: int, pad: int) -> None:
    x, w, b = rand(2, 3, 7, 6), rand(4, 3, 3, 2), rand(4)
    got = run("conv2d", x, {"stride": stride, "padding": pad}, {"weight": w, "bias": b})
    np.testing.assert_allclose(got, conv_reference(x, w, b, stride, pad), rtol=1e-4, atol=1e-4)


def pool_reference(
    x: np.ndarray, k: int, stride: int, pad: int, reduce: Any, fill: float
) -> np.ndarray:
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * pad, w + 2 * pad), fill)
    xp[:, :, pad : pad + h, pad : pad + w] = x
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    out = np.zeros((n, c, oh, ow))
    for bi in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    window = [
                        xp[bi, ch, i * stride + u, j * stride + v]
                        for u in range(k)
                        for v in range(k)
                    ]
                    out[bi, ch, i, j] = reduce(window)
    return out


@pytest.mark.parametrize(("k", "stride", "pad"), [(2, 2, 0), (3, 2, 1), (3, 1, 0)])
def test_maxpool2d_matches_explicit_loops(k: int, stride: int, pad: int) -> None:
    x = rand(2, 3, 7, 8)
    got = run("maxpool2d", x, {"kernel_size": k, "stride": stride, "padding": pad})
    np.testing.assert_allclose(got, pool_reference(x, k, stride, pad, max, -math.inf), rtol=1e-6)


@pytest.mark.parametrize(("k", "stride", "pad"), [(2, 2, 0), (3, 2, 1)])
def test_avgpool2d_counts_padding_like_pytorch(k: int, stride: int, pad: int) -> None:
    x = rand(2, 3, 7, 8)
    got = run("avgpool2d", x, {"kernel_size": k, "stride": stride, "padding": pad})
    expected = pool_reference(x, k, stride, pad, lambda w: sum(w) / len(w), 0.0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_pool_stride_defaults_to_kernel_size() -> None:
    x = rand(1, 1, 4, 4)
    assert run("maxpool2d", x, {"kernel_size": 2}).shape == (1, 1, 2, 2)


def test_global_avg_pool2d_averages_each_channel() -> None:
    x = rand(2, 3, 4, 5)
    expected = [[sum(float(v) for v in x[n, c].ravel()) / 20 for c in range(3)] for n in range(2)]
    np.testing.assert_allclose(run("global_avg_pool2d", x), expected, rtol=1e-5)


def test_flatten_keeps_batch_and_row_major_order() -> None:
    x = rand(2, 3, 2, 2)
    got = run("flatten", x)
    assert got.shape == (2, 12)
    assert got[1, 5] == x[1, 1, 0, 1]


def test_reshape_resolves_minus_one() -> None:
    x = rand(2, 12)
    got = run("reshape", x, {"shape": [3, -1]})
    assert got.shape == (2, 3, 4)
    assert got[1, 2, 3] == x[1, 11]


def test_batchnorm_applies_running_statistics_per_channel() -> None:
    x = rand(2, 3, 2, 2)
    mean, var, gamma, beta = rand(3), np.abs(rand(3)) + np.float32(0.1), rand(3), rand(3)
    got = run(
        "batchnorm", x, {"eps": 1e-3}, {"mean": mean, "var": var, "weight": gamma, "bias": beta}
    )
    for n in range(2):
        for c in range(3):
            for i in range(2):
                for j in range(2):
                    want = (x[n, c, i, j] - mean[c]) / math.sqrt(var[c] + 1e-3) * gamma[c] + beta[c]
                    assert got[n, c, i, j] == pytest.approx(want, rel=1e-4, abs=1e-5)


def test_layernorm_normalises_each_row() -> None:
    x, gamma, beta = rand(3, 5), rand(5), rand(5)
    got = run("layernorm", x, {}, {"weight": gamma, "bias": beta})
    for n in range(3):
        row = [float(v) for v in x[n]]
        mu = sum(row) / 5
        sd = math.sqrt(sum((v - mu) ** 2 for v in row) / 5 + 1e-5)
        want = [(v - mu) / sd * g + b for v, g, b in zip(row, gamma, beta, strict=True)]
        np.testing.assert_allclose(got[n], want, rtol=1e-4, atol=1e-5)


def test_dropout_is_identity_at_inference() -> None:
    x = rand(4, 6)
    np.testing.assert_array_equal(run("dropout", x, {"p": 0.5}), x)


ACTIVATIONS = [
    ("relu", {}, lambda v: max(v, 0.0)),
    ("leaky_relu", {"negative_slope": 0.2}, lambda v: v if v >= 0 else 0.2 * v),
    ("elu", {"alpha": 1.5}, lambda v: v if v > 0 else 1.5 * (math.exp(v) - 1)),
    ("gelu", {}, lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2)))),
    (
        "gelu",
        {"approximate": "tanh"},
        lambda v: 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))),
    ),
    ("sigmoid", {}, lambda v: 1 / (1 + math.exp(-v))),
    ("tanh", {}, math.tanh),
]


@pytest.mark.parametrize(("layer_type", "params", "reference"), ACTIVATIONS)
def test_activation_matches_scalar_math(
    layer_type: str, params: dict[str, Any], reference: Any
) -> None:
    x = rand(4, 50) * 4
    np.testing.assert_allclose(
        run(layer_type, x, params), elementwise(reference, x), rtol=1e-5, atol=1e-6
    )


def test_sigmoid_does_not_overflow_on_large_inputs() -> None:
    got = run("sigmoid", np.array([[-1000.0, 1000.0]], dtype=np.float32))
    np.testing.assert_array_equal(got, [[0.0, 1.0]])


def test_softmax_matches_scalar_exponentials() -> None:
    x = rand(3, 6) * 10
    for n in range(3):
        exps = [math.exp(float(v)) for v in x[n]]
        want = [e / sum(exps) for e in exps]
        np.testing.assert_allclose(run("softmax", x)[n], want, rtol=1e-5, atol=1e-7)


def test_log_softmax_matches_log_of_scalar_softmax() -> None:
    x = rand(3, 6) * 10
    got = run("log_softmax", x)
    for n in range(3):
        total = sum(math.exp(float(v)) for v in x[n])
        np.testing.assert_allclose(
            got[n], [float(v) - math.log(total) for v in x[n]], rtol=1e-5, atol=1e-5
        )


def test_softmax_axis_counts_within_the_row() -> None:
    x = rand(2, 3, 4)
    got = run("softmax", x, {"axis": 0})
    np.testing.assert_allclose(got.sum(axis=1), np.ones((2, 4)), rtol=1e-5)


def test_registry_covers_the_required_layer_set() -> None:
    required = {
        "dense", "linear", "conv2d", "maxpool2d", "avgpool2d", "global_avg_pool2d", "flatten",
        "reshape", "batchnorm", "layernorm", "dropout", "relu", "leaky_relu", "gelu", "elu",
        "sigmoid", "tanh", "softmax", "log_softmax",
    }  # fmt: skip
    assert required <= set(LAYER_TYPES)


def test_unknown_layer_error_names_index_and_type() -> None:
    with pytest.raises(PackageError, match=r"layer 3 \(swish\): unknown layer type"):
        build_layer(3, "swish", {}, {}, (4,))


def test_weight_shape_mismatch_names_layer_and_expected_shape() -> None:
    with pytest.raises(
        PackageError,
        match=r"layer 1 \(dense\): weight 'weight' has shape \[5, 3\], expected \[4, 3\]",
    ):
        build_layer(1, "dense", {"units": 3}, {"weight": rand(5, 3)}, (4,))


def test_missing_weight_is_named() -> None:
    with pytest.raises(PackageError, match=r"layer 2 \(batchnorm\): missing weight 'var'"):
        build_layer(2, "batchnorm", {}, {"mean": rand(4)}, (4,))


def test_unknown_parameter_is_rejected() -> None:
    with pytest.raises(
        PackageError, match=r"layer 0 \(conv2d\): unknown parameter\(s\) \['groups'\]"
    ):
        build_layer(0, "conv2d", {"groups": 2}, {"weight": rand(2, 1, 3, 3)}, (1, 5, 5))


def test_conv2d_rejects_a_flat_input() -> None:
    with pytest.raises(PackageError, match=r"layer 0 \(conv2d\): expects a CHW image"):
        build_layer(0, "conv2d", {}, {"weight": rand(2, 1, 3, 3)}, (25,))


def test_kernel_larger_than_input_is_rejected() -> None:
    with pytest.raises(PackageError, match=r"layer 0 \(maxpool2d\): kernel 5 does not fit"):
        build_layer(0, "maxpool2d", {"kernel_size": 5}, {}, (1, 3, 3))
