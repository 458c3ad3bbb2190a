"""Structured logs: one JSON object per line, so log pipelines need no parsing rules.

Fields: ``ts`` (RFC 3339 UTC), ``level``, ``logger``, ``event`` (the message) and whatever
the call passed as ``extra={"fields": {...}}``. Request logs are off by default and sampled
when on (``request_log_sample_rate``): a per-request log line would cost more than the
inference it describes.
"""

from __future__ import annotations

import datetime
import logging
import sys
from typing import Any

import orjson

LOGGER_NAME = "axiom.serve"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str) -> None:
    """Route every logger (ours, aiohttp's) through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log is replaced by our sampled request log.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    logger.log(level, event, extra={"fields": fields})
