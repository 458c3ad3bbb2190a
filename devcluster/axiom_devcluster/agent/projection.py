"""Pod volume -> the files the kubelet would put in it (pure; writing is atomic_writer's job).

Follows the kubelet's volume plugins: a ConfigMap or Secret volume holds one file per key
(``data`` and ``binaryData``; a Secret's values base64-decoded), or only the listed ``items``
at their ``path``; modes are ``items[].mode`` else ``defaultMode`` else 0644. ``projected``
volumes merge their sources, ``downwardAPI`` volumes hold field values. A missing object or
key is an error unless marked ``optional``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from axiom_devcluster.agent.podspec import (
    ContainerConfigError,
    ObjectLookup,
    PodFacts,
    field_value,
)

DEFAULT_MODE = 0o644
# Volume kinds the agent fills from API objects and refreshes when they change.
PROJECTED_KINDS = ("configMap", "secret", "projected", "downwardAPI")


@dataclass(frozen=True)
class FileEntry:
    content: bytes
    mode: int


Payload = dict[str, FileEntry]


def _object_bytes(kind: str, obj: Mapping[str, Any]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    if kind == "Secret":
        for key, value in (obj.get("data") or {}).items():
            files[key] = base64.b64decode(value)
        for key, value in (obj.get("stringData") or {}).items():
            files[key] = str(value).encode()
    else:
        for key, value in (obj.get("data") or {}).items():
            files[key] = str(value).encode()
        for key, value in (obj.get("binaryData") or {}).items():
            files[key] = base64.b64decode(value)
    return files


def _check_path(path: str, volume: str) -> str:
    parts = path.split("/")
    if path.startswith("/") or ".." in parts or path.startswith(".."):
        raise ContainerConfigError(f"volume {volume!r}: item path {path!r} must be relative")
    return path


def _object_payload(
    kind: str,
    source: Mapping[str, Any],
    namespace: str,
    lookup: ObjectLookup,
    default_mode: int,
    volume: str,
) -> Payload:
    name = str(source.get("name") or source.get("secretName") or "")
    optional = bool(source.get("optional", False))
    obj = lookup(kind, namespace, name)
    if obj is None:
        if optional:
            return {}
        raise ContainerConfigError(f'volume {volume!r}: {kind.lower()} "{name}" not found')
    files = _object_bytes(kind, obj)
    items = source.get("items")
    if not items:
        return {key: FileEntry(content, default_mode) for key, content in files.items()}
    payload: Payload = {}
    for item in items:
        key = str(item["key"])
        if key not in files:
            if optional:
                continue
            raise ContainerConfigError(
                f'volume {volume!r}: configured key "{key}" not found in {kind} {namespace}/{name}'
            )
        mode = int(item["mode"]) if item.get("mode") is not None else default_mode
        payload[_check_path(str(item["path"]), volume)] = FileEntry(files[key], mode)
    return payload


def _downward_payload(
    source: Mapping[str, Any], facts: PodFacts, default_mode: int, volume: str
) -> Payload:
    payload: Payload = {}
    for item in source.get("items") or []:
        if "fieldRef" not in item:
            raise ContainerConfigError(f"volume {volume!r}: only fieldRef items are supported")
        value = field_value(str(item["fieldRef"]["fieldPath"]), facts)
        mode = int(item["mode"]) if item.get("mode") is not None else default_mode
        payload[_check_path(str(item["path"]), volume)] = FileEntry(value.encode(), mode)
    return payload


def volume_payload(volume: Mapping[str, Any], facts: PodFacts, lookup: ObjectLookup) -> Payload:
    """Files of one projected-kind volume (configMap, secret, projected, downwardAPI)."""
    name = str(volume["name"])
    namespace = str(facts.pod.get("metadata", {}).get("namespace", "default"))
    if "configMap" in volume:
        source = volume["configMap"]
        mode = int(source.get("defaultMode", DEFAULT_MODE))
        return _object_payload("ConfigMap", source, namespace, lookup, mode, name)
    if "secret" in volume:
        source = volume["secret"]
        mode = int(source.get("defaultMode", DEFAULT_MODE))
        return _object_payload("Secret", source, namespace, lookup, mode, name)
    if "downwardAPI" in volume:
        source = volume["downwardAPI"]
        mode = int(source.get("defaultMode", DEFAULT_MODE))
        return _downward_payload(source, facts, mode, name)
    if "projected" in volume:
        source = volume["projected"]
        mode = int(source.get("defaultMode", DEFAULT_MODE))
        payload: Payload = {}
        for part in source.get("sources") or []:
            if "configMap" in part:
                payload.update(
                    _object_payload("ConfigMap", part["configMap"], namespace, lookup, mode, name)
                )
            elif "secret" in part:
                payload.update(
                    _object_payload("Secret", part["secret"], namespace, lookup, mode, name)
                )
            elif "downwardAPI" in part:
                payload.update(_downward_payload(part["downwardAPI"], facts, mode, name))
            # serviceAccountToken / clusterTrustBundle sources are skipped: nothing here needs them
        return payload
    raise ContainerConfigError(f"volume {name!r} is not a projected kind")


def volume_kind(volume: Mapping[str, Any]) -> str:
    for kind in (*PROJECTED_KINDS, "emptyDir", "hostPath"):
        if kind in volume:
            return kind
    return next((key for key in volume if key != "name"), "unknown")


def referenced_objects(pod: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of every ConfigMap/Secret the pod's volumes project."""
    refs: set[tuple[str, str]] = set()
    for volume in pod.get("spec", {}).get("volumes") or []:
        sources: list[Mapping[str, Any]] = [volume]
        if "projected" in volume:
            sources = list(volume["projected"].get("sources") or [])
        for source in sources:
            if "configMap" in source:
                refs.add(("ConfigMap", str(source["configMap"].get("name", ""))))
            if "secret" in source:
                secret = source["secret"]
                refs.add(("Secret", str(secret.get("secretName") or secret.get("name") or "")))
    return refs
