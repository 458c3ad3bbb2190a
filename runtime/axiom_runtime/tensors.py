"""Turn decoded JSON (nested lists) into a validated float32 batch, or say exactly what is wrong.

Every way rows reach a model ends here: both server protocols (``/predict`` and V2), and the
CLI (``axiom model predict``, and ``axiom cert sign`` through :meth:`ModelPackage.predict`),
so a certificate is never signed on data the server would refuse. Strictness is the point:
numpy would happily turn ``"1.5"`` or ``true`` into a number, and a model must not silently
answer a request its caller got wrong. Every error is :class:`InvalidInput` whose ``field``
is a JSON path (``input[3][17]``) when one element is at fault.

Cost matters (this runs per request): the checks are whole-array numpy operations; the one
Python-level walk (looking for booleans) runs only when the transport saw ``true``/``false``
in the body bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from axiom_runtime.errors import InvalidInput

FloatArray = npt.NDArray[np.float32]
_FLOAT32_MAX = float(np.finfo(np.float32).max)
# The ufuncs themselves: ndarray.min() goes through a Python wrapper on every call.
_minimum = np.minimum.reduce
_maximum = np.maximum.reduce


def contains_bool(value: Any) -> bool:
    """True if a JSON boolean appears anywhere in ``value`` (lists only are walked)."""
    if isinstance(value, bool):
        return True
    if isinstance(value, list):
        return any(contains_bool(item) for item in value)
    return False


def numeric_array(data: Any, field: str, *, may_contain_bool: bool = True) -> npt.NDArray[Any]:
    """``data`` as a regular numeric numpy array (int or float kind), or InvalidInput.

    ``data`` is decoded JSON (nested lists) or an array read from a ``.npy`` file; an array
    is held to the same rules, so a boolean or string ``.npy`` is refused like its JSON twin.
    """
    if isinstance(data, np.ndarray):
        array = data
    elif not isinstance(data, list):
        raise InvalidInput(field, f"must be a list of numbers, got {_json_type(data)}")
    else:
        if may_contain_bool and contains_bool(data):
            raise InvalidInput(field, "must contain only numbers, found a boolean")
        try:
            array = np.array(data)
        except (ValueError, TypeError):
            raise InvalidInput(
                field, "rows must be nested lists of equal length (ragged or mixed nesting)"
            ) from None
    kind = array.dtype.kind
    if kind in "fiu":
        return array
    if kind in "US":
        raise InvalidInput(field, "must contain only numbers, found a string")
    if kind == "b":
        raise InvalidInput(field, "must contain only numbers, found a boolean")
    # Object arrays come from null, objects, or integers too large for int64; rare enough
    # to look at element by element (astype would quietly turn null into NaN).
    for item in array.flat:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise InvalidInput(field, f"must contain only numbers, found {_json_type(item)}")
    try:
        return array.astype(np.float64)
    except OverflowError:
        raise InvalidInput(field, "has an integer too large for a float") from None


def decode_rows(
    data: Any,
    input_shape: tuple[int, ...],
    input_range: tuple[float, float] | None,
    field: str = "input",
    *,
    may_contain_bool: bool = True,
) -> tuple[FloatArray, bool]:
    """One row or a batch of rows -> (float32 batch of shape (N, *input_shape), one row sent)."""
    array = numeric_array(data, field, may_contain_bool=may_contain_bool)
    single = array.shape == input_shape
    if single:
        array = array.reshape((1, *input_shape))
    elif array.ndim != len(input_shape) + 1 or array.shape[1:] != input_shape or array.shape[0] < 1:
        raise InvalidInput(
            field,
            f"expected one row of shape {shape_text(input_shape)} or rows of shape "
            f"[N, {', '.join(map(str, input_shape))}], got {shape_text(array.shape)}",
        )
    return check_values(array, field, input_range, single_row=single), single


def decode_batch(
    data: Any,
    input_shape: tuple[int, ...],
    input_range: tuple[float, float] | None,
    field: str = "input",
) -> FloatArray:
    """A batch of rows (never one bare row) -> float32 (N, *input_shape), by the same rules."""
    array = numeric_array(data, field)
    if array.ndim != len(input_shape) + 1 or array.shape[1:] != input_shape or array.shape[0] < 1:
        raise InvalidInput(
            field,
            f"expected a batch of shape [N, {', '.join(map(str, input_shape))}], "
            f"got {shape_text(array.shape)}",
        )
    return check_values(array, field, input_range, single_row=False)


def element_path(field: str, index: Sequence[int]) -> str:
    return field + "".join(f"[{int(i)}]" for i in index)


def check_values(
    batch: npt.NDArray[Any],
    field: str,
    input_range: tuple[float, float] | None,
    *,
    single_row: bool,
) -> FloatArray:
    """Cast a (N, *shape) batch to float32, refusing non-finite and out-of-range values."""
    if batch.size == 0:
        return batch.astype(np.float32)
    low, high = input_range if input_range is not None else (-_FLOAT32_MAX, _FLOAT32_MAX)
    # Fast path, two reductions on the decoded values: NaN poisons min/max, infinity fails
    # the bounds, and a value inside the float32 range cannot overflow in the cast, so no
    # errstate context (which costs as much as the reductions) is needed.
    if max(low, -_FLOAT32_MAX) <= float(_minimum(batch, axis=None)) and float(
        _maximum(batch, axis=None)
    ) <= min(high, _FLOAT32_MAX):
        return batch.astype(np.float32, copy=False)
    with np.errstate(over="ignore"):  # overflow to infinity is caught just below
        rows = batch.astype(np.float32, copy=False)
    finite = np.abs(rows) <= _FLOAT32_MAX  # NaN compares False, infinity exceeds the bound
    if not finite.all():
        raise InvalidInput(
            element_path(field, _first(~finite, single_row)),
            "is not a finite float32 number (NaN, infinity or overflow)",
        )
    outside = (rows < low) | (rows > high)
    if not outside.any():  # e.g. a bound that float32 rounding moved a value onto
        return rows
    where = _first(outside, single_row)
    value = float(rows[tuple(_first(outside, False))])
    raise InvalidInput(
        element_path(field, where),
        f"value {value:g} is outside the model's input range [{low:g}, {high:g}]",
    )


def _first(mask: npt.NDArray[np.bool_], drop_batch_axis: bool) -> tuple[int, ...]:
    index = tuple(int(i) for i in np.argwhere(mask)[0])
    return index[1:] if drop_batch_axis else index


def shape_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(size) for size in shape) + "]"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
