"""The `axiom` CLI, called in-process: exit codes 0/1/2, one-line errors, and the workflows."""

from __future__ import annotations

import json
import pickle
import stat
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from axiom_runtime.cli import main
from axiom_runtime.package import load_package

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DIGITS_V1 = EXAMPLES / "digits" / "digits-1.0.0.axiom"
SAMPLE_3 = EXAMPLES / "digits" / "sample-digit-3.json"


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(text: str) -> bool:
    return text.count("\n") == 1 and text.endswith("\n")


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    (source / "weights").mkdir(parents=True)
    doc = {
        "format": "axiom-model",
        "format_version": 1,
        "name": "tiny",
        "version": "0.1.0",
        "input": {"shape": [3], "dtype": "float32"},
        "output": {"shape": [2], "dtype": "float32"},
        "layers": [{"type": "dense", "weights": {"weight": "w"}}, {"type": "softmax"}],
    }
    (source / "model.json").write_text(json.dumps(doc))
    np.save(source / "weights" / "w.npy", np.eye(3, 2, dtype=np.float32))
    return source


@pytest.fixture
def keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    private, trusted = tmp_path / "signing.pem", tmp_path / "trusted"
    assert (
        run(
            capsys,
            "cert",
            "keygen",
            "--private-key",
            private,
            "--trusted-dir",
            trusted,
            "--key-id",
            "ci",
        )[0]
        == 0
    )
    return private, trusted


# --- dispatcher ----------------------------------------------------------------------------------


def test_no_arguments_prints_help_and_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == 2
    assert "model" in out and "cert" in out


def test_unknown_command_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "deploy")
    assert code == 2
    assert one_line(err) and "unknown command 'deploy'" in err


def test_missing_argument_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["model", "build"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert one_line(err) and "required" in err


def test_group_without_subcommand_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "cert")
    assert code == 2
    assert "keygen" in err and "verify" in err


# --- model ---------------------------------------------------------------------------------------


def test_build_then_inspect(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    out_path = tmp_path / "tiny.axiom"
    assert run(capsys, "model", "build", model_dir, "-o", out_path)[0] == 0
    code, out, _ = run(capsys, "model", "inspect", out_path, "--json")
    info = json.loads(out)
    assert code == 0
    assert (info["name"], info["version"], info["sha256"]) == (
        "tiny",
        "0.1.0",
        load_package(out_path).sha256,
    )
    assert [layer["type"] for layer in info["layers"]] == ["dense", "softmax"]


def test_build_with_a_bad_weight_fails_with_the_layer_named(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    np.save(model_dir / "weights" / "w.npy", np.ones((4, 2), dtype=np.float32))
    code, _, err = run(capsys, "model", "build", model_dir, "-o", tmp_path / "x.axiom")
    assert code == 1
    assert (
        one_line(err)
        and "layer 0 (dense): weight 'weight' has shape [4, 2], expected [3, 2]" in err
    )
    assert not (tmp_path / "x.axiom").exists()


def test_inspect_of_a_missing_file_fails_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "model", "inspect", tmp_path / "nope.axiom")
    assert code == 1 and one_line(err) and "nope.axiom" in err


def test_predict_classifies_a_sample_digit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "model", "predict", DIGITS_V1, SAMPLE_3)
    assert code == 0
    assert out.startswith("row 0: class 3 (probability 0.9")


def test_predict_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "model", "predict", DIGITS_V1, SAMPLE_3, "--json")
    result = json.loads(out)
    assert code == 0
    assert result["classes"] == ["3"] and result["model"]["version"] == "1.0.0"


def test_predict_with_inline_data_of_the_wrong_width(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "model", "predict", DIGITS_V1, "--data", "[[0.1, 0.2]]")
    assert code == 1
    assert one_line(err)
    assert (
        "--data: input: expected one row of shape [64] or rows of shape [N, 64], got [1, 2]" in err
    )


def test_convert_descriptor(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    descriptor = {
        "format": "axiom.pytorch.sequential.v1",
        "name": "net",
        "version": "2.0.0",
        "input_shape": [2],
        "layers": [{"type": "linear", "in_features": 2, "out_features": 2, "weight": [[1, 0], [0, 1]], "bias": [0, 0]}, {"type": "softmax", "dim": 1}],
    }  # fmt: skip
    (tmp_path / "net.json").write_text(json.dumps(descriptor))
    code, out, _ = run(
        capsys, "model", "convert", tmp_path / "net.json", "-o", tmp_path / "net.axiom"
    )
    assert code == 0 and "net 2.0.0" in out
    np.testing.assert_allclose(
        load_package(tmp_path / "net.axiom").predict([[0.0, 0.0]]), [[0.5, 0.5]]
    )


@pytest.fixture
def iris_pickle(tmp_path: Path) -> tuple[Path, Any]:
    x, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden_layer_sizes=(5,), max_iter=50, random_state=0).fit(x, y)
    path = tmp_path / "iris.pkl"
    path.write_bytes(pickle.dumps(model))
    return path, model


def test_convert_pickle_needs_explicit_trust(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, iris_pickle: tuple[Path, Any]
) -> None:
    code, _, err = run(
        capsys,
        "model",
        "convert",
        iris_pickle[0],
        "-o",
        tmp_path / "iris.axiom",
        "--name",
        "iris",
        "--version",
        "1",
    )
    assert code == 1 and "--trust-pickle" in err


def test_convert_trusted_sklearn_pickle(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, iris_pickle: tuple[Path, Any]
) -> None:
    path, model = iris_pickle
    argv = [
        "model",
        "convert",
        path,
        "-o",
        tmp_path / "iris.axiom",
        "--name",
        "iris",
        "--version",
        "1",
        "--trust-pickle",
    ]
    assert run(capsys, *argv)[0] == 0
    x = load_iris().data[:5].astype(np.float32)
    np.testing.assert_allclose(
        load_package(tmp_path / "iris.axiom").predict(x),
        model.predict_proba(x),
        rtol=1e-4,
        atol=1e-5,
    )


# --- cert ----------------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_only_the_owner_can_read(keys: tuple[Path, Path]) -> None:
    private, trusted = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert (trusted / "ci").read_text().startswith("-----BEGIN PUBLIC KEY-----")


def test_keygen_refuses_to_overwrite(
    capsys: pytest.CaptureFixture[str], keys: tuple[Path, Path]
) -> None:
    code, _, err = run(capsys, "cert", "keygen", "--private-key", keys[0], "--trusted-dir", keys[1])
    assert code == 1 and "--force" in err


@pytest.fixture
def signed(capsys: pytest.CaptureFixture[str], keys: tuple[Path, Path], tmp_path: Path) -> Path:
    package = tmp_path / "digits-1.0.0.axiom"
    package.write_bytes(DIGITS_V1.read_bytes())
    code, _, err = run(
        capsys, "cert", "sign", package, "--key", keys[0], "--key-id", "ci", "--issuer", "tests",
        "--data", SAMPLE_3, "--property", "valid_probabilities", "--property", "bounded_output(0, 1)",
        "--expires-in-days", "30",
    )  # fmt: skip
    assert code == 0, err
    return tmp_path / "digits-1.0.0.cert.json"


def test_sign_then_verify(
    capsys: pytest.CaptureFixture[str], signed: Path, keys: tuple[Path, Path]
) -> None:
    code, out, _ = run(
        capsys, "cert", "verify", signed, "--trusted-keys", keys[1], "--package", signed.with_name("digits-1.0.0.axiom"),
        "--name", "digits", "--version", "1.0.0",
    )  # fmt: skip
    assert code == 0 and out.startswith("certificate valid: digits 1.0.0")


def test_verify_failure_exits_1_with_the_reason(
    capsys: pytest.CaptureFixture[str], signed: Path, keys: tuple[Path, Path]
) -> None:
    code, _, err = run(
        capsys, "cert", "verify", signed, "--trusted-keys", keys[1], "--version", "2.0.0"
    )
    assert code == 1
    assert one_line(err) and "[VersionMismatch]" in err


def test_verify_json(
    capsys: pytest.CaptureFixture[str], signed: Path, keys: tuple[Path, Path]
) -> None:
    code, out, _ = run(
        capsys,
        "cert",
        "verify",
        signed,
        "--trusted-keys",
        keys[1],
        "--now",
        "2099-01-01T00:00:00Z",
        "--json",
    )
    assert code == 1
    assert json.loads(out)["reason"] == "Expired"


def test_sign_refuses_a_failing_property(
    capsys: pytest.CaptureFixture[str], keys: tuple[Path, Path], tmp_path: Path
) -> None:
    code, _, err = run(
        capsys, "cert", "sign", DIGITS_V1, "--key", keys[0], "--issuer", "tests", "--data", SAMPLE_3,
        "--property", "bounded_output(0, 0.5)", "-o", tmp_path / "c.json",
    )  # fmt: skip
    assert code == 1 and one_line(err) and "refusing to sign: bounded_output failed" in err
    assert not (tmp_path / "c.json").exists()


def test_sign_with_a_bad_property_name(
    capsys: pytest.CaptureFixture[str], keys: tuple[Path, Path], tmp_path: Path
) -> None:
    code, _, err = run(
        capsys,
        "cert",
        "sign",
        DIGITS_V1,
        "--key",
        keys[0],
        "--issuer",
        "t",
        "--property",
        "accurate",
        "-o",
        tmp_path / "c.json",
    )
    assert code == 1 and "property 'accurate'" in err
