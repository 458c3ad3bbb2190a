"""The chart grants exactly the resources the operator's code uses: no fewer (the operator
would hit 403s) and no more (least privilege).

The inventory is read from the operator itself: every kind its Kube door can touch
(``axiom_operator.kube.KINDS``), the children the operator watches (``handlers.watch_children.WATCHED_KINDS``),
every lightkube resource class imported anywhere in the operator, the AxiomModel status
subresource it patches, and the framework's fixed needs (Kopf's CRD and
namespace discovery, Events). Adding a kind to the operator without a rule fails here; the
integration test tests/integration/test_helm_install.py then proves the verbs at runtime.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from helmchart import Helm

OPERATOR_ROOT = Path(__file__).resolve().parents[2] / "operator" / "axiom_operator"

# Kopf's own needs, independent of the handlers: discovery of CRDs and namespaces, and
# posting Events (the operator posts its own Events through events.EventRecorder as well).
FRAMEWORK_RESOURCES = {
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("", "namespaces"),
    ("", "events"),
}
READ_ONLY = {("", "secrets")}


def imported_lightkube_resources() -> set[tuple[str, str]]:
    """(group, plural) of every lightkube resource class the operator code imports, wherever
    it imports it (a kind used outside kube.KINDS, e.g. Pods for metric scraping, counts)."""
    import importlib

    found = set()
    for path in OPERATOR_ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            module_name = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            if module_name.startswith("lightkube.resources."):
                module = importlib.import_module(module_name)
                for alias in getattr(node, "names", ()):
                    info = getattr(module, alias.name)._api_info
                    found.add((info.resource.group, info.plural))
    return found


def watched_children() -> list[tuple[str, str]]:
    """(group, plural) of each child kind the operator lists and watches itself."""
    from axiom_operator import kube
    from axiom_operator.handlers.watch_children import WATCHED_KINDS

    return [
        (kube.KINDS[kind]._api_info.resource.group, kube.KINDS[kind]._api_info.plural)
        for kind in WATCHED_KINDS
    ]


def operator_resources() -> set[tuple[str, str]]:
    from axiom_operator import api, kube

    used = {(cls._api_info.resource.group, cls._api_info.plural) for cls in kube.KINDS.values()}
    used |= imported_lightkube_resources()
    used |= set(watched_children())
    used.add((api.GROUP, f"{api.PLURAL}/status"))
    return used | FRAMEWORK_RESOURCES


def chart_grants(helm: Helm) -> dict[tuple[str, str], set[str]]:
    grants: dict[tuple[str, str], set[str]] = {}
    manifests: list[dict[str, Any]] = helm.template()
    for role in (m for m in manifests if m["kind"] == "ClusterRole"):
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


def test_every_resource_the_operator_uses_is_granted(helm: Helm) -> None:
    missing = operator_resources() - chart_grants(helm).keys()
    assert not missing, f"the operator uses {sorted(missing)} but the chart does not grant them"


def test_the_chart_grants_nothing_the_operator_does_not_use(helm: Helm) -> None:
    extra = chart_grants(helm).keys() - operator_resources()
    assert not extra, f"the chart grants {sorted(extra)} which the operator code never uses"


def test_read_only_resources_have_no_write_verbs(helm: Helm) -> None:
    grants = chart_grants(helm)
    for resource in READ_ONLY:
        assert grants[resource] <= {"get", "list", "watch"}, (resource, grants[resource])


def test_watched_kinds_can_be_listed_and_watched(helm: Helm) -> None:
    from axiom_operator import api

    grants = chart_grants(helm)
    watched = [*watched_children(), (api.GROUP, api.PLURAL)]
    for resource in watched:
        assert {"list", "watch"} <= grants[resource], (resource, grants[resource])


def test_applied_kinds_can_be_created_and_patched(helm: Helm) -> None:
    grants = chart_grants(helm)
    for group, plural in watched_children():
        assert {"create", "patch", "delete"} <= grants[(group, plural)], plural
