"""Whether a model is a classifier is what its ``model.json`` declares, not a shape coincidence."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from axiom_runtime.metrics import new_registry
from axiom_runtime.package import load_package, package_bytes
from axiom_runtime.server import v2
from axiom_runtime.server.batcher import MicroBatcher
from axiom_runtime.server.dataplane import DataPlane, make_forward
from axiom_runtime.server.runtime_metrics import RuntimeMetrics
from axiom_runtime.spec import spec_from_dict

WEIGHTS = {"w": np.eye(2, 3, dtype=np.float32)}


def doc(last_layer: str, **fields: Any) -> dict[str, Any]:
    return {
        "format": "axiom-model",
        "format_version": 1,
        "name": "three-outputs",
        "version": "1.0.0",
        "input": {"shape": [2], "dtype": "float32"},
        "output": {"shape": [3], "dtype": "float32"},
        "layers": [{"type": "dense", "weights": {"weight": "w"}}, {"type": last_layer}],
        **fields,
    }


@pytest.mark.parametrize(
    ("task", "last_layer", "expected"),
    [
        ("classification", "softmax", True),
        ("classification", "log_softmax", True),
        ("classification", "relu", True),  # logits: probabilities come from a softmax on them
        ("regression", "softmax", False),  # a declared regression stays one, whatever its layers
        ("regression", "sigmoid", False),
    ],
)
def test_is_classifier_is_the_declared_task(task: str, last_layer: str, expected: bool) -> None:
    assert spec_from_dict(doc(last_layer, task=task)).is_classifier is expected


def test_a_model_json_without_a_task_is_a_classifier() -> None:
    assert spec_from_dict(doc("softmax")).is_classifier


async def test_a_regression_with_three_outputs_answers_without_a_class() -> None:
    package = load_package(package_bytes(doc("softmax", task="regression"), WEIGHTS))
    metrics = RuntimeMetrics(new_registry(), package.spec.name, package.spec.version)
    batcher = MicroBatcher(make_forward(package), max_batch_size=4)
    plane = DataPlane(package, batcher, metrics)
    batcher.on_batch = plane.observe_batch
    batcher.start()
    try:
        answer = await plane.predict({"input": [1.0, 0.0]})
        inferred = await plane.infer(
            {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1.0, 0.0]}]}
        )
    finally:
        await batcher.close()
    assert answer["class"] is None and answer["confidence"] is None
    assert len(answer["prediction"]) == 3
    assert [output["name"] for output in inferred["outputs"]] == [v2.OUTPUT_SCORES]
    assert [o["name"] for o in v2.model_metadata("m", package.spec)["outputs"]] == ["output"]


async def test_a_classifier_answers_with_a_class_and_its_probability() -> None:
    package = load_package(package_bytes(doc("softmax", task="classification"), WEIGHTS))
    metrics = RuntimeMetrics(new_registry(), package.spec.name, package.spec.version)
    batcher = MicroBatcher(make_forward(package), max_batch_size=4)
    plane = DataPlane(package, batcher, metrics)
    batcher.start()
    try:
        answer = await plane.predict({"input": [1.0, 0.0]})
    finally:
        await batcher.close()
    assert answer["class"] == 0
    assert answer["confidence"] == pytest.approx(float(np.exp(1) / (np.exp(1) + 2)), rel=1e-5)
