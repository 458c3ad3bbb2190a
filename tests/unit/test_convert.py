"""Converters: packages must reproduce scikit-learn's own predictions and a descriptor's maths."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from axiom_runtime.convert import from_sequential_descriptor, from_sklearn
from axiom_runtime.errors import ConversionError
from axiom_runtime.package import load_package, write_package

X, Y = load_iris(return_X_y=True)
X = (X / X.max(axis=0)).astype(np.float32)


def fit(model: Any, y: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def round_trip(tmp_path: Path, converted: Any) -> Any:
    spec, weights = converted
    write_package(tmp_path / "m.axiom", spec, weights)
    return load_package(tmp_path / "m.axiom")


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_multiclass_classifier_matches_predict_proba(tmp_path: Path, activation: str) -> None:
    model = fit(
        MLPClassifier(
            hidden_layer_sizes=(8, 5), activation=activation, max_iter=200, random_state=0
        ),
        Y,
    )
    package = round_trip(tmp_path, from_sklearn(model, name="iris", version="1"))
    np.testing.assert_allclose(package.predict(X), model.predict_proba(X), rtol=1e-4, atol=1e-5)
    assert package.spec.labels == ("0", "1", "2")


def test_binary_classifier_answers_one_probability_per_class(tmp_path: Path) -> None:
    model = fit(MLPClassifier(hidden_layer_sizes=(6,), max_iter=300, random_state=0), Y == 2)
    package = round_trip(tmp_path, from_sklearn(model, name="virginica", version="1"))
    assert package.spec.output_shape == (2,)
    np.testing.assert_allclose(package.predict(X), model.predict_proba(X), rtol=1e-4, atol=1e-5)


def test_regressor_matches_predict(tmp_path: Path) -> None:
    target = np.stack([X[:, 0] * 2 - X[:, 1], X[:, 2]], axis=1)
    model = fit(MLPRegressor(hidden_layer_sizes=(10,), max_iter=300, random_state=0), target)
    package = round_trip(tmp_path, from_sklearn(model, name="reg", version="1"))
    assert package.spec.task == "regression"
    np.testing.assert_allclose(package.predict(X), model.predict(X), rtol=1e-4, atol=1e-5)


def test_unfitted_model_is_refused() -> None:
    with pytest.raises(ConversionError, match="not fitted"):
        from_sklearn(MLPClassifier(), name="x", version="1")


def test_other_estimators_are_refused() -> None:
    with pytest.raises(
        ConversionError, match="expected an MLPClassifier or MLPRegressor, got list"
    ):
        from_sklearn([], name="x", version="1")


# --- descriptor -----------------------------------------------------------------------------------

RNG = np.random.default_rng(3)


def descriptor(layers: list[dict[str, Any]], input_shape: list[int]) -> dict[str, Any]:
    return {
        "format": "axiom.pytorch.sequential.v1",
        "name": "seq",
        "version": "0.1.0",
        "input_shape": input_shape,
        "layers": layers,
    }


def test_mlp_descriptor_matches_the_explicit_computation(tmp_path: Path) -> None:
    w1, b1 = RNG.standard_normal((5, 4)), RNG.standard_normal(5)
    w2, b2 = RNG.standard_normal((3, 5)), RNG.standard_normal(3)
    doc = descriptor(
        [
            {
                "type": "Linear",
                "in_features": 4,
                "out_features": 5,
                "weight": w1.tolist(),
                "bias": b1.tolist(),
            },
            {"type": "ReLU", "inplace": False},
            {"type": "Dropout", "p": 0.1},
            {
                "type": "linear",
                "in_features": 5,
                "out_features": 3,
                "weight": w2.tolist(),
                "bias": b2.tolist(),
            },
            {"type": "LogSoftmax", "dim": 1},
        ],
        [4],
    )
    package = round_trip(tmp_path, from_sequential_descriptor(doc))
    x = RNG.standard_normal((7, 4)).astype(np.float32)
    logits = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2
    expected = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(package.predict(x), expected, rtol=1e-4, atol=1e-4)


def test_cnn_descriptor_with_batchnorm_and_pooling_compiles_to_the_right_shapes(
    tmp_path: Path,
) -> None:
    doc = descriptor(
        [
            {"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": 1,
             "weight": RNG.standard_normal((2, 1, 3, 3)).tolist(), "bias": [0.0, 0.1]},
            {"type": "BatchNorm2d", "num_features": 2, "eps": 1e-5, "running_mean": [0.0, 1.0],
             "running_var": [1.0, 2.0], "weight": [1.0, 1.0], "bias": [0.0, 0.0], "num_batches_tracked": 5},
            {"type": "MaxPool2d", "kernel_size": 2},
            {"type": "AdaptiveAvgPool2d", "output_size": 1},
            {"type": "Linear", "in_features": 2, "out_features": 3,
             "weight": RNG.standard_normal((3, 2)).tolist(), "bias": [0.0, 0.0, 0.0]},
            {"type": "Softmax", "dim": -1},
        ],
        [1, 8, 8],
    )  # fmt: skip
    package = round_trip(tmp_path, from_sequential_descriptor(doc))
    out = package.predict(RNG.standard_normal((2, 1, 8, 8)))
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out.sum(axis=1), [1.0, 1.0], rtol=1e-5)


def test_descriptor_with_unsupported_layer_names_it() -> None:
    doc = descriptor([{"type": "LSTM", "input_size": 4}], [4])
    with pytest.raises(ConversionError, match=r"layers\[0\] \(LSTM\): unsupported layer type"):
        from_sequential_descriptor(doc)


def test_descriptor_with_grouped_convolution_is_refused() -> None:
    doc = descriptor([{"type": "Conv2d", "groups": 2, "weight": [[[[1.0]]]]}], [2, 3, 3])
    with pytest.raises(ConversionError, match=r"groups=2 is not supported"):
        from_sequential_descriptor(doc)


def test_descriptor_shape_mismatch_names_the_layer() -> None:
    doc = descriptor([{"type": "Linear", "weight": [[1.0, 2.0, 3.0]], "bias": [0.0]}], [4])
    with pytest.raises(
        ConversionError,
        match=r"layer 0 \(linear\): weight 'weight' has shape \[1, 3\], expected \[1, 4\]",
    ):
        from_sequential_descriptor(doc)


def test_descriptor_needs_its_format_tag() -> None:
    with pytest.raises(ConversionError, match="format"):
        from_sequential_descriptor({"layers": []})
