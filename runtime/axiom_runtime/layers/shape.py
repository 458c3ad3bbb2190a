"""Layers that only move values: ``flatten``, ``reshape``, and ``dropout`` (the identity at
inference).
"""

from __future__ import annotations

import math

from axiom_runtime.layers.registry import BoundLayer, FloatArray, LayerInput, bound, register


@register("flatten")
def _flatten(spec: LayerInput) -> BoundLayer:
    size = math.prod(spec.input_shape)

    def forward(x: FloatArray) -> FloatArray:
        return x.reshape(x.shape[0], size)

    return bound(spec, (size,), forward)


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

    return bound(spec, shape, forward)


@register("dropout", params=("p",))
def _dropout(spec: LayerInput) -> BoundLayer:
    # Inference only: dropout is the identity; `p` is accepted so exported models load.
    spec.float_param("p", 0.5)
    return bound(spec, spec.input_shape, lambda x: x)
