"""The runtime's per-request fast paths answer exactly what the slow paths they skip would.

Each fast path (range check without errstate, V2 tensor checks without generators, small
a batch of confidences bisected value by value when small) is pinned here at its edges: the cases
where it must hand over to the slow path, or where a shortcut could change an answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from axiom_runtime.errors import InvalidInput
from axiom_runtime.histogram import HistogramChild
from axiom_runtime.server import v2
from axiom_runtime.spec import ModelSpec
from axiom_runtime.tensors import check_values

BOUNDS = (0.1, 0.5, 0.9, 1.0)


def test_value_that_float32_rounds_onto_the_bound_is_accepted() -> None:
    # 1 + 1e-9 exceeds the bound as float64 (fast path fails) but is 1.0 as float32.
    rows = check_values(np.array([[0.5, 1.0 + 1e-9]]), "input", (0.0, 1.0), single_row=False)
    assert rows.dtype == np.float32
    assert rows.tolist() == [[0.5, 1.0]]


def test_value_equal_to_a_bound_float32_cannot_represent_is_accepted() -> None:
    # float32(0.1) > 0.1: checking after the cast refused (and crashed on) this value.
    rows = check_values(np.array([[0.1]]), "input", (0.0, 0.1), single_row=True)
    assert rows.dtype == np.float32


def test_value_past_float32_range_is_refused_even_inside_a_wider_declared_range() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_values(np.array([[0.0, 1e39]]), "input", (-1e40, 1e40), single_row=True)
    assert caught.value.field == "input[1]"
    assert "finite" in str(caught.value)


def test_nan_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_values(np.array([[0.5, np.nan, 0.2]]), "x", (0.0, 1.0), single_row=False)
    assert caught.value.field == "x[0][1]"


def test_out_of_range_value_names_its_element() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_values(np.array([[0.5], [1.5]]), "x", (0.0, 1.0), single_row=False)
    assert caught.value.field == "x[1][0]"
    assert "outside" in str(caught.value)


def _spec() -> ModelSpec:
    return ModelSpec(
        name="m",
        version="1.0.0",
        input_shape=(2,),
        output_shape=(1,),
        input_dtype="float32",
        output_dtype="float32",
        input_range=None,
        task="regression",
        labels=None,
        layers=(),
    )


def _tensor(**fields: Any) -> dict[str, Any]:
    return {
        "inputs": [{"name": "in", "shape": [1, 2], "datatype": "FP32", "data": [0, 1]} | fields]
    }


def test_v2_shape_with_a_boolean_size_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        v2.decode_infer_request(_tensor(shape=[True, 2]), _spec())
    assert caught.value.field == "inputs[0].shape"


def test_v2_datatype_that_is_not_a_string_is_refused_not_crashed() -> None:
    with pytest.raises(InvalidInput) as caught:
        v2.decode_infer_request(_tensor(datatype=["FP32"]), _spec())
    assert caught.value.field == "inputs[0].datatype"


def test_v2_missing_data_is_refused() -> None:
    payload = _tensor()
    del payload["inputs"][0]["data"]
    with pytest.raises(InvalidInput) as caught:
        v2.decode_infer_request(payload, _spec())
    assert caught.value.field == "inputs[0].data"


def test_v2_one_row_shape_without_batch_axis_is_one_row() -> None:
    request = v2.decode_infer_request(_tensor(shape=[2]), _spec())
    assert request.rows.shape == (1, 2)


def _observed(values: list[float], chunk: int) -> tuple[list[int], float]:
    histogram = HistogramChild(BOUNDS)
    for start in range(0, len(values), chunk):
        histogram.observe_many(np.array(values[start : start + chunk]))
    return histogram.snapshot()


@pytest.mark.parametrize("chunk", [1, 3, 16])
def test_small_batches_count_like_the_numpy_path(chunk: int) -> None:
    values = [0.05, 0.1, 0.1000001, 0.5, 0.7, 0.9, 0.95, 1.0, 1.5, float("nan")] * 4
    small_counts, small_sum = _observed(values, chunk)
    large_counts, large_sum = _observed(values, len(values))  # 40 values: the numpy path
    assert small_counts == large_counts
    assert small_sum == pytest.approx(large_sum)


def test_observe_many_counts_like_one_observe_per_value() -> None:
    values = [0.05, 0.1, 0.1000001, 0.5, 0.7, 0.9, 0.95, 1.0, 1.5] * 4
    one_by_one, batched = HistogramChild(BOUNDS), HistogramChild(BOUNDS)
    for value in values:
        one_by_one.observe(value)
    batched.observe_many(np.array(values))
    assert batched.snapshot() == one_by_one.snapshot()


@pytest.mark.parametrize("size", [1, 40])
def test_nan_is_not_observed_so_the_sum_stays_a_number(size: int) -> None:
    # One NaN in the sum would make every later mean confidence NaN.
    histogram = HistogramChild(BOUNDS)
    histogram.observe_many(np.array([0.5] * size + [float("nan")]))
    counts, total = histogram.snapshot()
    assert counts[-1] == size
    assert total == pytest.approx(0.5 * size)
