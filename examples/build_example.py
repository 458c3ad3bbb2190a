"""Build the example digits models, their certificates and the TEST-ONLY key pair (`make example`).

Four versions of one model, so the canary demo has something to move between:
  digits-1.0.0  MLP (32 hidden units), good accuracy
  digits-2.0.0  MLP (64 hidden units, another seed), also good: a safe upgrade
  digits-3.0.0  deliberately bad: tiny random weights, near-uniform low-confidence answers.
                It is still a valid, signed package: a certificate proves properties (valid
                probabilities, bounded outputs), not accuracy. Analysis must catch it.
  digits-4.0.0  confident and wrong: 1.0.0 with its output labels permuted (class k answers
                k+1 mod 10), so it keeps 1.0.0's confidence, latency and error rate exactly
                and disagrees with it on every input. Signed too; only a same-input
                comparison (shadow mode) can tell.

Everything is byte-reproducible on a given platform: fixed random_state and split, fixed zip
timestamps, a signing key derived from a fixed seed (Ed25519 signatures are deterministic), and
created_at/expires_at passed explicitly. Data comes from scikit-learn's bundled digits set
(8x8 images, no download), scaled to [0, 1].
"""

from __future__ import annotations

import argparse
import hashlib
import json
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from axiom_runtime.certificate import certificate_json, parse_property, sign_certificate
from axiom_runtime.convert import from_sklearn
from axiom_runtime.keys import private_key_pem, public_key_pem
from axiom_runtime.package import load_package, write_package

KEY_ID = "axiom-example-test-only"
# Public on purpose: anyone can re-derive this key, which is exactly why it is test-only.
KEY_SEED = hashlib.sha256(b"axiom-operator examples TEST-ONLY signing key").digest()
CREATED_AT = datetime(2026, 1, 1, tzinfo=UTC)
EXPIRES_AT = datetime(2036, 1, 1, tzinfo=UTC)
ISSUER = "Axiom operator examples (TEST-ONLY key)"
PROPERTIES = ("valid_probabilities", "bounded_output(0, 1)", "no_nan", "no_inf")
SAMPLE_DIGITS = (0, 3, 7)
KEY_WARNING = """\
TEST-ONLY KEY. NEVER USE IN PRODUCTION.
This private key is committed to a public repository and derived from a published seed,
so anyone can sign anything with it. It exists only to sign the example models so the
demo and tests can verify them. Create your own with: axiom cert keygen"""


def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    return x_train, x_test, y_train, y_test


def train(hidden: int, seed: int, x: np.ndarray, y: np.ndarray) -> MLPClassifier:
    model = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=300, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def evaluate(path: Path, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    package = load_package(path)
    probabilities = package.predict(x)
    predicted = probabilities.argmax(axis=1)
    return {
        "sha256": package.sha256,
        "size_bytes": package.size_bytes,
        "holdout_accuracy": round(float((predicted == y).mean()), 4),
        "mean_confidence": round(float(probabilities.max(axis=1).mean()), 4),
    }


def permute_labels(weights: dict[str, np.ndarray], classes: int) -> dict[str, np.ndarray]:
    """The last dense layer's output units moved one place: class k's score becomes k+1's."""
    last = max(weights, key=lambda name: int(name.split(".")[0]))
    layer = last.split(".")[0]
    permuted = dict(weights)
    for name in (f"{layer}.weight", f"{layer}.bias"):
        array = weights[name]
        axis = [i for i, size in enumerate(array.shape) if size == classes][-1]
        permuted[name] = np.roll(array, 1, axis=axis)
    return permuted


def write_keys(keys_dir: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.from_private_bytes(KEY_SEED)
    (keys_dir / "trusted").mkdir(parents=True, exist_ok=True)
    (keys_dir / "TEST-ONLY-signing-key.pem").write_bytes(private_key_pem(key, comment=KEY_WARNING))
    (keys_dir / "trusted" / KEY_ID).write_bytes(public_key_pem(key.public_key()))
    return key


def build(out: Path) -> dict[str, Any]:
    digits_dir = out / "digits"
    digits_dir.mkdir(parents=True, exist_ok=True)
    key = write_keys(out / "keys")
    x_train, x_test, y_train, y_test = split()
    v1 = train(32, 0, x_train, y_train)
    v2 = train(64, 1, x_train, y_train)
    properties = [parse_property(p) for p in PROPERTIES]
    description = "MLP on scikit-learn's digits (8x8 images scaled to [0, 1]); built by examples/build_example.py"
    versions: dict[str, Any] = {}
    for version, model, note in (
        ("1.0.0", v1, "32 hidden units, seed 0"),
        ("2.0.0", v2, "64 hidden units, seed 1"),
        ("3.0.0", v1, "deliberately bad: tiny random weights, near-uniform outputs"),
        ("4.0.0", v1, "confident and wrong: 1.0.0 with its output labels permuted (k -> k+1)"),
    ):
        spec, weights = from_sklearn(
            model, name="digits", version=version, input_range=(0.0, 1.0),
            metadata={"description": description, "note": note},
        )  # fmt: skip
        if version == "3.0.0":
            noise = np.random.default_rng(3)
            weights = {
                k: (noise.standard_normal(w.shape) * 0.01).astype(np.float32)
                for k, w in weights.items()
            }
        if version == "4.0.0":
            weights = permute_labels(weights, spec.output_shape[-1])
        path = digits_dir / f"digits-{version}.axiom"
        write_package(path, spec, weights)
        certificate = sign_certificate(
            load_package(path), key, issuer=ISSUER, key_id=KEY_ID, properties=properties,
            data=x_test, created_at=CREATED_AT, expires_at=EXPIRES_AT,
        )  # fmt: skip
        (digits_dir / f"digits-{version}.cert.json").write_text(certificate_json(certificate))
        versions[version] = {"note": note, **evaluate(path, x_test, y_test)}
    for label in SAMPLE_DIGITS:
        row = next(i for i in range(len(y_test)) if y_test[i] == label)
        sample = {"input": [[float(v) for v in x_test[row]]]}
        (digits_dir / f"sample-digit-{label}.json").write_text(json.dumps(sample) + "\n")
    metrics = {
        "dataset": "sklearn.datasets.load_digits, scaled /16, 25% stratified holdout, random_state=0",
        "holdout_samples": len(y_test),
        "versions": versions,
    }
    (digits_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent)
    metrics = build(parser.parse_args().out_dir)
    for version, info in metrics["versions"].items():
        print(
            f"digits {version}: holdout accuracy {info['holdout_accuracy']:.4f}, "
            f"mean confidence {info['mean_confidence']:.4f}, {info['size_bytes']} bytes, sha256 {info['sha256'][:16]}"
        )


if __name__ == "__main__":
    main()
