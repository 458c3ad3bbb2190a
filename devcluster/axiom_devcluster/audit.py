"""Counting API writes from the apiserver's audit log (``ControlPlane(audit_log=True)``).

Why the audit log and not a client's own counter: a client counts only what goes through the
code that counts (the operator's ``axiom_operator_api_writes_total`` misses Kopf's own patches
and anything a library sends by itself); the apiserver sees every write once, with who sent
it. The policy (``component_args._AUDIT_POLICY``) logs writes only, at Metadata level.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class Write:
    """One write request the apiserver completed (any status code)."""

    at: datetime
    user: str
    verb: str
    resource: str  # "deployments", "axiommodels/status", "events"...
    namespace: str
    name: str
    code: int

    @property
    def what(self) -> str:
        return f"{self.verb} {self.resource}"


def parse(lines: Iterable[str]) -> Iterator[Write]:
    """The ResponseComplete write events of audit-log JSON lines; other lines are skipped."""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # the last line of a log being written may be partial
            continue
        if event.get("stage") != "ResponseComplete":
            continue
        ref = event.get("objectRef") or {}
        resource = ref.get("resource", "")
        if ref.get("subresource"):
            resource = f"{resource}/{ref['subresource']}"
        yield Write(
            at=datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00")),
            user=(event.get("user") or {}).get("username", ""),
            verb=event.get("verb", ""),
            resource=resource,
            namespace=ref.get("namespace", ""),
            name=ref.get("name", ""),
            code=int((event.get("responseStatus") or {}).get("code", 0)),
        )


def read(path: Path) -> list[Write]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as lines:
        return list(parse(lines))


def by_kind(writes: Iterable[Write]) -> Counter[str]:
    """How many writes of each ``verb resource``."""
    return Counter(w.what for w in writes)


def of(
    writes: Iterable[Write],
    *,
    user: str,
    since: datetime | None = None,
    until: datetime | None = None,
    namespace: str | None = None,
) -> list[Write]:
    """The writes one user sent, optionally in one window and one namespace."""
    return [
        w
        for w in writes
        if w.user == user
        and (since is None or w.at >= since)
        and (until is None or w.at < until)
        and (namespace is None or w.namespace == namespace)
    ]
