"""The operator verifying a large remote package: peak RSS and time, per source.

For each size (default 200 MB of float32 weights, which deflate does not shrink) and each
source -- s3:// from versitygw, oci:// as an artifact and as an image (``--as-image``: a tar
layer, the package read out of it while it streams) from the distribution registry -- a fresh
Python process imports the operator (``axiom_operator.certificates``, which pulls in the
runtime's verification code), reads its RSS, then hashes the package with the function the
operator's certificate gate calls for that source (``certificates._stream_sha256`` with the
SigV4-signed request for s3, ``sources.oci.stream_package`` with no target file for oci: what
``certificates._oci_sha256`` calls once it has the credentials), checks the digest, and
reports the time and its peak RSS (VmHWM). The difference is what verifying costs in memory.

Usage: python bench/operator_fetch_bench.py [--sizes 200] [--repeat 2]
Needs: the storage servers (bash hack/storage/build.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for part in ("runtime", "operator", "devcluster"):
    sys.path.insert(0, str(ROOT / part))

from storage_bench import make_package  # noqa: E402

from axiom_devcluster.storage_servers import OciRegistry, S3Server  # noqa: E402
from axiom_runtime.sources.oci import push_package  # noqa: E402

CHILD = r"""
import asyncio, json, sys, time
from pathlib import Path

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

from axiom_operator import certificates
from axiom_operator.settings import DEFAULT_MAX_PACKAGE_FETCH_BYTES
from axiom_runtime.sources import FetchLimits, S3Settings
from axiom_runtime.sources.oci import OciAccess, stream_package
from axiom_runtime.sources.s3 import signed_request

job = json.loads(sys.argv[1])
imported = status("VmRSS")
start = time.monotonic()
if job["source"] == "s3":
    url, headers = signed_request(job["uri"], S3Settings(**job["s3"]))
    digest, why = asyncio.run(certificates._stream_sha256(url, DEFAULT_MAX_PACKAGE_FETCH_BYTES, headers))
    assert why is None, why
else:
    limits = FetchLimits(DEFAULT_MAX_PACKAGE_FETCH_BYTES, 600)
    digest, _, _ = asyncio.run(stream_package(job["uri"], None, limits, OciAccess()))
elapsed = time.monotonic() - start
assert digest == job["sha256"], (digest, job["sha256"])
print(json.dumps({"imported_mib": imported, "peak_mib": status("VmHWM"), "seconds": elapsed}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200")
    parser.add_argument("--repeat", type=int, default=2)
    options, _ = parser.parse_known_args()
    work = Path(tempfile.mkdtemp(prefix="axiom-operator-fetch-bench-"))
    rows = []
    try:
        with S3Server(work / "s3") as s3, OciRegistry(work / "oci") as registry:
            for size in (int(s) for s in options.sizes.split(",")):
                path, sha = make_package(work, size)
                print(f"package {path.name}: {path.stat().st_size} bytes", flush=True)
                jobs = {
                    "s3": {"uri": s3.put_file("models", path.name, path)},
                    "oci artifact": {
                        "uri": push_package(
                            path, f"oci://{registry.host}/bench/a:{size}", sha256=sha
                        )
                    },
                    "oci image": {
                        "uri": push_package(
                            path, f"oci://{registry.host}/bench/i:{size}", sha256=sha, as_image=True
                        )
                    },
                }
                settings = {
                    "endpoint": s3.endpoint,
                    "region": s3.region,
                    "access_key_id": s3.access_key_id,
                    "secret_access_key": s3.secret_access_key,
                }
                for source, job in jobs.items():
                    job.update(source=source.split()[0], sha256=sha, s3=settings)
                    for _ in range(options.repeat):
                        done = subprocess.run(
                            [sys.executable, "-c", CHILD, json.dumps(job)],
                            capture_output=True, text=True, check=True, timeout=900,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                str(ROOT / p) for p in ("runtime", "operator", "devcluster"))},
                        )  # fmt: skip
                        result = json.loads(done.stdout.strip().splitlines()[-1])
                        rows.append((source, size, result))
                        print(f"{source:12} {size:4} MB: {result}", flush=True)
                path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| source | package | RSS after imports (MiB) | peak RSS verifying (MiB) | time (s) |")
    print("|---|---|---|---|---|")
    for source, size, r in rows:
        print(
            f"| {source} | {size} MB | {r['imported_mib']:.0f} | {r['peak_mib']:.0f} | "
            f"{r['seconds']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
