"""Same-input comparison of a stable and a canary answer, and the mirror's config fields."""

from __future__ import annotations

import pytest

from axiom_runtime.traffic.compare import Uncomparable, compare, read_answer
from axiom_runtime.traffic.config import (
    CanaryTarget,
    TrafficConfig,
    TrafficConfigError,
    parse_traffic_config,
    render_traffic_config,
)

STABLE = {
    "prediction": [[0.9, 0.05, 0.05], [0.2, 0.7, 0.1]],
    "class": [0, 1],
    "confidence": [0.9, 0.7],
}


def test_identical_answers_agree_on_every_row() -> None:
    result = compare(read_answer(STABLE), read_answer(STABLE))
    assert (result.rows, result.agreements, result.flips) == (2, 2, ())
    assert result.max_output_distance == 0.0
    assert result.confidence_deltas == (0.0, 0.0)


def test_a_permuted_answer_flips_labels_with_the_same_confidence() -> None:
    permuted = {
        "prediction": [[0.05, 0.9, 0.05], [0.1, 0.2, 0.7]],
        "class": [1, 2],
        "confidence": [0.9, 0.7],
    }
    result = compare(read_answer(STABLE), read_answer(permuted))
    assert result.agreements == 0
    assert result.flips == (("0", "1"), ("1", "2"))
    assert result.confidence_deltas == (0.0, 0.0)
    assert result.max_output_distance == pytest.approx(0.85)


def test_a_single_row_predict_answer_is_one_row() -> None:
    single = {"prediction": [0.1, 0.9], "class": "cat", "confidence": 0.9}
    other = {"prediction": [0.4, 0.6], "class": "cat", "confidence": 0.6}
    result = compare(read_answer(single), read_answer(other))
    assert (result.rows, result.agreements) == (1, 1)
    assert result.confidence_deltas == pytest.approx((0.3,))


def test_v2_answers_are_read_by_output_name() -> None:
    v2 = {
        "outputs": [
            {
                "name": "output",
                "shape": [2, 3],
                "datatype": "FP32",
                "data": [0.9, 0.05, 0.05, 0.2, 0.7, 0.1],
            },
            {"name": "class", "shape": [2], "datatype": "INT64", "data": [0, 1]},
            {"name": "confidence", "shape": [2], "datatype": "FP32", "data": [0.9, 0.7]},
        ]
    }
    answer = read_answer(v2)
    assert answer.outputs == ((0.9, 0.05, 0.05), (0.2, 0.7, 0.1))
    assert compare(answer, read_answer(STABLE)).agreements == 2


@pytest.mark.parametrize(
    "document",
    [
        {"error": "boom"},
        [1, 2],
        {"outputs": [{"name": "output", "shape": [1, 3], "parameters": {"binary_data": True}}]},
        {"prediction": "x"},
    ],
)
def test_what_cannot_be_compared_says_so(document: object) -> None:
    with pytest.raises(Uncomparable):
        read_answer(document)


def test_answers_with_different_rows_cannot_be_compared() -> None:
    one = {"prediction": [[1.0, 0.0]], "class": [0], "confidence": [1.0]}
    with pytest.raises(Uncomparable, match="rows differ"):
        compare(read_answer(STABLE), read_answer(one))


def test_mirror_percent_and_pin_header_round_trip() -> None:
    config = TrafficConfig(
        generation=3,
        canary=CanaryTarget("2.0.0", "http://127.0.0.1:1", 0.0, mirror=100.0),
        pin_header="X-Axiom-Pin",
    )
    assert parse_traffic_config(render_traffic_config(config)) == config


def test_a_config_without_mirror_renders_as_before() -> None:
    config = TrafficConfig(generation=1, canary=CanaryTarget("2.0.0", "http://127.0.0.1:1", 10.0))
    text = render_traffic_config(config)
    assert "mirrorPercent" not in text and "pinHeader" not in text


@pytest.mark.parametrize("value", [101, -1, 0.001, True])
def test_a_bad_mirror_percent_names_the_field(value: object) -> None:
    text = (
        '{"generation": 1, "canary": {"version": "2", "url": "http://a", "weight": 0, '
        f'"mirrorPercent": {str(value).lower()}}}}}'
    )
    with pytest.raises(TrafficConfigError, match=r"canary\.mirrorPercent"):
        parse_traffic_config(text)
