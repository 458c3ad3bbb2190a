"""The .axiom package: round trip, reproducible bytes, input checks, and hostile archives."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from axiom_runtime.errors import InvalidInput, PackageError
from axiom_runtime.package import load_package, package_bytes, sha256_file, write_package

RNG = np.random.default_rng(7)
W0 = RNG.standard_normal((4, 3)).astype(np.float32)
B0 = RNG.standard_normal(3).astype(np.float32)
W1 = RNG.standard_normal((3, 2)).astype(np.float32)


def model_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": "axiom-model",
        "format_version": 1,
        "name": "tiny",
        "version": "1.0.0",
        "task": "classification",
        "input": {"shape": [4], "dtype": "float32", "range": [-10, 10]},
        "output": {"shape": [2], "dtype": "float32", "labels": ["no", "yes"]},
        "layers": [
            {"type": "dense", "weights": {"weight": "w0", "bias": "b0"}},
            {"type": "relu"},
            {"type": "dense", "weights": {"weight": "w1"}},
            {"type": "softmax"},
        ],
    }
    doc.update(overrides)
    return doc


WEIGHTS = {"w0": W0, "b0": B0, "w1": W1}


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def raw_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def good_members(doc: dict[str, Any] | None = None) -> dict[str, bytes]:
    members = {"model.json": json.dumps(doc or model_doc()).encode()}
    members.update({f"weights/{k}.npy": npy(v) for k, v in WEIGHTS.items()})
    return members


def reference_forward(x: np.ndarray) -> Any:
    hidden = np.maximum(x.astype(np.float64) @ W0 + B0, 0)
    logits = hidden @ W1
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def package_path(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.axiom"
    write_package(path, model_doc(), WEIGHTS)
    return path


def test_round_trip_predicts_like_the_reference(package_path: Path) -> None:
    package = load_package(package_path)
    x = RNG.standard_normal((6, 4)).astype(np.float32)
    got = package.predict(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, reference_forward(x), rtol=1e-5, atol=1e-6)


def test_spec_reflects_model_json(package_path: Path) -> None:
    spec = load_package(package_path).spec
    assert (spec.name, spec.version, spec.input_shape, spec.output_shape) == (
        "tiny",
        "1.0.0",
        (4,),
        (2,),
    )
    assert spec.input_range == (-10.0, 10.0)
    assert spec.labels == ("no", "yes")
    assert [layer.type for layer in spec.layers] == ["dense", "relu", "dense", "softmax"]


def test_identity_is_the_sha256_of_the_file(package_path: Path) -> None:
    package = load_package(package_path)
    assert package.sha256 == sha256_file(package_path)
    assert package.size_bytes == package_path.stat().st_size


def test_write_returns_the_sha256_it_wrote(tmp_path: Path) -> None:
    digest = write_package(tmp_path / "a.axiom", model_doc(), WEIGHTS)
    assert digest == sha256_file(tmp_path / "a.axiom")


def test_writing_is_byte_reproducible() -> None:
    assert package_bytes(model_doc(), WEIGHTS) == package_bytes(
        model_doc(), dict(reversed(WEIGHTS.items()))
    )


def test_loads_from_bytes_too(package_path: Path) -> None:
    assert load_package(package_path.read_bytes()).sha256 == sha256_file(package_path)


def test_writing_refuses_a_model_that_does_not_compile(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=r"layer 2 \(dense\)"):
        write_package(tmp_path / "bad.axiom", model_doc(), {**WEIGHTS, "w1": np.zeros((5, 2))})
    assert not (tmp_path / "bad.axiom").exists()


# --- input checks -------------------------------------------------------------------------------


def test_prepare_input_accepts_one_row(package_path: Path) -> None:
    batch, single = load_package(package_path).prepare_input([0.1, 0.2, 0.3, 0.4])
    assert single and batch.shape == (1, 4)


def test_prepare_input_accepts_a_batch(package_path: Path) -> None:
    batch, single = load_package(package_path).prepare_input([[0.1, 0.2, 0.3, 0.4]] * 3)
    assert not single and batch.shape == (3, 4)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ([[1.0, 2.0, 3.0]], "input", r"expected a batch of shape \[N, 4\], got \[1, 3\]"),
        ([[1.0, 2.0], [3.0]], "input", r"nested lists of equal length"),
        ([["a", "b", "c", "d"]], "input", r"only numbers, found a string"),
        ([["1.5", 0.0, 0.0, 0.0]], "input", r"only numbers, found a string"),
        ([[True, 0.0, 0.0, 0.0]], "input", r"only numbers, found a boolean"),
        (np.ones((1, 4), dtype=bool), "input", r"only numbers, found a boolean"),
        (np.array([["1.5"] * 4]), "input", r"only numbers, found a string"),
        ([[0.0, 0.0, float("nan"), 0.0]], "input[0][2]", r"not a finite float32 number"),
        ([[0.0, 0.0, 0.0, 0.0], [0.0, 11.0, 0.0, 0.0]], "input[1][1]", r"value 11 is outside"),
    ],
)
def test_bad_input_raises_invalid_input_naming_the_field(
    package_path: Path, data: Any, field: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        load_package(package_path).predict(data)
    assert caught.value.field == field


def test_one_row_is_not_a_batch_for_predict(package_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"expected a batch of shape \[N, 4\], got \[4\]"):
        load_package(package_path).predict([0.1, 0.2, 0.3, 0.4])


def test_prepare_input_refuses_what_the_server_refuses(package_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"^input: must contain only numbers, found a string$"):
        load_package(package_path).prepare_input(["1.5", 0.2, 0.3, 0.4])


# --- hostile or broken archives -----------------------------------------------------------------


@pytest.mark.parametrize(
    "member", ["/etc/passwd", "../model.json", "weights/../../x.npy", "C:/x.npy", "weights\\a.npy"]
)
def test_path_traversal_members_are_refused(member: str) -> None:
    members = good_members()
    members[member] = b"x"
    with pytest.raises(PackageError, match=r"paths are not allowed|only model\.json"):
        load_package(raw_zip(members))


def test_unexpected_member_kinds_are_refused() -> None:
    members = good_members()
    members["run_me.py"] = b"import os"
    with pytest.raises(PackageError, match=r"'run_me.py': only model.json and weights/<name>.npy"):
        load_package(raw_zip(members))


def test_pickled_weights_are_never_unpickled() -> None:
    members = good_members()
    members["weights/w1.npy"] = npy(np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(PackageError, match=r"weights/w1.npy.*not a readable .npy"):
        load_package(raw_zip(members))


def test_integer_weights_are_refused() -> None:
    members = good_members()
    members["weights/w1.npy"] = npy(np.ones((3, 2), dtype=np.int64))
    with pytest.raises(PackageError, match=r"weights/w1.npy.*not floating point"):
        load_package(raw_zip(members))


def test_declared_size_over_the_cap_is_refused_before_reading() -> None:
    members = good_members()
    members["weights/w1.npy"] = npy(np.zeros((3, 2), dtype=np.float32))
    members["weights/big.npy"] = npy(
        np.zeros(1_000_000, dtype=np.float32)
    )  # 4 MB, deflates to ~4 KB
    with pytest.raises(
        PackageError, match=r"declares \d+ uncompressed bytes, more than the limit of 1000000"
    ):
        load_package(raw_zip(members), max_uncompressed_bytes=1_000_000)


def test_a_member_that_inflates_past_its_declared_size_is_refused() -> None:
    data = bytearray(raw_zip(good_members()))
    # Shrink the uncompressed size recorded for model.json in the central directory.
    at = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, at + 24, 10)
    with pytest.raises(PackageError, match=r"model\.json"):
        load_package(bytes(data))


def test_not_a_zip_is_a_package_error() -> None:
    with pytest.raises(PackageError, match=r"not a \.axiom package"):
        load_package(b"hello, world")


def test_missing_model_json() -> None:
    members = good_members()
    del members["model.json"]
    with pytest.raises(PackageError, match=r"no model\.json"):
        load_package(raw_zip(members))


def test_unsupported_format_version() -> None:
    with pytest.raises(PackageError, match=r"'format_version' 2 is not supported"):
        load_package(raw_zip(good_members(model_doc(format_version=2))))


def test_unknown_layer_in_a_package_names_index_and_type() -> None:
    doc = model_doc()
    doc["layers"][1] = {"type": "mish"}
    with pytest.raises(PackageError, match=r"layer 1 \(mish\): unknown layer type"):
        load_package(raw_zip(good_members(doc)))


def test_weight_shape_mismatch_with_declared_input_shape() -> None:
    doc = model_doc(input={"shape": [5], "dtype": "float32"})
    with pytest.raises(
        PackageError,
        match=r"layer 0 \(dense\): weight 'weight' has shape \[4, 3\], expected \[5, 3\]",
    ):
        load_package(raw_zip(good_members(doc)))


def test_missing_weight_file_names_layer_and_member() -> None:
    members = good_members()
    del members["weights/b0.npy"]
    with pytest.raises(
        PackageError,
        match=r"layer 0 \(dense\): weight 'bias' refers to weights/b0.npy, which is not in the package",
    ):
        load_package(raw_zip(members))


def test_unreferenced_weight_is_refused() -> None:
    members = good_members()
    members["weights/extra.npy"] = npy(np.zeros(3, dtype=np.float32))
    with pytest.raises(PackageError, match=r"weights/extra.npy' is not referenced"):
        load_package(raw_zip(members))


def test_declared_output_shape_must_match_the_layers() -> None:
    doc = model_doc(output={"shape": [3], "dtype": "float32"})
    with pytest.raises(
        PackageError,
        match=r"layer 3 \(softmax\): the layers produce rows of shape \[2\] but model.json declares output shape \[3\]",
    ):
        load_package(raw_zip(good_members(doc)))


def test_unsupported_dtype_is_refused() -> None:
    doc = model_doc(input={"shape": [4], "dtype": "float64"})
    with pytest.raises(PackageError, match=r"'input.dtype' must be one of \['float32'\]"):
        load_package(raw_zip(good_members(doc)))
