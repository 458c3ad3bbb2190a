"""Pod + container -> local process: env resolution, downward API, mountPath rewrite."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from axiom_devcluster.agent.podspec import (
    ContainerConfigError,
    PodFacts,
    PodPaths,
    expand,
    process_spec,
    rewrite_mount_paths,
)

POD: dict[str, Any] = {
    "metadata": {"name": "m-1", "namespace": "ns", "uid": "u1", "labels": {"app": "m"}},
    "spec": {"nodeName": "axiom-agent-0"},
}
FACTS = PodFacts(POD, pod_ip="127.19.0.7", host_ip="127.0.0.1", node_name="axiom-agent-0")
PATHS = PodPaths(
    root=Path("/s/root"),
    home=Path("/s/home"),
    tmp=Path("/s/tmp"),
    volumes={"certs": Path("/s/v/certs"), "scratch": Path("/s/v/scratch")},
)
OBJECTS = {
    ("ConfigMap", "ns", "cfg"): {"data": {"level": "debug"}},
    ("Secret", "ns", "sec"): {"data": {"token": base64.b64encode(b"t0k").decode()}},
}
EXECUTABLES = {"axiom": "/venv/bin/axiom", "python": "/venv/bin/python"}


def lookup(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    return OBJECTS.get((kind, namespace, name))


def spec_of(container: dict[str, Any]) -> Any:
    return process_spec(
        container, FACTS, PATHS, lookup, executables=EXECUTABLES, default_command=("axiom", "serve")
    )


def test_expand_replaces_known_keeps_unknown_and_unescapes_double_dollar() -> None:
    assert expand("$(A)-$(B)-$$(A)", {"A": "1"}) == "1-$(B)-$(A)"


def test_downward_api_gives_pod_ip_name_and_label() -> None:
    env = spec_of(
        {
            "name": "c",
            "env": [
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "L", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            ],
        }
    ).env
    assert (env["IP"], env["N"], env["L"]) == ("127.19.0.7", "m-1", "m")


def test_configmap_and_secret_key_refs_resolve() -> None:
    env = spec_of(
        {
            "name": "c",
            "env": [
                {"name": "LV", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "level"}}},
                {"name": "TK", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "token"}}},
            ],
        }
    ).env
    assert (env["LV"], env["TK"]) == ("debug", "t0k")


def test_missing_required_key_is_a_container_config_error() -> None:
    with pytest.raises(ContainerConfigError, match="couldn't find key nope"):
        spec_of(
            {
                "name": "c",
                "env": [
                    {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nope"}}}
                ],
            }
        )


def test_missing_optional_key_leaves_the_variable_unset() -> None:
    ref = {"name": "absent", "key": "k", "optional": True}
    env = spec_of({"name": "c", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": ref}}]}).env
    assert "X" not in env


def test_env_from_with_prefix() -> None:
    env = spec_of({"name": "c", "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "P_"}]}).env
    assert env["P_level"] == "debug"


def test_axiom_command_maps_to_the_venv_console_script_with_default_command() -> None:
    assert spec_of({"name": "c"}).argv == ["/venv/bin/axiom", "serve"]


def test_env_and_args_under_a_mount_path_are_rewritten_to_the_host_volume() -> None:
    spec = spec_of(
        {
            "name": "c",
            "command": ["axiom", "serve", "--certificate=/etc/axiom/certs/c.json"],
            "env": [
                {"name": "CERT", "value": "/etc/axiom/certs/c.json"},
                {"name": "URI", "value": "file:///etc/axiom/certs/m.axiom"},
                {"name": "OTHER", "value": "/etc/axiom/certsX/c.json"},
            ],
            "volumeMounts": [{"name": "certs", "mountPath": "/etc/axiom/certs"}],
        }
    )
    assert spec.env["CERT"] == "/s/v/certs/c.json"
    assert spec.env["URI"] == "file:///s/v/certs/m.axiom"
    assert spec.env["OTHER"] == "/etc/axiom/certsX/c.json"
    assert spec.argv[2] == "--certificate=/s/v/certs/c.json"


def test_tmp_mount_becomes_tmpdir_and_home_is_per_pod() -> None:
    spec = spec_of({"name": "c", "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}]})
    assert (spec.env["TMPDIR"], spec.env["HOME"]) == ("/s/v/scratch", "/s/home")


def test_rewrite_prefers_the_longest_mount_path() -> None:
    mounts = [("/a/b", Path("/h/ab")), ("/a", Path("/h/a"))]
    assert rewrite_mount_paths("/a/b/c", mounts) == "/h/ab/c"
    assert rewrite_mount_paths("/a/x", mounts) == "/h/a/x"


def test_volume_mount_naming_no_volume_is_refused() -> None:
    with pytest.raises(ContainerConfigError, match="names no volume"):
        spec_of({"name": "c", "volumeMounts": [{"name": "ghost", "mountPath": "/x"}]})
