"""The layer registry: the types every builder shares, and the checks before any builder runs.

:func:`build_layer` looks a layer type up in :data:`LAYER_TYPES`, rejects parameters and
weights the type does not understand, and hands a :class:`LayerInput` to the builder. The
builders themselves live in the sibling modules by kind and add themselves with
:func:`register` when :mod:`axiom_runtime.layers` imports them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

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


def bound(
    spec: LayerInput, output_shape: Shape, forward: Forward, *arrays: FloatArray | None
) -> BoundLayer:
    """The builder's result: ``arrays`` are the weights it keeps, counted as parameters."""
    count = sum(int(a.size) for a in arrays if a is not None)
    return BoundLayer(spec.index, spec.type, spec.input_shape, output_shape, forward, count)
