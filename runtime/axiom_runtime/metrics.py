"""Prometheus metrics on ``prometheus_client``: per-app registries, exposition, scrape parsing.

Every server (a runtime app, the operator) owns its own ``CollectorRegistry`` from
:func:`new_registry`, never the library's global default one, so several apps and operators
can run in one process (the tests do) without their series colliding.

The operator reads what the runtime exposes with :func:`parse_prometheus_text`, which groups
``prometheus_client``'s parsed samples by sample name (``h_bucket``, ``h_sum``, ``h_count``
for a histogram ``h``): the shape the rollout analysis (``rollout/samples.py``) reads.

``_created`` series are switched off for the whole process: the exposition keeps exactly
the series it had before the switch to ``prometheus_client`` (dashboards, alerts and the
operator's scrapes read those), and nothing here reads a creation time.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

__all__ = [
    "CONTENT_TYPE",
    "MetricsParseError",
    "Sample",
    "new_registry",
    "parse_prometheus_text",
    "render",
    "sample_value",
]

# generate_latest writes the classic text format; say so, whatever the library's newest is.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

disable_created_metrics()  # type: ignore[no-untyped-call]


class MetricsParseError(ValueError):
    """Prometheus text exposition could not be parsed; says what the parser refused."""


def new_registry() -> CollectorRegistry:
    """A registry of one app's own metrics (never the process-global default)."""
    return CollectorRegistry(auto_describe=True)


def render(registry: CollectorRegistry) -> bytes:
    """The registry's text exposition (format 0.0.4, UTF-8)."""
    return generate_latest(registry)


def parse_prometheus_text(text: str) -> dict[str, list[Sample]]:
    """Parse text exposition 0.0.4 into samples grouped by sample name.

    Keys are the names as they appear on sample lines, so a histogram ``h`` yields
    ``h_bucket``, ``h_sum`` and ``h_count``; a counter's samples keep their ``_total``.
    Timestamps are accepted and ignored by the readers. Raises :class:`MetricsParseError`
    when the text is not valid exposition.
    """
    samples: dict[str, list[Sample]] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append(sample)
    except (ValueError, IndexError, KeyError, TypeError) as error:
        raise MetricsParseError(f"unparseable metrics text: {error}") from None
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
