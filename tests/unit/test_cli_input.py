"""The CLI takes rows by the server's rules: what ``POST /predict`` refuses, the CLI refuses too.

A certificate signed on data the served model would reject proves nothing about what it
serves, so ``axiom cert sign --data`` and ``axiom model predict`` go through the same
decoder as the dataplane, and say which file or option held the bad value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from axiom_runtime.cli import main
from axiom_runtime.errors import InvalidInput
from axiom_runtime.metrics import new_registry
from axiom_runtime.package import ModelPackage, load_package
from axiom_runtime.server.batcher import MicroBatcher
from axiom_runtime.server.dataplane import DataPlane, make_forward
from axiom_runtime.server.runtime_metrics import RuntimeMetrics

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DIGITS_V1 = EXAMPLES / "digits" / "digits-1.0.0.axiom"
ROW = [0.5] * 64

BAD_ROWS: dict[str, Any] = {
    "string": [[*ROW[:63], "1.5"]],
    "boolean": [[*ROW[:63], True]],
    "null": [[*ROW[:63], None]],
    "outside the range": [ROW, [*ROW[:10], 3.0, *ROW[11:]]],
}


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def package() -> ModelPackage:
    return load_package(DIGITS_V1)


@pytest.fixture
def keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    private = tmp_path / "signing.pem"
    code, _, err = run(
        capsys, "cert", "keygen", "--private-key", private, "--trusted-dir", tmp_path / "t"
    )
    assert code == 0, err
    return private


def server_error(package: ModelPackage, rows: Any) -> str:
    metrics = RuntimeMetrics(new_registry(), package.spec.name, package.spec.version)
    plane = DataPlane(package, MicroBatcher(make_forward(package), max_batch_size=4), metrics)
    with pytest.raises(InvalidInput) as caught:
        plane.decode_predict({"input": rows})
    return str(caught.value)


@pytest.mark.parametrize("kind", sorted(BAD_ROWS))
def test_predict_refuses_what_the_server_refuses_with_the_same_message(
    capsys: pytest.CaptureFixture[str], package: ModelPackage, kind: str
) -> None:
    rows = BAD_ROWS[kind]
    code, out, err = run(capsys, "model", "predict", DIGITS_V1, "--data", json.dumps(rows))
    assert code == 1 and out == ""
    assert err == f"axiom: error: --data: {server_error(package, rows)}\n"


def test_predict_names_the_input_file_and_the_element(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = tmp_path / "rows.json"
    source.write_text(json.dumps({"input": BAD_ROWS["outside the range"]}))
    code, _, err = run(capsys, "model", "predict", DIGITS_V1, source)
    assert code == 1
    assert err.startswith(f"axiom: error: {source}: input[1][10]: value 3 is outside")


def test_predict_refuses_a_string_number(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "model", "predict", DIGITS_V1, "--data", json.dumps([*ROW[:63], "1.5"])
    )
    assert code == 1
    assert err == "axiom: error: --data: input: must contain only numbers, found a string\n"


def test_predict_still_answers_rows_the_server_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "model", "predict", DIGITS_V1, "--data", json.dumps([ROW, ROW]), "--json"
    )
    assert code == 0, err
    assert len(json.loads(out)["classes"]) == 2


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ([[*ROW[:63], "1.5"]], "input: must contain only numbers, found a string"),
        ([[True, *ROW[1:]]], "input: must contain only numbers, found a boolean"),
    ],
)
def test_sign_refuses_json_data_the_server_refuses(
    capsys: pytest.CaptureFixture[str], keys: Path, tmp_path: Path, rows: Any, words: str
) -> None:
    data = tmp_path / "holdout.json"
    data.write_text(json.dumps({"input": rows}))
    output = tmp_path / "c.json"
    code, _, err = run(
        capsys, "cert", "sign", DIGITS_V1, "--key", keys, "--issuer", "t", "--data", data,
        "--property", "valid_probabilities", "-o", output,
    )  # fmt: skip
    assert code == 1
    assert err == f"axiom: error: --data {data}: {words}\n"
    assert not output.exists()


def test_sign_refuses_a_boolean_npy_array(
    capsys: pytest.CaptureFixture[str], keys: Path, tmp_path: Path
) -> None:
    data = tmp_path / "holdout.npy"
    np.save(data, np.ones((3, 64), dtype=bool))
    code, _, err = run(
        capsys, "cert", "sign", DIGITS_V1, "--key", keys, "--issuer", "t", "--data", data,
        "-o", tmp_path / "c.json",
    )  # fmt: skip
    assert code == 1
    assert (
        err == f"axiom: error: --data {data}: input: must contain only numbers, found a boolean\n"
    )


def test_sign_certifies_one_row_as_a_batch_of_one(
    capsys: pytest.CaptureFixture[str], keys: Path, tmp_path: Path
) -> None:
    data = tmp_path / "row.json"
    data.write_text(json.dumps({"input": ROW}))
    output = tmp_path / "c.json"
    code, _, err = run(
        capsys, "cert", "sign", DIGITS_V1, "--key", keys, "--issuer", "t", "--data", data,
        "--property", "valid_probabilities", "-o", output,
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(output.read_text())["verification"]["test_data"]["samples"] == 1
