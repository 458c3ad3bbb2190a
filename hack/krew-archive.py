#!/usr/bin/env python3
"""Build the krew archive of ``kubectl axiom`` (byte-for-byte reproducible) and keep the
manifest's sha256 equal to it.

The archive holds ``deploy/krew/kubectl-axiom``, a shim that runs the plugin from the installed
``axiom-operator`` distribution. Reproducible (fixed mtime, owner and mode; gzip without a
timestamp), so the sha256 in deploy/krew/axiom.yaml can be checked by a test on any machine:
``--check`` fails when the manifest names another digest.

Usage: python hack/krew-archive.py [--check] [--out DIR]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import re
import sys
import tarfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIM = REPO_ROOT / "deploy" / "krew" / "kubectl-axiom"
MANIFEST = REPO_ROOT / "deploy" / "krew" / "axiom.yaml"
ARCHIVE_NAME = "kubectl-axiom.tar.gz"


def archive_bytes() -> bytes:
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        data = SHIM.read_bytes()
        info = tarfile.TarInfo("kubectl-axiom")
        info.size, info.mode, info.mtime = len(data), 0o755, 0
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        archive.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as compressed:
        compressed.write(tar_buffer.getvalue())
    return out.getvalue()


def manifest_digests(text: str) -> list[str]:
    return re.findall(r"sha256:\s*([0-9a-f]{64})", text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the manifest is stale")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "dist", help="archive directory")
    args = parser.parse_args()
    data = archive_bytes()
    digest = hashlib.sha256(data).hexdigest()
    text = MANIFEST.read_text()
    stale = [d for d in manifest_digests(text) if d != digest]
    if args.check:
        if stale or not manifest_digests(text):
            print(f"{MANIFEST}: sha256 is not {digest}: run hack/krew-archive.py", file=sys.stderr)
            return 1
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / ARCHIVE_NAME).write_bytes(data)
    MANIFEST.write_text(re.sub(r"(sha256:\s*)[0-9a-f]{64}", rf"\g<1>{digest}", text))
    print(f"{args.out / ARCHIVE_NAME}  sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
