"""What the same-input comparison reads for the example versions against digits 1.0.0.

The figures a user weighs when choosing minAgreement, maxConfidenceDelta and
maxDistributionShift: every example version answers the 450 held-out digits (the split of
examples/build_example.py), and its answers are compared with 1.0.0's row by row with the
runtime's own comparison and the operator's PSI, as a shadow step would.

Usage: python bench/shadow_compare_bench.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "examples"))

from build_example import split  # type: ignore[import-not-found]  # noqa: E402

from axiom_operator.rollout.comparison import ShadowSample, figures  # noqa: E402
from axiom_runtime.package import load_package  # noqa: E402

DIGITS = BENCH.parent / "examples" / "digits"
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0, float("inf"))


def cumulative(values: np.ndarray) -> tuple[tuple[float, float], ...]:
    ordered = np.sort(values)
    return tuple(
        (edge, float(np.searchsorted(ordered, edge, side="right"))) for edge in CONFIDENCE_BUCKETS
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for ignored in ("--duration", "--requests", "--soak"):
        parser.add_argument(ignored, default=0, help="ignored (shared run_all option)")
    parser.add_argument("--skip-mlserver", action="store_true", help="ignored (shared option)")
    parser.parse_args()
    _, x_test, _, _ = split()
    answers = {
        version: load_package(DIGITS / f"digits-{version}.axiom").predict(x_test)
        for version in ("1.0.0", "2.0.0", "3.0.0", "4.0.0")
    }
    stable = answers["1.0.0"]
    print(f"Against digits 1.0.0 on {len(x_test)} held-out digits (a shadow step's figures)\n")
    print("| canary | agreement | mean confidence delta | max output distance | PSI |")
    print("|---|---:|---:|---:|---:|")
    for version, canary in answers.items():
        if version == "1.0.0":
            continue
        stable_class, canary_class = stable.argmax(axis=1), canary.argmax(axis=1)
        stable_conf, canary_conf = stable.max(axis=1), canary.max(axis=1)
        sample = ShadowSample(
            rows=len(x_test),
            agreements=int((stable_class == canary_class).sum()),
            confidence_delta_sum=float(np.abs(canary_conf - stable_conf).sum()),
            confidence_delta_count=len(x_test),
            stable_confidence=cumulative(stable_conf),
            canary_confidence=cumulative(canary_conf),
            stable_classes={
                str(c): int(n)
                for c, n in zip(*np.unique(stable_class, return_counts=True), strict=True)
            },
            canary_classes={
                str(c): int(n)
                for c, n in zip(*np.unique(canary_class, return_counts=True), strict=True)
            },
        )
        shown = figures(sample)
        distance = float(np.abs(canary - stable).max())
        print(
            f"| {version} | {shown.agreement:.3f} | {shown.mean_confidence_delta:.3f} | "
            f"{distance:.3f} | {shown.distribution_shift:.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
