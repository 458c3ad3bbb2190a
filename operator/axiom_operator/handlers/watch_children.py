"""The operator's own watches of the children it manages: they fill ``child_cache.ChildCache``
and ask for a pass of the owner when what a pass reads of a child changed.

Why not Kopf's event handlers (used before): a cache filled from them cannot tell when its
first listing is complete, nor learn of a deletion it missed while its watch was re-listing,
and Kopf runs a worker task per watched object (4,000 at 1,000 models). Here each watch is
list-then-watch from the list's resourceVersion, as client-go's informers do: any error, a
410 Gone included, is followed by a fresh list that is compared with the cache, so a missed
DELETED is found, and until that list is stored passes read the kind from the apiserver.

Scope follows the operator's: cluster-wide when it serves all namespaces, one watch per
namespace when it serves named ones, and cluster-wide filtered by the patterns when they
hold globs (Kopf's own namespace patterns, ``!`` excluding).

Peering: Kopf pauses its model watch while a peer with a higher priority runs; these
watches keep the cache filled in every replica, and their pass requests go through
``ModelWatch.child_changed``, which drops those for models the model watch has not delivered,
so a standby replica acts on nothing. (A replica paused after it had acted keeps its timers,
as before these watches: see docs/operator-at-scale.md.)
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from axiom_operator.child_cache import ALL, CHILD_KINDS, ChildCache
from axiom_operator.kube import APIForbiddenError, Kube
from axiom_operator.resources import labels as names
from axiom_operator.resources.owner import owner_of
from axiom_operator.values import ModelKey

logger = logging.getLogger(__name__)

WATCHED_KINDS = CHILD_KINDS
SELECTOR = {names.MANAGED_BY_LABEL: names.MANAGED_BY}
# After an error, the next list waits this long (seconds), growing with repeated errors.
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)


def owner_key(child: Mapping[str, Any]) -> ModelKey | None:
    """The model controlling ``child`` (None for anything else)."""
    name = owner_of(dict(child))
    namespace = (child.get("metadata") or {}).get("namespace")
    return None if name is None or namespace is None else (namespace, name)


def _is_glob(pattern: str) -> bool:
    return pattern.startswith("!") or any(c in pattern for c in "*?[")


def watch_scopes(namespaces: Iterable[str]) -> tuple[tuple[str, ...], Callable[[str], bool]]:
    """The scopes to watch for the operator's namespace patterns (empty: all namespaces), and
    which namespaces' objects are the operator's."""
    patterns = tuple(namespaces)
    if not patterns:
        return (ALL,), lambda namespace: True
    if not any(_is_glob(p) for p in patterns):
        return patterns, lambda namespace: namespace in patterns
    include = [p for p in patterns if not p.startswith("!")] or ["*"]
    exclude = [p[1:] for p in patterns if p.startswith("!")]

    def served(namespace: str) -> bool:
        return any(fnmatch.fnmatchcase(namespace, p) for p in include) and not any(
            fnmatch.fnmatchcase(namespace, p) for p in exclude
        )

    return (ALL,), served


class ChildWatches:
    """One task per (kind, scope), each keeping its part of the cache current."""

    def __init__(
        self,
        kube: Kube,
        cache: ChildCache,
        request: Callable[[ModelKey, str], None],
        namespaces: Iterable[str] = (),
        server_timeout: int = 300,
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.request = request
        self.scopes, self.served = watch_scopes(namespaces)
        self.server_timeout = server_timeout
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for kind in self.cache.kinds:
            for scope in self.scopes:
                self._tasks.append(
                    asyncio.create_task(self._run(kind, scope), name=f"watch {kind} in {scope}")
                )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def _ask_for_passes(self, objs: Iterable[Mapping[str, Any]]) -> None:
        for obj in objs:
            key = owner_key(obj)
            if key is not None and self.served(key[0]):
                self.request(key, "child")

    async def _run(self, kind: str, scope: str) -> None:
        failures = 0
        first = True
        while True:
            try:
                objs, version = await self.kube.list_at(kind, scope, SELECTOR)
                changed = self.cache.replace(kind, objs, scope)
                self.kube.metrics.cached_children.set(self.cache.size())
                if not first:
                    # After a broken watch: whatever changed meanwhile. The first list needs
                    # no passes: the model watch asks for one of every model at start-up.
                    self._ask_for_passes(changed)
                first = False
                failures = 0
                async for event_type, obj in self.kube.watch(
                    kind, scope, SELECTOR, version, self.server_timeout
                ):
                    self._event(kind, event_type, obj)
                    self.kube.metrics.cached_children.set(self.cache.size())
            except asyncio.CancelledError:
                raise
            except APIForbiddenError as error:
                # RBAC does not let the operator list this kind here (a namespaced install
                # with a cluster-wide pattern): every pass lists it instead, as before.
                logger.warning("%s; passes will list %s themselves", error, kind)
                self.cache.unsync(kind, scope)
                return
            except Exception as error:  # an APIError or anything else: the watch must go on
                self.cache.unsync(kind, scope)
                delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
                failures += 1
                logger.info(
                    "watch of %s in %s ended (%s); listing again in %.0f s",
                    kind,
                    scope,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)

    def _event(self, kind: str, event_type: str, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        namespace = str(meta.get("namespace", ""))
        if not self.served(namespace):
            return
        if event_type == "DELETED":
            gone = self.cache.remove(kind, namespace, str(meta.get("name", "")))
            # Gone by the operator's own delete: already out of the cache, no pass needed.
            if gone is not None:
                self._ask_for_passes([gone])
        elif event_type in ("ADDED", "MODIFIED") and self.cache.store(kind, obj):
            self._ask_for_passes([obj])
