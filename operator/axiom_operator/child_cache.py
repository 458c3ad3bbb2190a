"""The children the operator manages, held in memory from its own watches (pure).

Why: a pass needs every Deployment, Service, ConfigMap and HPA of its model. Listing them from
the apiserver on every pass cost four lists in namespaces that hold a thousand of each, and at
a thousand models the resyncs alone kept the apiserver busy enough that a new model waited
866 ms for its Deployment (docs/operator-at-scale.md). Controllers written with client-go read
from an informer's cache for the same reason; this is that cache, fed by
``handlers/watch_children.py`` (list, then watch from the list's resourceVersion).

Rules that keep a pass from acting on a stale view:

- A kind is served from here only once its first list has been stored (``synced``); before
  that, and for kinds never watched (HTTPRoute), the pass lists from the apiserver as before.
- The operator's own writes are stored as the apiserver answered them (``record_written``),
  so the pass after a write sees it even if the watch has not delivered it yet; an answer
  never replaces a newer object the watch already brought (resourceVersions compared as
  numbers, which the apiserver's etcd storage makes them; a non-number is taken as newer).
- ``store`` says whether what a pass reads of the object changed, so a watch event that only
  echoes the operator's own write, or moves a timestamp, asks for no pass.

Objects are kept without ``metadata.managedFields`` (nothing of a pass reads them for its
children, and they are most of an object's size).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from axiom_operator.resources import labels as names

ObjectKey = tuple[str, str]  # (namespace, name) of one object of one kind
ALL = "*"  # the scope of a cluster-wide watch
# The kinds a model owns in every traffic mode: watched into the cache, read by each pass.
CHILD_KINDS = ("Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler")


def resource_version_number(obj: Mapping[str, Any]) -> int | None:
    raw = (obj.get("metadata") or {}).get("resourceVersion")
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def is_managed(meta: Mapping[str, Any]) -> bool:
    """Selected by the watches: labelled as managed by this operator."""
    return (meta.get("labels") or {}).get(names.MANAGED_BY_LABEL) == names.MANAGED_BY


def slim(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` without its managedFields (a shallow copy: the rest is shared, never mutated)."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    return {**obj, "metadata": meta}


def what_a_pass_reads(obj: Mapping[str, Any]) -> str:
    """Everything of a child that can change a pass's outcome: all but its resourceVersion,
    managedFields and the conditions' heartbeat times (a Deployment's Progressing condition
    moves ``lastUpdateTime`` on every status write of its controller)."""
    meta = {
        k: v
        for k, v in (obj.get("metadata") or {}).items()
        if k not in ("resourceVersion", "managedFields")
    }
    status = obj.get("status")
    if isinstance(status, Mapping) and isinstance(status.get("conditions"), list):
        status = {
            **status,
            "conditions": [
                {k: v for k, v in c.items() if k != "lastUpdateTime"}
                if isinstance(c, Mapping)
                else c
                for c in status["conditions"]
            ],
        }
    return json.dumps(
        {"metadata": meta, "spec": obj.get("spec"), "data": obj.get("data"), "status": status},
        sort_keys=True,
        default=str,
    )


@dataclass
class _Entry:
    obj: dict[str, Any]
    fingerprint: str


@dataclass
class KindCache:
    """The managed objects of one kind, by (namespace, name), indexed by the model label."""

    # The scopes whose list is stored: namespaces, or ALL for a cluster-wide watch.
    synced: set[str] = field(default_factory=set)
    objects: dict[ObjectKey, _Entry] = field(default_factory=dict)
    by_model: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def _index(self, key: ObjectKey, obj: Mapping[str, Any] | None, add: bool) -> None:
        if obj is None:
            return
        model = ((obj.get("metadata") or {}).get("labels") or {}).get(names.MODEL_LABEL)
        if model is None:
            return
        slot = (key[0], str(model))
        if add:
            self.by_model.setdefault(slot, set()).add(key[1])
        else:
            members = self.by_model.get(slot)
            if members is not None:
                members.discard(key[1])
                if not members:
                    del self.by_model[slot]

    def put(self, obj: Mapping[str, Any]) -> bool:
        """Store ``obj``; True when what a pass reads of it changed (or it is new)."""
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        fingerprint = what_a_pass_reads(obj)
        previous = self.objects.get(key)
        if previous is not None:
            self._index(key, previous.obj, add=False)
        stored = slim(obj)
        self.objects[key] = _Entry(stored, fingerprint)
        self._index(key, stored, add=True)
        return previous is None or previous.fingerprint != fingerprint

    def drop(self, namespace: str, name: str) -> dict[str, Any] | None:
        entry = self.objects.pop((namespace, name), None)
        if entry is None:
            return None
        self._index((namespace, name), entry.obj, add=False)
        return entry.obj


class ChildCache:
    """What the watches have seen of each child kind (see the module docstring)."""

    def __init__(self, kinds: Iterable[str] = ()) -> None:
        self._kinds: dict[str, KindCache] = {kind: KindCache() for kind in kinds}

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self._kinds)

    def synced(self, kind: str, namespace: str) -> bool:
        """Whether ``kind`` in ``namespace`` may be read from here."""
        cache = self._kinds.get(kind)
        return cache is not None and (ALL in cache.synced or namespace in cache.synced)

    def of_model(self, kind: str, namespace: str, model: str) -> list[dict[str, Any]]:
        """The stored objects of ``kind`` labelled for ``model`` (only when ``synced``)."""
        cache = self._kinds[kind]
        found = cache.by_model.get((namespace, model), ())
        return [cache.objects[(namespace, name)].obj for name in sorted(found)]

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        cache = self._kinds.get(kind)
        entry = cache.objects.get((namespace, name)) if cache is not None else None
        return entry.obj if entry is not None else None

    def store(self, kind: str, obj: Mapping[str, Any]) -> bool:
        """A watch event's object (ADDED or MODIFIED): True when a pass should look at it."""
        return self._kinds[kind].put(obj)

    def remove(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A DELETED event (or the operator's own delete): the object that was stored."""
        cache = self._kinds.get(kind)
        return cache.drop(namespace, name) if cache is not None else None

    def replace(
        self, kind: str, objs: Iterable[Mapping[str, Any]], scope: str = ALL
    ) -> list[dict[str, Any]]:
        """A fresh list of ``kind`` in ``scope`` (a namespace, or ALL): store it whole, mark
        the scope synced, and return every object that is new, changed or gone since the
        last view (gone ones as they were), so their models are looked at: a DELETED event
        missed while the watch was broken is found here."""
        cache = self._kinds[kind]
        changed: list[dict[str, Any]] = []
        seen: set[ObjectKey] = set()
        for obj in objs:
            meta = obj.get("metadata") or {}
            seen.add((str(meta.get("namespace", "")), str(meta.get("name", ""))))
            if cache.put(obj):
                changed.append(dict(obj))
        stale = [k for k in cache.objects if k not in seen and scope in (ALL, k[0])]
        for key in stale:
            gone = cache.drop(*key)
            if gone is not None:
                changed.append(gone)
        cache.synced.add(scope)
        return changed

    def unsync(self, kind: str, scope: str = ALL) -> None:
        """The watch of ``kind`` in ``scope`` broke: until its next list is stored, passes
        list from the apiserver (events may be missing meanwhile)."""
        cache = self._kinds.get(kind)
        if cache is not None:
            cache.synced.discard(scope)

    def record_written(self, kind: str, obj: Mapping[str, Any]) -> None:
        """The apiserver's answer to one of the operator's own writes."""
        cache = self._kinds.get(kind)
        meta = obj.get("metadata") or {}
        namespace = str(meta.get("namespace", ""))
        if cache is None or not cache.synced or not is_managed(meta):
            return  # an object the watch does not select would never leave the cache
        held = cache.objects.get((namespace, str(meta.get("name", ""))))
        if held is not None:
            theirs, ours = resource_version_number(held.obj), resource_version_number(obj)
            if theirs is not None and ours is not None and ours < theirs:
                return  # the watch already brought something newer
        cache.put(obj)

    def record_deleted(self, kind: str, namespace: str, name: str) -> None:
        cache = self._kinds.get(kind)
        if cache is not None and cache.synced:
            cache.drop(namespace, name)

    def size(self) -> int:
        return sum(len(cache.objects) for cache in self._kinds.values())
