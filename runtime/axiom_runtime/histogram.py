"""A histogram that records a whole batch at once, exposed to prometheus_client as a collector.

Why not ``prometheus_client.Histogram`` for the confidence histogram: the runtime observes
one confidence per predicted row, and the library takes one value per ``observe`` (two
locks and a scan of the bounds each time). At 64 rows per request that cost 17 % more CPU
per request than the hand-written registry did; this child, which buckets a batch with
``bisect`` (small batches) or numpy (large ones) under one lock, 1.6 %
(``docs/runtime-bench.md``). One value per request (latency, batch size) goes to the
library's own Histogram: there the difference was within the bench's noise. Registry,
exposition and parsing stay prometheus_client's: :meth:`BatchHistogram.collect` hands the
library a histogram family, which it renders like its own (``le="1.0"``).
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

# observe_many bisects value by value up to this many values, and uses numpy beyond.
_SMALL_BATCH = 16


class HistogramChild:
    """One labelled histogram: per-bucket counts (not cumulative until read), sum."""

    __slots__ = ("_bounds", "_bounds_array", "_counts", "_lock", "_sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._bounds_array = np.asarray(bounds, dtype=np.float64)
        # One slot per finite bound plus the +Inf overflow slot.
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        # bisect_left finds the first bound >= value, which is Prometheus' `le` semantics.
        index = bisect_left(self._bounds, value)
        with self._lock:
            self._counts[index] += 1
            self._sum += value

    def observe_many(self, values: npt.ArrayLike) -> None:
        """Observe every element of ``values`` at once; NaN is skipped (it would make the sum,
        and so every later mean, NaN for the life of the process)."""
        array = np.asarray(values, dtype=np.float64).ravel()
        if array.size <= _SMALL_BATCH:
            # Below this size numpy's per-call overhead (searchsorted, bincount) costs more
            # than bisecting each value: a lightly loaded server's batches are this small.
            bounds, counts = self._bounds, self._counts
            small = [value for value in array.tolist() if value == value]
            with self._lock:
                for value in small:
                    counts[bisect_left(bounds, value)] += 1
                self._sum += sum(small)
            return
        array = array[~np.isnan(array)]
        indices = np.searchsorted(self._bounds_array, array, side="left")
        per_bucket = np.bincount(indices, minlength=len(self._counts)).tolist()
        total = float(array.sum())
        with self._lock:
            for index, count in enumerate(per_bucket):
                if count:
                    self._counts[index] += count
            self._sum += total

    def snapshot(self) -> tuple[list[int], float]:
        """Cumulative bucket counts (last one is +Inf, i.e. the total count) and the sum."""
        with self._lock:
            counts = list(self._counts)
            total = self._sum
        cumulative: list[int] = []
        running = 0
        for count in counts:
            running += count
            cumulative.append(running)
        return cumulative, total


class BatchHistogram(Collector):
    """A histogram family with :class:`HistogramChild` children, registered in ``registry``."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        bounds = sorted(float(bound) for bound in buckets if not math.isinf(float(bound)))
        if not bounds or len(set(bounds)) != len(bounds):
            raise ValueError(f"{name}: buckets must be distinct and finite, got {list(buckets)}")
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.bounds = tuple(bounds)
        # As prometheus_client writes them (le="1.0", not "1"), so queries carry over.
        self._le = [repr(bound) for bound in bounds] + ["+Inf"]
        self._children: dict[tuple[str, ...], HistogramChild] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def labels(self, *values: str) -> HistogramChild:
        """The child for these label values (by position); created on first use."""
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected label values for {list(self.labelnames)}")
        key = tuple(str(value) for value in values)
        with self._lock:
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = HistogramChild(self.bounds)
        return child

    def _family(self) -> Metric:
        return Metric(self.name, self.documentation, "histogram")

    def describe(self) -> Iterable[Metric]:
        # Lets the registry refuse a second family of this name, as for its own metrics.
        yield self._family()

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        with self._lock:
            children = list(self._children.items())
        for values, child in children:
            cumulative, total = child.snapshot()
            labels = dict(zip(self.labelnames, values, strict=True))
            for le, count in zip(self._le, cumulative, strict=True):
                family.add_sample(f"{self.name}_bucket", {**labels, "le": le}, float(count))
            family.add_sample(f"{self.name}_count", labels, float(cumulative[-1]))
            family.add_sample(f"{self.name}_sum", labels, total)
        yield family
