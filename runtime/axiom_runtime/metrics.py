"""A tiny Prometheus registry and text-format parser, with no dependencies.

Why not ``prometheus_client``: the runtime observes several metrics on every inference
request, and the HTTP stack is the throughput ceiling, so an observation must cost a
dictionary lookup, a ``bisect`` and a few integer additions and nothing more. Owning the
registry also lets the runtime record a whole batch at once (``observe_many`` with numpy)
and lets the operator's analysis parse what the runtime renders with the same module.

The API follows ``prometheus_client`` closely (``registry.counter(...).labels(...).inc()``)
so that readers know it already. Exposition is the text format 0.0.4.

Thread-safety: every child guards its state with a lock, because the operator and the
runtime's executor threads may observe from outside the event loop; an uncontended lock
costs far less than the HTTP work around it.
"""

from __future__ import annotations

import math
import re
import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_BUCKETS",
    "Counter",
    "CounterChild",
    "Gauge",
    "GaugeChild",
    "Histogram",
    "HistogramChild",
    "MetricsParseError",
    "Registry",
    "Sample",
    "parse_prometheus_text",
    "sample_value",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The prometheus_client defaults, so dashboards written for them keep working.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)

# observe_many bisects value by value up to this many values, and uses numpy beyond.
_SMALL_BATCH = 16

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class MetricsParseError(ValueError):
    """A line of Prometheus text exposition could not be parsed; names the line."""


def format_value(value: float) -> str:
    """Render a sample value the way Prometheus expects (``+Inf``, ``NaN``, shortest repr)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _format_bound(bound: float) -> str:
    # prometheus_client writes le="1.0", not le="1"; match it so queries carry over.
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def _escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _render_labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    inner = ",".join(
        f'{name}="{_escape_label_value(value)}"' for name, value in zip(names, values, strict=True)
    )
    return "{" + inner + "}"


class CounterChild:
    """One labelled time series of a counter; only goes up."""

    __slots__ = ("_lock", "_value")

    def __init__(self) -> None:
        self._value = 0.0
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError(f"counter increment must be >= 0, got {amount}")
        with self._lock:
            self._value += amount

    @property
    def value(self) -> float:
        return self._value


class GaugeChild:
    """One labelled time series of a gauge; may go up and down."""

    __slots__ = ("_lock", "_value")

    def __init__(self) -> None:
        self._value = 0.0
        self._lock = threading.Lock()

    def set(self, value: float) -> None:
        with self._lock:
            self._value = float(value)

    def inc(self, amount: float = 1.0) -> None:
        with self._lock:
            self._value += amount

    def dec(self, amount: float = 1.0) -> None:
        with self._lock:
            self._value -= amount

    @property
    def value(self) -> float:
        return self._value


class HistogramChild:
    """One labelled histogram: per-bucket counts (not cumulative until rendered), sum, count."""

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
        """Observe every element of ``values`` at once (one lock, vectorised bucketing)."""
        array = np.asarray(values, dtype=np.float64).ravel()
        if array.size == 0:
            return
        if array.size <= _SMALL_BATCH:
            # Below this size numpy's per-call overhead (searchsorted, bincount) costs more
            # than bisecting each value: a lightly loaded server's batches are this small.
            bounds, counts = self._bounds, self._counts
            small = array.tolist()
            with self._lock:
                for value in small:
                    # NaN into +Inf, as numpy's searchsorted below sorts it.
                    counts[bisect_left(bounds, value) if value == value else -1] += 1
                self._sum += sum(small)
            return
        indices = np.searchsorted(self._bounds_array, array, side="left")
        per_bucket = np.bincount(indices, minlength=len(self._counts))
        total = float(array.sum())
        with self._lock:
            for index, count in enumerate(per_bucket.tolist()):
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

    @property
    def count(self) -> int:
        return sum(self._counts)

    @property
    def sum(self) -> float:
        return self._sum


ChildT = TypeVar("ChildT", CounterChild, GaugeChild, HistogramChild)


class _Metric(Generic[ChildT]):
    """A metric family: a name, help text, label names, and one child per label-value tuple."""

    kind: str = ""

    def __init__(self, name: str, help: str, labelnames: Sequence[str]) -> None:
        if not _METRIC_NAME.match(name):
            raise ValueError(f"metric name {name!r} is not a valid Prometheus name")
        for label in labelnames:
            if not _LABEL_NAME.match(label) or label.startswith("__"):
                raise ValueError(f"metric {name}: label name {label!r} is not valid")
        self.name = name
        self.help = help
        self.labelnames: tuple[str, ...] = tuple(labelnames)
        self._children: dict[tuple[str, ...], ChildT] = {}
        self._lock = threading.Lock()

    def _new_child(self) -> ChildT:
        raise NotImplementedError

    def labels(self, *values: str, **by_name: str) -> ChildT:
        """The child for these label values (positional, or by name); created on first use."""
        if by_name:
            if values:
                raise ValueError(f"metric {self.name}: pass label values by position or by name")
            if set(by_name) != set(self.labelnames):
                raise ValueError(
                    f"metric {self.name}: labels {sorted(by_name)} do not match "
                    f"{list(self.labelnames)}"
                )
            values = tuple(by_name[label] for label in self.labelnames)
        if len(values) != len(self.labelnames):
            raise ValueError(
                f"metric {self.name}: expected {len(self.labelnames)} label values "
                f"{list(self.labelnames)}, got {len(values)}"
            )
        key = tuple(str(value) for value in values)
        child = self._children.get(key)
        if child is None:
            with self._lock:
                child = self._children.get(key)
                if child is None:
                    child = self._new_child()
                    self._children[key] = child
        return child

    def children(self) -> Iterator[tuple[tuple[str, ...], ChildT]]:
        with self._lock:
            items = list(self._children.items())
        return iter(items)

    def render_samples(self) -> Iterable[str]:
        raise NotImplementedError

    def render(self) -> str:
        help_text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        lines = [f"# HELP {self.name} {help_text}", f"# TYPE {self.name} {self.kind}"]
        lines.extend(self.render_samples())
        return "\n".join(lines) + "\n"


class Counter(_Metric[CounterChild]):
    kind = "counter"

    def _new_child(self) -> CounterChild:
        return CounterChild()

    def render_samples(self) -> Iterable[str]:
        for values, child in self.children():
            labels = _render_labels(self.labelnames, values)
            yield f"{self.name}{labels} {format_value(child.value)}"


class Gauge(_Metric[GaugeChild]):
    kind = "gauge"

    def _new_child(self) -> GaugeChild:
        return GaugeChild()

    def render_samples(self) -> Iterable[str]:
        for values, child in self.children():
            labels = _render_labels(self.labelnames, values)
            yield f"{self.name}{labels} {format_value(child.value)}"


class Histogram(_Metric[HistogramChild]):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        labelnames: Sequence[str],
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(name, help, labelnames)
        if "le" in self.labelnames:
            raise ValueError(f"metric {name}: 'le' is reserved for histogram buckets")
        bounds = sorted(float(bound) for bound in buckets if not math.isinf(float(bound)))
        if not bounds:
            raise ValueError(f"metric {name}: a histogram needs at least one finite bucket")
        if len(set(bounds)) != len(bounds):
            raise ValueError(f"metric {name}: bucket bounds must be distinct, got {bounds}")
        self.buckets: tuple[float, ...] = tuple(bounds)

    def _new_child(self) -> HistogramChild:
        return HistogramChild(self.buckets)

    def render_samples(self) -> Iterable[str]:
        bucket_labelnames = (*self.labelnames, "le")
        for values, child in self.children():
            cumulative, total = child.snapshot()
            for bound, count in zip((*self.buckets, math.inf), cumulative, strict=True):
                labels = _render_labels(bucket_labelnames, (*values, _format_bound(bound)))
                yield f"{self.name}_bucket{labels} {count}"
            labels = _render_labels(self.labelnames, values)
            yield f"{self.name}_sum{labels} {format_value(total)}"
            yield f"{self.name}_count{labels} {cumulative[-1]}"


class Registry:
    """Holds metric families in registration order and renders them together."""

    def __init__(self) -> None:
        self._metrics: dict[str, Counter | Gauge | Histogram] = {}
        self._lock = threading.Lock()

    def _register(self, metric: Counter | Gauge | Histogram) -> None:
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"metric {metric.name} is already registered")
            self._metrics[metric.name] = metric

    def counter(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Counter:
        metric = Counter(name, help, labelnames)
        self._register(metric)
        return metric

    def gauge(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Gauge:
        metric = Gauge(name, help, labelnames)
        self._register(metric)
        return metric

    def histogram(
        self,
        name: str,
        help: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        metric = Histogram(name, help, labelnames, buckets)
        self._register(metric)
        return metric

    def get(self, name: str) -> Counter | Gauge | Histogram | None:
        return self._metrics.get(name)

    def render(self) -> str:
        with self._lock:
            metrics = list(self._metrics.values())
        return "".join(metric.render() for metric in metrics)


@dataclass(frozen=True)
class Sample:
    """One sample line: the full sample name (e.g. ``x_bucket``), its labels and value."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    value: float = 0.0


def _parse_float(text: str, line_number: int) -> float:
    lowered = text.lower()
    if lowered in ("+inf", "inf"):
        return math.inf
    if lowered == "-inf":
        return -math.inf
    if lowered == "nan":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise MetricsParseError(f"line {line_number}: value {text!r} is not a number") from None


def _parse_labels(text: str, start: int, line_number: int) -> tuple[dict[str, str], int]:
    """Parse ``{a="x",b="y"}`` starting at ``text[start] == '{'``; return labels and end index."""
    labels: dict[str, str] = {}
    position = start + 1
    length = len(text)
    while True:
        while position < length and text[position] in " \t,":
            position += 1
        if position >= length:
            raise MetricsParseError(f"line {line_number}: unterminated label set")
        if text[position] == "}":
            return labels, position + 1
        equals = text.find("=", position)
        if equals < 0:
            raise MetricsParseError(f"line {line_number}: label without '='")
        name = text[position:equals].strip()
        if not _LABEL_NAME.match(name):
            raise MetricsParseError(f"line {line_number}: bad label name {name!r}")
        position = equals + 1
        if position >= length or text[position] != '"':
            raise MetricsParseError(f"line {line_number}: label {name} value must be quoted")
        position += 1
        chars: list[str] = []
        while True:
            if position >= length:
                raise MetricsParseError(f"line {line_number}: unterminated value of label {name}")
            char = text[position]
            if char == "\\" and position + 1 < length:
                escaped = text[position + 1]
                chars.append({"n": "\n", "\\": "\\", '"': '"'}.get(escaped, "\\" + escaped))
                position += 2
                continue
            if char == '"':
                position += 1
                break
            chars.append(char)
            position += 1
        labels[name] = "".join(chars)


def parse_prometheus_text(text: str) -> dict[str, list[Sample]]:
    """Parse text exposition 0.0.4 into samples grouped by sample name.

    Keys are the names as they appear on sample lines, so a histogram ``h`` yields
    ``h_bucket``, ``h_sum`` and ``h_count``. Comments and blank lines are skipped;
    timestamps are accepted and dropped. Raises :class:`MetricsParseError` on a bad line.
    """
    samples: dict[str, list[Sample]] = {}
    for line_number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        brace = line.find("{")
        space = line.find(" ")
        if brace >= 0 and (space < 0 or brace < space):
            name = line[:brace]
            labels, end = _parse_labels(line, brace, line_number)
            rest = line[end:].split()
        else:
            parts = line.split()
            name, labels, rest = parts[0], {}, parts[1:]
        if not _METRIC_NAME.match(name):
            raise MetricsParseError(f"line {line_number}: bad metric name {name!r}")
        if not rest or len(rest) > 2:
            raise MetricsParseError(f"line {line_number}: expected 'value [timestamp]'")
        value = _parse_float(rest[0], line_number)
        samples.setdefault(name, []).append(Sample(name=name, labels=labels, value=value))
    return samples


def sample_value(
    samples: dict[str, list[Sample]], name: str, default: float = 0.0, **labels: str
) -> float:
    """Sum of the values of ``name`` samples whose labels include ``labels`` (a subset match)."""
    matched = [
        sample.value
        for sample in samples.get(name, [])
        if all(sample.labels.get(key) == value for key, value in labels.items())
    ]
    return sum(matched) if matched else default
