"""The catalogue of invalid AxiomModels (tests/integration/invalid_manifests/*.yaml): each one
is rejected by the apiserver with a message naming the field, or accepted by the apiserver
and then reported by the operator in status (phase Invalid, Ready=False/InvalidSpec naming
the field). None of them crashes the operator (KopfRunner re-raises at teardown if it did)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import ApiError, AsyncClient
from operator_support import condition, model_when

from axiom_operator.kube import AxiomModelResource

CATALOGUE = Path(__file__).parent / "invalid_manifests"
CASES = sorted(CATALOGUE.glob("*.yaml"))
TEXTS = {path: path.read_text() for path in CASES}
pytestmark = pytest.mark.timeout(120)


def expectation(path: Path) -> tuple[str, str]:
    header = dict(
        line[2:].split(": ", 1)
        for line in path.read_text().splitlines()
        if line.startswith("# expect-")
    )
    return header["expect-layer"], header["expect-field"]


def test_catalogue_has_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
async def test_invalid_manifest_is_refused_naming_the_field(
    path: Path, kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    layer, field = expectation(path)
    manifest = yaml.safe_load(TEXTS[path])
    manifest["metadata"]["namespace"] = namespace
    name = manifest["metadata"]["name"]
    if layer == "apiserver":
        with pytest.raises(ApiError) as refused:
            await kube_client.create(AxiomModelResource.from_dict(manifest))
        assert refused.value.status.code == 422
        assert field in (refused.value.status.message or "")
        return
    await kube_client.create(AxiomModelResource.from_dict(manifest))
    model = await model_when(
        kube_client, name, lambda m: (m.get("status") or {}).get("phase") == "Invalid", within=30
    )
    ready = condition(model, "Ready")
    assert ready["reason"] == "InvalidSpec"
    assert field in ready["message"]
