"""Pod + container -> the argv, environment and working directory of a local process.

Pure: everything the kubelet would read from the API (ConfigMaps, Secrets) comes in through
a lookup function, and every host path through ``PodPaths``. Semantics follow the kubelet:
``envFrom`` first, then ``env`` in order; ``$(VAR)`` in env values refers to variables defined
before it, in command/args to any variable of the container; ``$$`` escapes; an unknown
reference stays as written. A missing non-optional ConfigMap/Secret key is a
``ContainerConfigError`` (the kubelet's CreateContainerConfigError).

The one liberty the agent takes (docs/node-agent.md): the process runs on the host, so a
value that names a path under a volume's mountPath (e.g. ``/etc/axiom/certs/cert.json``,
``file:///models/m.axiom`` or ``--cert=/etc/axiom/certs/cert.json``) is rewritten to the
per-pod host directory that holds that volume.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (kind "ConfigMap"|"Secret", namespace, name) -> the object as a dict, or None if absent.
ObjectLookup = Callable[[str, str, str], "dict[str, Any] | None"]

_BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class ContainerConfigError(ValueError):
    """The container cannot be started as specified (env source missing, bad reference)."""


@dataclass(frozen=True)
class PodPaths:
    """Host directories of one pod."""

    root: Path  # stands in for the container's root filesystem (default working directory)
    home: Path
    tmp: Path
    volumes: Mapping[str, Path]  # volume name -> host directory (or file) holding it


@dataclass(frozen=True)
class ProcessSpec:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    mounts: list[tuple[str, Path]] = field(default_factory=list)


@dataclass(frozen=True)
class PodFacts:
    """The values the downward API can give a container."""

    pod: Mapping[str, Any]
    pod_ip: str
    host_ip: str
    node_name: str


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion (third_party/forked/golang/expansion)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 == len(text):
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            end = text.find(")", i + 2)
            if end == -1:
                out.append(text[i:])
                break
            name = text[i + 2 : end]
            out.append(variables[name] if name in variables else text[i : end + 1])
            i = end + 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def field_value(path: str, facts: PodFacts) -> str:
    """Value of a downward-API ``fieldRef.fieldPath``."""
    meta = facts.pod.get("metadata", {})
    spec = facts.pod.get("spec", {})
    simple: dict[str, str] = {
        "metadata.name": str(meta.get("name", "")),
        "metadata.namespace": str(meta.get("namespace", "")),
        "metadata.uid": str(meta.get("uid", "")),
        "spec.nodeName": facts.node_name,
        "spec.serviceAccountName": str(spec.get("serviceAccountName", "default")),
        "status.podIP": facts.pod_ip,
        "status.podIPs": facts.pod_ip,
        "status.hostIP": facts.host_ip,
        "status.hostIPs": facts.host_ip,
    }
    if path in simple:
        return simple[path]
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{key}="{value}"' for key, value in sorted(items.items()))
    match = _LABEL_REF.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise ContainerConfigError(f"fieldRef.fieldPath {path!r} is not supported")


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
}


def parse_quantity(text: str) -> float:
    match = _QUANTITY.match(str(text).strip())
    if not match or match.group(2) not in _SUFFIX:
        raise ContainerConfigError(f"resource quantity {text!r} is not understood")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def resource_value(ref: Mapping[str, Any], container: Mapping[str, Any]) -> str:
    """``resourceFieldRef`` the kubelet way: ceil(value / divisor); no limit = node capacity."""
    resource = str(ref.get("resource", ""))
    kind, _, name = resource.partition(".")
    amounts = (container.get("resources") or {}).get(kind) or {}
    fallback = {"cpu": "8", "memory": "32Gi", "ephemeral-storage": "100Gi"}
    if name not in fallback:
        raise ContainerConfigError(f"resourceFieldRef.resource {resource!r} is not supported")
    value = parse_quantity(amounts.get(name, fallback[name]))
    divisor = parse_quantity(ref.get("divisor", "1"))
    return str(math.ceil(value / divisor))


def _object_values(
    kind: str, namespace: str, ref: Mapping[str, Any], lookup: ObjectLookup
) -> dict[str, str] | None:
    """All string values of a ConfigMap or Secret, None when it does not exist."""
    found = lookup(kind, namespace, str(ref.get("name", "")))
    if found is None:
        return None
    if kind == "Secret":
        raw = found.get("data") or {}
        values = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in raw.items()}
        values.update(found.get("stringData") or {})
        return values
    return {k: str(v) for k, v in (found.get("data") or {}).items()}


def _key_ref(kind: str, namespace: str, ref: Mapping[str, Any], lookup: ObjectLookup) -> str | None:
    values = _object_values(kind, namespace, ref, lookup)
    optional = bool(ref.get("optional", False))
    name, key = ref.get("name"), str(ref.get("key", ""))
    if values is None:
        if optional:
            return None
        raise ContainerConfigError(f'{kind.lower()} "{name}" not found')
    if key not in values:
        if optional:
            return None
        raise ContainerConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return values[key]


def container_env(
    container: Mapping[str, Any], facts: PodFacts, lookup: ObjectLookup
) -> dict[str, str]:
    """The container's own variables (envFrom, then env), resolved and expanded."""
    namespace = str(facts.pod.get("metadata", {}).get("namespace", "default"))
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix", ""))
        for kind, ref_key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = source.get(ref_key)
            if ref is None:
                continue
            values = _object_values(kind, namespace, ref, lookup)
            if values is None:
                if ref.get("optional", False):
                    continue
                raise ContainerConfigError(f'{kind.lower()} "{ref.get("name")}" not found')
            env.update({prefix + key: value for key, value in values.items()})
    for var in container.get("env") or []:
        name = str(var["name"])
        if "value" in var or "valueFrom" not in var:
            env[name] = expand(str(var.get("value", "")), env)
            continue
        source = var["valueFrom"]
        value: str | None
        if "fieldRef" in source:
            value = field_value(str(source["fieldRef"]["fieldPath"]), facts)
        elif "resourceFieldRef" in source:
            value = resource_value(source["resourceFieldRef"], container)
        elif "configMapKeyRef" in source:
            value = _key_ref("ConfigMap", namespace, source["configMapKeyRef"], lookup)
        elif "secretKeyRef" in source:
            value = _key_ref("Secret", namespace, source["secretKeyRef"], lookup)
        else:
            raise ContainerConfigError(f"env {name}: valueFrom {sorted(source)} not supported")
        if value is not None:
            env[name] = value
    return env


def mounts_of(container: Mapping[str, Any], paths: PodPaths) -> list[tuple[str, Path]]:
    """(mountPath, host path) of each volumeMount, longest mountPath first."""
    mounts: list[tuple[str, Path]] = []
    for mount in container.get("volumeMounts") or []:
        name = str(mount["name"])
        if name not in paths.volumes:
            raise ContainerConfigError(f"volumeMount {name!r} names no volume of the pod")
        host = paths.volumes[name]
        sub_path = str(mount.get("subPath") or "")
        if sub_path:
            host = host / sub_path
        mounts.append((str(mount["mountPath"]).rstrip("/") or "/", host))
    mounts.sort(key=lambda item: len(item[0]), reverse=True)
    return mounts


def _rewrite_path(text: str, mounts: list[tuple[str, Path]]) -> str | None:
    for mount_path, host in mounts:
        if text == mount_path:
            return str(host)
        if text.startswith(mount_path + "/"):
            return str(host) + text[len(mount_path) :]
    return None


def rewrite_mount_paths(value: str, mounts: list[tuple[str, Path]]) -> str:
    """Map a container path (plain, ``file://...`` or ``--flag=path``) to its host path."""
    direct = _rewrite_path(value, mounts)
    if direct is not None:
        return direct
    if value.startswith("file://"):
        inner = _rewrite_path(value[len("file://") :], mounts)
        if inner is not None:
            return "file://" + inner
    if value.startswith("-") and "=" in value:
        flag, _, rest = value.partition("=")
        inner = rewrite_mount_paths(rest, mounts)
        if inner != rest:
            return f"{flag}={inner}"
    return value


def resolve_executable(name: str, executables: Mapping[str, str], path_env: str) -> str:
    """Map a container command name to a program on this host."""
    if name in executables:
        return executables[name]
    if name.startswith("/"):
        return name
    for directory in path_env.split(":"):
        candidate = Path(directory) / name
        if candidate.is_file():
            return str(candidate)
    raise ContainerConfigError(f"executable {name!r} not found on the agent's PATH")


def process_spec(
    container: Mapping[str, Any],
    facts: PodFacts,
    paths: PodPaths,
    lookup: ObjectLookup,
    *,
    executables: Mapping[str, str],
    default_command: tuple[str, ...],
) -> ProcessSpec:
    """The complete recipe for starting ``container`` of ``facts.pod`` as a local process."""
    mounts = mounts_of(container, paths)
    own = container_env(container, facts, lookup)
    own = {key: rewrite_mount_paths(value, mounts) for key, value in own.items()}
    bin_dir = str(Path(executables.get("python", "/usr/bin/python3")).parent)
    tmp_dir = _rewrite_path("/tmp", mounts) or str(paths.tmp)
    meta = facts.pod.get("metadata", {})
    env = {
        "PATH": f"{bin_dir}:{_BASE_PATH}",
        "HOME": str(paths.home),
        "TMPDIR": tmp_dir,
        "HOSTNAME": str(facts.pod.get("spec", {}).get("hostname") or meta.get("name", "")),
        "LANG": "C.UTF-8",
    }
    env.update(own)
    command = [str(part) for part in container.get("command") or default_command]
    args = [str(part) for part in container.get("args") or []]
    words = [rewrite_mount_paths(expand(word, env), mounts) for word in command + args]
    if not words:
        raise ContainerConfigError(f"container {container.get('name')!r} has no command")
    words[0] = resolve_executable(words[0], executables, env["PATH"])
    working_dir = str(container.get("workingDir") or "")
    cwd = Path(_rewrite_path(working_dir, mounts) or paths.root) if working_dir else paths.root
    return ProcessSpec(argv=words, env=env, cwd=cwd, mounts=mounts)
