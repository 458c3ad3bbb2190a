"""Volume projection (kubelet semantics) and the AtomicWriter layout with atomic updates."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from axiom_devcluster.agent.atomic_writer import DATA_DIR, write_atomic
from axiom_devcluster.agent.podspec import ContainerConfigError, PodFacts
from axiom_devcluster.agent.projection import FileEntry, volume_payload

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": {}}
FACTS = PodFacts(POD, "127.19.0.2", "127.0.0.1", "n")
CONFIGMAP = {"data": {"a": "A"}, "binaryData": {"b": base64.b64encode(b"\x00\x01").decode()}}


def lookup(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    return CONFIGMAP if (kind, name) == ("ConfigMap", "cm") else None


def test_configmap_volume_holds_data_and_binary_data_with_default_mode() -> None:
    payload = volume_payload({"name": "v", "configMap": {"name": "cm"}}, FACTS, lookup)
    assert payload == {"a": FileEntry(b"A", 0o644), "b": FileEntry(b"\x00\x01", 0o644)}


def test_items_select_keys_paths_and_modes() -> None:
    source = {
        "name": "cm",
        "defaultMode": 0o600,
        "items": [{"key": "a", "path": "sub/x", "mode": 0o400}],
    }
    payload = volume_payload({"name": "v", "configMap": source}, FACTS, lookup)
    assert payload == {"sub/x": FileEntry(b"A", 0o400)}


def test_missing_configmap_is_an_error_unless_optional() -> None:
    with pytest.raises(ContainerConfigError, match='configmap "gone" not found'):
        volume_payload({"name": "v", "configMap": {"name": "gone"}}, FACTS, lookup)
    assert (
        volume_payload(
            {"name": "v", "configMap": {"name": "gone", "optional": True}}, FACTS, lookup
        )
        == {}
    )


def test_writer_lays_out_data_link_and_key_symlinks(tmp_path: Path) -> None:
    write_atomic(tmp_path, {"a": FileEntry(b"one", 0o644)})
    assert (tmp_path / DATA_DIR).is_symlink()
    assert os.readlink(tmp_path / "a") == f"{DATA_DIR}/a"
    assert (tmp_path / "a").read_bytes() == b"one"


def test_update_swaps_data_link_and_removes_old_version_and_stale_keys(tmp_path: Path) -> None:
    write_atomic(tmp_path, {"a": FileEntry(b"one", 0o644), "gone": FileEntry(b"x", 0o644)})
    first = os.readlink(tmp_path / DATA_DIR)
    assert write_atomic(tmp_path, {"a": FileEntry(b"two", 0o644)}) is True
    assert os.readlink(tmp_path / DATA_DIR) != first
    assert not (tmp_path / first).exists()
    assert not (tmp_path / "gone").is_symlink()
    assert (tmp_path / "a").read_bytes() == b"two"


def test_unchanged_payload_is_not_rewritten(tmp_path: Path) -> None:
    write_atomic(tmp_path, {"a": FileEntry(b"one", 0o644)})
    assert write_atomic(tmp_path, {"a": FileEntry(b"one", 0o644)}) is False
