"""The CRD file and the pydantic models are one source: the file is what the models generate,
and, checked independently of the generator, every model field is a CRD property (and back)
with the same requiredness, default and a description."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from axiom_operator import api, crd

CRD_PATH = Path(__file__).resolve().parents[2] / "crds" / "axiommodels.axiom.dev.yaml"


@pytest.fixture(scope="module")
def crd_on_disk() -> dict[str, Any]:
    return yaml.safe_load(CRD_PATH.read_text())


def _schema(crd_doc: dict[str, Any]) -> dict[str, Any]:
    return crd_doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_crd_file_is_exactly_what_the_models_generate() -> None:
    assert CRD_PATH.read_text() == crd.render_crd(), (
        "crds/axiommodels.axiom.dev.yaml is stale: run `python -m axiom_operator.crd > crds/axiommodels.axiom.dev.yaml`"
    )


def _nested_model(annotation: Any) -> type[pydantic.BaseModel] | None:
    """The ApiModel inside Optional[...] / list[...], if any."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _nested_model(arg)
            if found is not None:
                return found
    return None


def _compare(model: type[pydantic.BaseModel], schema: dict[str, Any], path: str) -> list[str]:
    if schema.get("type") == "array":
        schema = schema["items"]
    problems = []
    properties = schema.get("properties", {})
    fields = {info.alias or name: info for name, info in model.model_fields.items()}
    for missing in sorted(set(fields) ^ set(properties)):
        problems.append(f"{path}.{missing}: in only one of pydantic and CRD")
    required = set(schema.get("required", []))
    for alias, info in fields.items():
        if alias not in properties:
            continue
        prop = properties[alias]
        if info.is_required() != (alias in required):
            problems.append(f"{path}.{alias}: required differs")
        if (
            not info.is_required()
            and info.default is not None
            and prop.get("default") != info.default
        ):
            problems.append(f"{path}.{alias}: default {info.default!r} != {prop.get('default')!r}")
        nested = _nested_model(info.annotation)
        if nested is not None:
            problems.extend(_compare(nested, prop, f"{path}.{alias}"))
    return problems


@pytest.mark.parametrize(
    ("model", "field"), [(api.AxiomModelSpec, "spec"), (api.AxiomModelStatus, "status")]
)
def test_every_model_field_is_a_crd_property_with_same_required_and_default(
    crd_on_disk: dict[str, Any], model: type[pydantic.BaseModel], field: str
) -> None:
    assert _compare(model, _schema(crd_on_disk)["properties"][field], field) == []


def _undocumented(schema: dict[str, Any], path: str) -> list[str]:
    # metadata is implicit: the apiserver forbids documenting it in the CRD.
    missing = [] if schema.get("description") or path == ".metadata" else [path]
    for name, prop in schema.get("properties", {}).items():
        missing += _undocumented(prop, f"{path}.{name}")
    if "items" in schema:
        missing += _undocumented(schema["items"], f"{path}[]")
    return missing


def test_every_crd_field_has_a_description(crd_on_disk: dict[str, Any]) -> None:
    assert _undocumented(_schema(crd_on_disk), "") == []


def test_crd_declares_status_and_scale_subresources(crd_on_disk: dict[str, Any]) -> None:
    subresources = crd_on_disk["spec"]["versions"][0]["subresources"]
    assert subresources["status"] == {}
    assert subresources["scale"]["specReplicasPath"] == ".spec.replicas"


def test_printer_columns_cover_version_stable_canary_weight_phase_ready_age(
    crd_on_disk: dict[str, Any],
) -> None:
    printed = crd_on_disk["spec"]["versions"][0]["additionalPrinterColumns"]
    columns = [c["name"] for c in printed if not c.get("priority")]
    assert columns == ["Version", "Stable", "Canary", "Weight", "Phase", "Ready", "Age"]


def test_kubectl_get_wide_shows_the_shadow_agreement_and_the_last_verdict(
    crd_on_disk: dict[str, Any],
) -> None:
    printed = crd_on_disk["spec"]["versions"][0]["additionalPrinterColumns"]
    wide = {c["name"]: c["jsonPath"] for c in printed if c.get("priority") == 1}
    assert wide == {
        "Agreement": ".status.lastAnalysis.comparison.agreement",
        "Analysis": ".status.lastAnalysis.verdict",
    }


def test_short_name_is_axm(crd_on_disk: dict[str, Any]) -> None:
    assert crd_on_disk["spec"]["names"]["shortNames"] == ["axm"]


def test_int_or_string_quantities_keep_their_description(crd_on_disk: dict[str, Any]) -> None:
    requests = _schema(crd_on_disk)["properties"]["spec"]["properties"]["resources"]["properties"][
        "requests"
    ]
    assert requests["additionalProperties"]["x-kubernetes-int-or-string"] is True
