"""The dataplane: decoded request dicts in, response dicts out, through the micro-batcher.

Knows the model and both protocols, nothing of HTTP (the transport in ``routes.py`` owns
status codes and bytes), so every input rule is testable by calling these methods directly.
Responses keep numpy arrays in place; the transport serialises them with orjson.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from axiom_runtime.errors import InvalidInput
from axiom_runtime.package import ModelPackage
from axiom_runtime.server import v2
from axiom_runtime.server.batcher import MicroBatcher, Outputs
from axiom_runtime.server.errors import ModelNotFound
from axiom_runtime.server.runtime_metrics import RuntimeMetrics
from axiom_runtime.tensors import FloatArray, decode_rows

SHA256_PREFIX_LENGTH = 12


@dataclass(frozen=True)
class Classified:
    """Per-row outputs of one request."""

    scores: FloatArray  # (N, *output_shape)
    classes: npt.NDArray[np.int64] | None  # (N,) argmax, classifiers only
    confidences: FloatArray | None  # (N,) top probability, classifiers only


def make_forward(package: ModelPackage) -> Callable[[FloatArray], Outputs]:
    """The batch function: scores, and for classifiers argmax classes and top probabilities.

    Post-processing runs once per batch, not once per request, for the same reason the
    forward pass does.
    """
    # The dataplane has validated every row (shape, dtype, finite, range) before it is
    # queued, so the batch goes straight to the engine, not through package.predict's
    # second validation.
    run = package.model.run
    if not package.spec.is_classifier:
        return lambda batch: (run(batch),)

    def forward(batch: FloatArray) -> Outputs:
        scores = run(batch)
        probabilities = package.class_probabilities(scores)
        classes = probabilities.argmax(axis=1)
        confidences = probabilities[np.arange(classes.shape[0]), classes]
        return scores, classes, confidences

    return forward


class DataPlane:
    """Decode, infer (batched), encode, for one loaded model served under ``served_name``."""

    def __init__(
        self,
        package: ModelPackage,
        batcher: MicroBatcher,
        metrics: RuntimeMetrics,
        *,
        served_name: str | None = None,
    ) -> None:
        self.package = package
        self.spec = package.spec
        self.batcher = batcher
        self.metrics = metrics
        self.served_name = served_name or package.spec.name
        self.version = package.spec.version
        self.is_classifier = self.spec.is_classifier
        self.identity: dict[str, str] = {
            "name": self.served_name,
            "version": self.version,
            "sha256": package.sha256[:SHA256_PREFIX_LENGTH],
        }
        self._labels = self.spec.labels

    # -- model lookup -----------------------------------------------------------------

    def check_model(self, name: str, version: str | None = None) -> None:
        """Raise ModelNotFound unless ``name`` (and ``version`` if given) is the served model."""
        if name != self.served_name:
            raise ModelNotFound(
                "name", f"model {name!r} is not served here (serving {self.served_name!r})"
            )
        if version is not None and version != self.version:
            raise ModelNotFound(
                "version",
                f"model {name!r} version {version!r} is not served here (serving {self.version!r})",
            )

    def model_metadata(self) -> dict[str, Any]:
        return v2.model_metadata(self.served_name, self.spec)

    # -- /predict -----------------------------------------------------------------------

    def decode_predict(
        self, payload: Any, *, may_contain_bool: bool = True
    ) -> tuple[FloatArray, bool]:
        """``{"input": row or rows}`` -> (float32 batch, whether one row was sent)."""
        if not isinstance(payload, dict):
            raise InvalidInput("body", "must be a JSON object with an 'input' field")
        if "input" not in payload:
            raise InvalidInput("input", "is required: one row or a list of rows of numbers")
        return decode_rows(
            payload["input"],
            self.spec.input_shape,
            self.spec.input_range,
            "input",
            may_contain_bool=may_contain_bool,
        )

    async def predict(self, payload: Any, *, may_contain_bool: bool = True) -> dict[str, Any]:
        rows, single = self.decode_predict(payload, may_contain_bool=may_contain_bool)
        result = await self.run(rows)
        return self.encode_predict(result, single)

    def encode_predict(self, result: Classified, single: bool) -> dict[str, Any]:
        classes: Any = None
        confidences: Any = None
        if result.classes is not None and result.confidences is not None:
            if self._labels is not None:
                classes = [self._labels[int(i)] for i in result.classes]
            else:
                classes = result.classes
            confidences = result.confidences
        if single:
            return {
                "prediction": result.scores[0],
                "class": None if classes is None else classes[0],
                "confidence": None if confidences is None else confidences[0],
                "model": self.identity,
            }
        return {
            "prediction": result.scores,
            "class": classes,
            "confidence": confidences,
            "model": self.identity,
        }

    # -- V2 infer -------------------------------------------------------------------------

    def decode_infer(
        self, payload: Any, *, may_contain_bool: bool = True, binary: memoryview | None = None
    ) -> v2.InferRequest:
        return v2.decode_infer_request(
            payload, self.spec, may_contain_bool=may_contain_bool, binary=binary
        )

    async def infer(
        self, payload: Any, *, may_contain_bool: bool = True, binary: memoryview | None = None
    ) -> dict[str, Any]:
        request = self.decode_infer(payload, may_contain_bool=may_contain_bool, binary=binary)
        return await self.infer_decoded(request)

    async def infer_decoded(self, request: v2.InferRequest) -> dict[str, Any]:
        """Answer an already decoded request (HTTP JSON, binary extension, or gRPC)."""
        # Awaits the batcher directly: each coroutine layer here is resumed per request.
        outputs = await self.batcher.submit(request.rows)
        classified = self.is_classifier
        return v2.encode_infer_response(
            model_name=self.served_name,
            model_version=self.version,
            request_id=request.request_id,
            scores=outputs[0],
            classes=outputs[1] if classified else None,
            confidences=outputs[2] if classified else None,
            requested=request.requested_outputs,
        )

    # -- shared -------------------------------------------------------------------------

    async def run(self, rows: FloatArray) -> Classified:
        outputs = await self.batcher.submit(rows)
        if self.is_classifier:
            return Classified(outputs[0], outputs[1], outputs[2])
        return Classified(outputs[0], None, None)

    def observe_batch(self, outputs: Outputs) -> None:
        """Batch metrics: rows per forward pass and, for classifiers, each row's confidence."""
        self.metrics.batch_size.observe(outputs[0].shape[0])
        if self.is_classifier:
            self.metrics.confidence.observe_many(outputs[2])
