"""Generate the AxiomModel CustomResourceDefinition from the pydantic models in ``api``.

``python -m axiom_operator.crd > crds/axiommodels.axiom.dev.yaml`` writes the one CRD file;
``tests/unit/test_api_crd_agreement.py`` fails when the file and the models drift.

The translation is JSON Schema (what pydantic emits) to the structural OpenAPI v3 subset the
apiserver accepts: ``$ref`` inlined, ``Optional[X]`` becomes plain ``X`` (absence is the
null), ``int | str`` becomes ``x-kubernetes-int-or-string``, numeric ``exclusiveMinimum``
becomes the OpenAPI v3.0 boolean form, titles are dropped, and ``maxLength`` on arrays is
renamed ``maxItems`` where pydantic put it.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from axiom_operator import api

# Keywords copied verbatim from pydantic's schema into the structural schema.
_KEPT_KEYWORDS = (
    "description",
    "default",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "maxProperties",
    "format",
    "x-kubernetes-validations",
    "x-kubernetes-preserve-unknown-fields",
)


class SchemaTranslationError(TypeError):
    """A pydantic construct the structural-schema translation does not support."""


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    target = dict(defs[ref.split("/")[-1]])
    # A field's own description/default wins over the referenced model's docstring.
    target.update({k: v for k, v in node.items() if k != "$ref"})
    return target


def _structural(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    node = _resolve(node, defs)
    variants = node.get("anyOf")
    if variants is not None:
        non_null = [_resolve(v, defs) for v in variants if v.get("type") != "null"]
        outer = {k: v for k, v in node.items() if k != "anyOf"}
        if len(non_null) == 1:
            merged = {**non_null[0], **outer}
            if outer.get("default", 0) is None:
                merged.pop("default")
            return _structural(merged, defs)
        if sorted(str(v.get("type")) for v in non_null) == ["integer", "string"]:
            if outer.get("default", 0) is None:
                outer.pop("default")
            int_or_string: dict[str, Any] = {"x-kubernetes-int-or-string": True}
            int_or_string.update({k: v for k, v in outer.items() if k in _KEPT_KEYWORDS})
            return int_or_string
        raise SchemaTranslationError(f"unsupported union in CRD schema: {variants}")

    out: dict[str, Any] = {}
    kind = node.get("type")
    if kind is None and "enum" in node:
        kind = "string"
    if kind is None:
        raise SchemaTranslationError(f"schema node without a type: {node}")
    out["type"] = kind
    for keyword in _KEPT_KEYWORDS:
        if keyword in node:
            out[keyword] = node[keyword]
    if "exclusiveMinimum" in node:
        out["minimum"] = node["exclusiveMinimum"]
        out["exclusiveMinimum"] = True
    if "exclusiveMaximum" in node:
        out["maximum"] = node["exclusiveMaximum"]
        out["exclusiveMaximum"] = True
    if kind == "array":
        if "maxLength" in out:
            out["maxItems"] = out.pop("maxLength")
        out["items"] = _structural(node["items"], defs)
    elif kind == "object":
        properties = node.get("properties")
        if properties is not None:
            out["properties"] = {name: _structural(prop, defs) for name, prop in properties.items()}
            if node.get("required"):
                out["required"] = list(node["required"])
        elif isinstance(node.get("additionalProperties"), dict) and not out.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            out["additionalProperties"] = _structural(node["additionalProperties"], defs)
    return out


def model_schema(model: type[api.ApiModel]) -> dict[str, Any]:
    """The structural OpenAPI schema of one pydantic model."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    defs = schema.pop("$defs", {})
    return _structural(schema, defs)


def build_crd() -> dict[str, Any]:
    """The complete CRD manifest."""
    spec_schema = model_schema(api.AxiomModelSpec)
    status_schema = model_schema(api.AxiomModelStatus)
    root = {
        "type": "object",
        "description": "AxiomModel serves one verified (signed) model and moves users between "
        "its versions safely.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "API version: axiom.dev/v1alpha1."},
            "kind": {"type": "string", "description": "Kind: AxiomModel."},
            # The apiserver forbids anything but the type here (metadata is implicit).
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
        "x-kubernetes-validations": [
            api.cel(
                f"size(self.metadata.name) <= {api.MAX_MODEL_NAME_LENGTH}",
                f"metadata.name must be at most {api.MAX_MODEL_NAME_LENGTH} characters "
                "(it prefixes Deployment and Service names)",
            ),
        ],
    }
    columns = [
        ("Version", "string", ".spec.version", "Desired version"),
        ("Stable", "string", ".status.stableVersion", "Version serving users"),
        ("Canary", "string", ".status.canaryVersion", "Version being rolled out"),
        ("Weight", "number", ".status.canaryWeight", "Percent of requests to the canary"),
        ("Phase", "string", ".status.phase", "Lifecycle phase"),
        ("Ready", "string", '.status.conditions[?(@.type=="Ready")].status', "Ready condition"),
        ("Age", "date", ".metadata.creationTimestamp", "Age"),
    ]
    wide_columns = [
        (
            "Agreement",
            "number",
            ".status.lastAnalysis.comparison.agreement",
            "Shadow steps: share of mirrored rows where the canary agreed with the stable",
        ),
        ("Analysis", "string", ".status.lastAnalysis.verdict", "Last analysis verdict"),
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{api.PLURAL}.{api.GROUP}",
            "labels": {
                "app.kubernetes.io/part-of": "axiom",
                "app.kubernetes.io/name": "axiom-operator",
            },
        },
        "spec": {
            "group": api.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": api.KIND,
                "listKind": f"{api.KIND}List",
                "plural": api.PLURAL,
                "singular": api.SINGULAR,
                "shortNames": list(api.SHORT_NAMES),
                "categories": ["axiom", "all"],
            },
            "versions": [
                {
                    "name": api.VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": [
                        {"name": n, "type": t, "jsonPath": p, "description": d}
                        for n, t, p, d in columns
                    ]
                    + [
                        # -o wide only: the default table users and docs know stays as it is.
                        {"name": n, "type": t, "jsonPath": p, "description": d, "priority": 1}
                        for n, t, p, d in wide_columns
                    ],
                }
            ],
        },
    }


HEADER = (
    "# GENERATED by `python -m axiom_operator.crd` from operator/axiom_operator/api.py.\n"
    "# Do not edit by hand: change the pydantic models and regenerate.\n"
)


def render_crd() -> str:
    return HEADER + yaml.safe_dump(build_crd(), sort_keys=False, width=100)


def main() -> None:
    sys.stdout.write(render_crd())


if __name__ == "__main__":
    main()
