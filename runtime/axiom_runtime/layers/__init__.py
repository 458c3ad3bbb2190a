"""Layer types of the numpy engine: one small builder per type, in one registry.

A builder receives a layer's declared parameters, its weight arrays and the per-row shape
arriving from the previous layer. It checks all of them *once*, at load time, precomputes
whatever the forward pass can reuse (transposed weights, folded batchnorm scale), and returns
a :class:`BoundLayer` whose ``forward`` is a closure over float32 arrays. Checking at load
time is what lets the server refuse a broken package before it reports ready, and
precomputing is what keeps the per-request cost to a few vectorised numpy calls.

Conventions: arrays carry a leading batch axis that per-row shapes leave out; images are
NCHW; ``dense`` weights are (in, out) as in scikit-learn, ``linear`` weights are (out, in)
as in PyTorch.

Layout: :mod:`.registry` (the shared types, :func:`build_layer`, :func:`register`), then one
module per kind of layer: :mod:`.affine`, :mod:`.spatial` (convolution and pooling),
:mod:`.shape`, :mod:`.normalisation`, :mod:`.activations`. Importing this package imports
each of them, which registers their builders.
"""

from __future__ import annotations

# Importing the builder modules is what registers their layer types.
from axiom_runtime.layers import activations, affine, normalisation, shape, spatial  # noqa: F401
from axiom_runtime.layers.activations import erf, softmax
from axiom_runtime.layers.registry import (
    LAYER_TYPES,
    BoundLayer,
    Builder,
    FloatArray,
    Forward,
    LayerInput,
    LayerType,
    Shape,
    as_f32,
    build_layer,
    register,
)

# Alternative spellings found in exporters; they map to the same builders.
ALIASES = {
    "global_average_pool": "global_avg_pool2d",
    "global_avg_pool": "global_avg_pool2d",
    "batchnorm1d": "batchnorm",
    "batchnorm2d": "batchnorm",
    "batch_norm": "batchnorm",
    "layer_norm": "layernorm",
}
for _alias, _target in ALIASES.items():
    LAYER_TYPES[_alias] = LAYER_TYPES[_target]

__all__ = [
    "ALIASES",
    "LAYER_TYPES",
    "BoundLayer",
    "Builder",
    "FloatArray",
    "Forward",
    "LayerInput",
    "LayerType",
    "Shape",
    "as_f32",
    "build_layer",
    "erf",
    "register",
    "softmax",
]
