"""The runtime settings ConfigMap (``<model>-runtime``), read by the pods through envFrom.

Settings live in a ConfigMap rather than inline env so that people can read a model's runtime
settings in one place; ``config_hash`` goes into the pod template so a change rolls the pods.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from axiom_operator import api
from axiom_operator.resources import labels as names
from axiom_operator.resources.owner import Owner, object_meta


def runtime_settings(spec: api.AxiomModelSpec) -> dict[str, str]:
    """Environment of the runtime from spec.runtime (only what is set; the runtime defaults the rest)."""
    runtime = spec.runtime
    if runtime is None:
        return {}
    data: dict[str, str] = {}
    if runtime.max_batch_size is not None:
        data["AXIOM_MAX_BATCH_SIZE"] = str(runtime.max_batch_size)
    if runtime.max_batch_wait_ms is not None:
        data["AXIOM_MAX_BATCH_WAIT_MS"] = f"{runtime.max_batch_wait_ms:g}"
    if runtime.max_body_bytes is not None:
        data["AXIOM_MAX_BODY_BYTES"] = str(runtime.max_body_bytes)
    if runtime.log_level is not None:
        data["AXIOM_LOG_LEVEL"] = runtime.log_level
    for env in runtime.env or ():
        data[env.name] = env.value
    return data


def config_hash(data: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def build_runtime_configmap(owner: Owner, spec: api.AxiomModelSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(
            owner, names.runtime_config_name(owner.name), names.model_labels(owner.name)
        ),
        "data": runtime_settings(spec),
    }


def build_trusted_keys_configmap(owner: Owner, keys: dict[str, bytes]) -> dict[str, Any]:
    """Pinned trust: the pinned public keys, mirrored into the model's namespace for its pods
    (a pod can only mount objects of its own namespace). Public keys, so a ConfigMap; text
    entries (PEM, base64) as data, anything else as binaryData."""
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    for key_id, value in sorted(keys.items()):
        try:
            data[key_id] = value.decode("utf-8")
        except UnicodeDecodeError:
            binary[key_id] = base64.b64encode(value).decode()
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(
            owner, names.trusted_keys_config_name(owner.name), names.model_labels(owner.name)
        ),
        "data": data,
    }
    if binary:
        manifest["binaryData"] = binary
    return manifest
