"""The dataplane decodes, validates, batches and encodes without any HTTP."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from axiom_runtime.errors import InvalidInput
from axiom_runtime.metrics import new_registry, parse_prometheus_text, render, sample_value
from axiom_runtime.package import ModelPackage, load_package
from axiom_runtime.server.batcher import MicroBatcher
from axiom_runtime.server.dataplane import DataPlane, make_forward
from axiom_runtime.server.errors import ModelNotFound
from axiom_runtime.server.runtime_metrics import RuntimeMetrics
from axiom_runtime.server.testing import INPUT_SIZE, build_signed_model

ROW = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> ModelPackage:
    model = build_signed_model(tmp_path_factory.mktemp("dp"))
    return load_package(model.package)


@pytest.fixture(scope="module")
def labelled_package(tmp_path_factory: pytest.TempPathFactory) -> ModelPackage:
    model = build_signed_model(tmp_path_factory.mktemp("dpl"), labels=["cat", "dog", "eel"])
    return load_package(model.package)


async def _dataplane(package: ModelPackage) -> DataPlane:
    metrics = RuntimeMetrics(new_registry(), package.spec.name, package.spec.version)
    batcher = MicroBatcher(make_forward(package), max_batch_size=16)
    plane = DataPlane(package, batcher, metrics)
    batcher.on_batch = plane.observe_batch
    batcher.start()
    return plane


@pytest.fixture
async def dataplane(package: ModelPackage) -> AsyncIterator[DataPlane]:
    plane = await _dataplane(package)
    yield plane
    await plane.batcher.close()


def _invalid(call: Any, *args: Any, **kwargs: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call(*args, **kwargs)
    return caught.value


# -- /predict decoding -----------------------------------------------------------------------


async def test_one_row_is_a_batch_of_one(dataplane: DataPlane) -> None:
    rows, single = dataplane.decode_predict({"input": ROW})
    assert rows.shape == (1, INPUT_SIZE) and rows.dtype == np.float32 and single


async def test_rows_are_a_batch(dataplane: DataPlane) -> None:
    rows, single = dataplane.decode_predict({"input": [ROW, ROW, ROW]})
    assert rows.shape == (3, INPUT_SIZE) and not single


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ([ROW], "body", "JSON object"),
        ({"inputs": ROW}, "input", "required"),
        ({"input": 3}, "input", "list of numbers"),
        ({"input": []}, "input", "expected one row"),
        ({"input": ROW[:5]}, "input", "expected one row of shape [8]"),
        ({"input": [ROW, ROW[:7]]}, "input", "equal length"),
        ({"input": [*ROW[:7], "8"]}, "input", "string"),
        ({"input": [*ROW[:7], None]}, "input", "null"),
        ({"input": [*ROW[:7], {"x": 1}]}, "input", "object"),
        ({"input": [*ROW[:7], True]}, "input", "boolean"),
        ({"input": [True] * 8}, "input", "boolean"),
        ({"input": [*ROW[:7], 17.0]}, "input[7]", "outside the model's input range [0, 16]"),
        ({"input": [ROW, [*ROW[:2], -1.0, *ROW[3:]]]}, "input[1][2]", "outside"),
        ({"input": [*ROW[:2], math.nan, *ROW[3:]]}, "input[2]", "finite"),
        ({"input": [*ROW[:2], math.inf, *ROW[3:]]}, "input[2]", "finite"),
        ({"input": [*ROW[:2], 1e39, *ROW[3:]]}, "input[2]", "float32"),
        ({"input": [*ROW[:7], 10**30]}, "input[7]", "outside"),
    ],
)
async def test_bad_predict_input_names_field(
    dataplane: DataPlane, payload: Any, field: str, words: str
) -> None:
    error = _invalid(dataplane.decode_predict, payload)
    assert error.field == field
    assert words in str(error)


async def test_predict_answers_argmax_class_and_its_probability(dataplane: DataPlane) -> None:
    answer = await dataplane.predict({"input": ROW})
    scores = np.asarray(answer["prediction"])
    assert answer["class"] == int(scores.argmax())
    assert answer["confidence"] == pytest.approx(float(scores.max()))
    assert scores.sum() == pytest.approx(1.0, abs=1e-5)
    assert answer["model"]["version"] == "1.0.0"
    assert len(answer["model"]["sha256"]) == 12


async def test_predict_batch_answers_lists(dataplane: DataPlane) -> None:
    answer = await dataplane.predict({"input": [ROW, [0.0] * 8]})
    assert np.asarray(answer["prediction"]).shape == (2, 3)
    assert len(answer["class"]) == 2 and len(answer["confidence"]) == 2


async def test_labels_replace_class_indices(labelled_package: ModelPackage) -> None:
    plane = await _dataplane(labelled_package)
    try:
        answer = await plane.predict({"input": ROW})
    finally:
        await plane.batcher.close()
    assert answer["class"] in ("cat", "dog", "eel")


async def test_predict_matches_the_package(dataplane: DataPlane, package: ModelPackage) -> None:
    answer = await dataplane.predict({"input": ROW})
    expected = package.predict(np.asarray([ROW], dtype=np.float32))[0]
    np.testing.assert_allclose(answer["prediction"], expected, rtol=1e-6)


async def test_confidence_metric_counts_rows(dataplane: DataPlane) -> None:
    await dataplane.predict({"input": [ROW, ROW, ROW]})
    samples = parse_prometheus_text(render(dataplane.metrics.registry).decode())
    assert sample_value(samples, "axiom_model_confidence_count") == 3


# -- V2 -------------------------------------------------------------------------------


def _v2(data: Any, shape: Any = (1, 8), datatype: Any = "FP32", **extra: Any) -> dict[str, Any]:
    tensor = {"name": "input-0", "shape": list(shape), "datatype": datatype, "data": data}
    return {"inputs": [tensor], **extra}


async def test_v2_accepts_flat_and_nested_data(dataplane: DataPlane) -> None:
    flat = await dataplane.infer(_v2(ROW + ROW, shape=(2, 8)))
    nested = await dataplane.infer(_v2([ROW, ROW], shape=(2, 8)))
    assert flat["outputs"][0]["shape"] == [2, 3]
    np.testing.assert_array_equal(flat["outputs"][0]["data"], nested["outputs"][0]["data"])


async def test_v2_echoes_id_and_names_model(dataplane: DataPlane) -> None:
    answer = await dataplane.infer(_v2(ROW, id="req-1"))
    assert answer["id"] == "req-1"
    assert (answer["model_name"], answer["model_version"]) == ("tiny", "1.0.0")
    assert [o["name"] for o in answer["outputs"]] == ["output", "class", "confidence"]


async def test_v2_returns_only_requested_outputs(dataplane: DataPlane) -> None:
    answer = await dataplane.infer(_v2(ROW, outputs=[{"name": "class"}]))
    assert [o["name"] for o in answer["outputs"]] == ["class"]
    assert answer["outputs"][0]["datatype"] == "INT64"


async def test_v2_integer_datatypes_are_cast(dataplane: DataPlane) -> None:
    answer = await dataplane.infer(_v2([1, 2, 3, 4, 5, 6, 7, 8], datatype="INT32"))
    reference = await dataplane.infer(_v2(ROW))
    np.testing.assert_allclose(answer["outputs"][0]["data"], reference["outputs"][0]["data"])


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "inputs"),
        ({"inputs": []}, "inputs"),
        ({"inputs": [1]}, "inputs[0]"),
        ({"inputs": [_v2(ROW)["inputs"][0]] * 2}, "inputs"),
        ({"inputs": [{"shape": [1, 8], "datatype": "FP32", "data": ROW}]}, "inputs[0].name"),
        (_v2(ROW, shape=(1, -8)), "inputs[0].shape"),
        (_v2(ROW, shape=(1, True)), "inputs[0].shape"),
        (_v2(ROW, datatype="BYTES"), "inputs[0].datatype"),
        (_v2(ROW, datatype="fp32"), "inputs[0].datatype"),
        (_v2(ROW, shape=(2, 8)), "inputs[0].data"),
        (_v2(ROW, shape=(2, 4)), "inputs[0].shape"),
        (_v2(ROW, datatype="INT32"), "inputs[0].data"),
        (_v2([-1, 2, 3, 4, 5, 6, 7, 8], datatype="UINT8"), "inputs[0].data"),
        (_v2([300, 2, 3, 4, 5, 6, 7, 8], datatype="INT8"), "inputs[0].data"),
        (_v2([*ROW[:7], 99.0]), "inputs[0].data[0][7]"),
        (_v2(ROW, outputs=[{"name": "nope"}]), "outputs[0].name"),
        (_v2(ROW, outputs="class"), "outputs"),
        (_v2(ROW, id=7), "id"),
        (_v2(ROW, parameters=[]), "parameters"),
    ],
)
async def test_bad_v2_request_names_field(dataplane: DataPlane, payload: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await dataplane.infer(payload)
    assert caught.value.field == field


async def test_unknown_model_name_is_not_found(dataplane: DataPlane) -> None:
    with pytest.raises(ModelNotFound):
        dataplane.check_model("other")


async def test_unknown_version_is_not_found(dataplane: DataPlane) -> None:
    with pytest.raises(ModelNotFound):
        dataplane.check_model("tiny", "9.9.9")


def test_package_fixture_builds_in_tmp(tmp_path: Path) -> None:
    model = build_signed_model(tmp_path, name="other", version="2.0.0")
    assert model.package.exists() and model.certificate.exists()
    assert load_package(model.package).spec.version == "2.0.0"
