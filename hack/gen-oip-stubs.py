#!/usr/bin/env python3
"""Generate the Open Inference Protocol gRPC stubs of the runtime from its own .proto.

Run from the repository root (``make grpc-stubs``): grpcio-tools' protoc writes
``open_inference_pb2.py``, ``.pyi`` and ``_pb2_grpc.py`` next to the .proto. With
``--out DIR`` it writes under DIR instead (the test that checks the committed stubs are
what this script produces compares such a fresh copy byte for byte).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_ROOT = ROOT / "runtime"
PROTO = Path("axiom_runtime/server/protocol/open_inference.proto")


def generate(out: Path) -> list[Path]:
    from grpc_tools import protoc  # the dev extra pins grpcio-tools: same input, same output

    out.mkdir(parents=True, exist_ok=True)
    code = protoc.main(
        [
            "protoc",
            f"--proto_path={SOURCE_ROOT}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            str(SOURCE_ROOT / PROTO),
        ]
    )
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    stem = PROTO.with_suffix("")
    return [out / f"{stem}_pb2.py", out / f"{stem}_pb2.pyi", out / f"{stem}_pb2_grpc.py"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=SOURCE_ROOT, help="output root")
    options = parser.parse_args(argv)
    for path in generate(options.out):
        print(path.relative_to(options.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
