"""The operator's own validation (pydantic + name rules) rejects every manifest of the
invalid catalogue too, naming the same field: the CEL rules and the validators agree."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from axiom_operator.observe import parse_spec
from axiom_operator.values import InvalidSpecError

CATALOGUE = Path(__file__).resolve().parents[1] / "integration" / "invalid_manifests"


def _field(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("# expect-field: "):
            return line.split(": ", 1)[1]
    raise AssertionError(f"{path.name} has no expect-field header")


@pytest.mark.parametrize("path", sorted(CATALOGUE.glob("*.yaml")), ids=lambda p: p.stem)
def test_operator_validation_rejects_the_manifest(path: Path) -> None:
    with pytest.raises(InvalidSpecError) as rejected:
        parse_spec(yaml.safe_load(path.read_text()))
    # pydantic names list items as steps.0.weight; the apiserver as steps[0].weight
    field = _field(path).replace("[", ".").replace("]", "")
    assert field.split(".")[-1] in str(rejected.value)
