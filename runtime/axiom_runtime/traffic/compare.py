"""Same-input comparison: the stable's and the canary's answers to one mirrored request.

A version that is confident and wrong passes every check on its own figures (errors,
latency, mean confidence). Given the same input, the stable pod holds both answers and can
say how far apart they are: whether the class agrees (and which label flipped to which),
how much the confidence moved, and the largest difference between the two output vectors.
The class mix and confidence of each side are counted too, so the operator can measure how
far the canary's output distribution has shifted from the stable's (PSI) over a window.

Pure: decoded JSON answers in, a :class:`Comparison` out. Both answer shapes the runtime
serves are understood: ``/predict`` (``prediction``, ``class``, ``confidence``; one row or
a batch) and the V2 infer JSON (outputs ``output``, ``class``, ``confidence``). Anything
else (a binary V2 answer, an error, rows that do not line up) is :class:`Uncomparable`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


class Uncomparable(ValueError):
    """The two answers cannot be compared row by row; the message says why."""


@dataclass(frozen=True)
class Answer:
    """One side's rows: output vectors, classes (label or index as text) and confidences."""

    outputs: tuple[tuple[float, ...], ...]
    classes: tuple[str, ...] | None
    confidences: tuple[float, ...] | None


@dataclass(frozen=True)
class Comparison:
    """Row by row, stable against canary, for one request."""

    rows: int
    agreements: int
    flips: tuple[tuple[str, str], ...]  # (stable class, canary class) per disagreeing row
    confidence_deltas: tuple[float, ...]  # |canary - stable| per row
    max_output_distance: float  # largest |difference| of any output, over the rows
    stable: Answer
    canary: Answer


def _rows(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise Uncomparable(f"{field}: not a list")
    return value


def _floats(row: Any, field: str) -> tuple[float, ...]:
    values = row if isinstance(row, list) else [row]
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Uncomparable(f"{field}: not numbers")
        out.append(float(value))
    return tuple(out)


def _predict_answer(document: dict[str, Any]) -> Answer:
    prediction = _rows(document.get("prediction"), "prediction")
    classes = document.get("class")
    confidences = document.get("confidence")
    single = bool(prediction) and not isinstance(prediction[0], list)
    if single:
        prediction = [prediction]
        classes = None if classes is None else [classes]
        confidences = None if confidences is None else [confidences]
    outputs = tuple(_floats(row, "prediction") for row in prediction)
    return Answer(
        outputs=outputs,
        classes=None if classes is None else tuple(str(c) for c in _rows(classes, "class")),
        confidences=None
        if confidences is None
        else _floats(_rows(confidences, "confidence"), "confidence"),
    )


def _v2_answer(document: dict[str, Any]) -> Answer:
    tensors: dict[str, dict[str, Any]] = {}
    for tensor in _rows(document.get("outputs"), "outputs"):
        if isinstance(tensor, dict) and isinstance(tensor.get("name"), str):
            tensors[tensor["name"]] = tensor
    scores = tensors.get("output")
    if scores is None or "data" not in scores:
        raise Uncomparable("outputs: no JSON 'output' tensor (binary or not requested)")
    shape = scores.get("shape")
    flat = _floats(_flatten(scores["data"]), "output")
    if not isinstance(shape, list) or not shape or not all(isinstance(n, int) for n in shape):
        raise Uncomparable("output: no shape")
    rows = shape[0] if len(shape) > 1 else 1
    width = len(flat) // rows if rows else 0
    if rows * width != len(flat):
        raise Uncomparable("output: data does not match its shape")
    outputs = tuple(flat[i * width : (i + 1) * width] for i in range(rows))
    classes = tensors.get("class")
    confidences = tensors.get("confidence")
    return Answer(
        outputs=outputs,
        classes=None
        if classes is None or "data" not in classes
        else tuple(str(c) for c in _flatten(classes["data"])),
        confidences=None
        if confidences is None or "data" not in confidences
        else _floats(_flatten(confidences["data"]), "confidence"),
    )


def _flatten(value: Any) -> list[Any]:
    if not isinstance(value, list):
        return [value]
    out: list[Any] = []
    for item in value:
        out.extend(_flatten(item))
    return out


def read_answer(document: Any) -> Answer:
    """One side's answer from its decoded JSON body."""
    if not isinstance(document, dict):
        raise Uncomparable("answer is not a JSON object")
    if "outputs" in document:
        return _v2_answer(document)
    if "prediction" in document:
        return _predict_answer(document)
    raise Uncomparable("answer has neither 'prediction' nor 'outputs'")


def compare(stable: Answer, canary: Answer) -> Comparison:
    """Row by row comparison of two answers to the same input."""
    rows = len(stable.outputs)
    if rows == 0 or len(canary.outputs) != rows:
        raise Uncomparable(f"rows differ: stable {rows}, canary {len(canary.outputs)}")
    distance = 0.0
    for mine, theirs in zip(stable.outputs, canary.outputs, strict=True):
        if len(mine) != len(theirs):
            raise Uncomparable(f"output widths differ: {len(mine)} and {len(theirs)}")
        for a, b in zip(mine, theirs, strict=True):
            gap = abs(a - b)
            if math.isfinite(gap) and gap > distance:
                distance = gap
    flips: list[tuple[str, str]] = []
    agreements = rows
    if stable.classes is not None and canary.classes is not None:
        if len(stable.classes) != rows or len(canary.classes) != rows:
            raise Uncomparable("class rows do not match output rows")
        for mine_class, their_class in zip(stable.classes, canary.classes, strict=True):
            if mine_class != their_class:
                flips.append((mine_class, their_class))
        agreements = rows - len(flips)
    deltas: tuple[float, ...] = ()
    if stable.confidences is not None and canary.confidences is not None:
        if len(stable.confidences) != rows or len(canary.confidences) != rows:
            raise Uncomparable("confidence rows do not match output rows")
        deltas = tuple(
            abs(b - a) for a, b in zip(stable.confidences, canary.confidences, strict=True)
        )
    return Comparison(
        rows=rows,
        agreements=agreements,
        flips=tuple(flips),
        confidence_deltas=deltas,
        max_output_distance=distance,
        stable=stable,
        canary=canary,
    )
