"""Large packages: peak RSS and load time of `axiom serve` per model source and size.

For each size (20 MB and 200 MB of float32 weights, which deflate does not shrink) and
each source (file://, http:// from a local static server, s3:// from versitygw, oci:// from
the distribution registry), start a
fresh `axiom serve` process with the package's certificate and pinned sha256, and measure
the time from spawn to `/ready` = 200 and the process's peak RSS (VmHWM from /proc, read
once it is ready). A baseline row serves a tiny package: the interpreter and imports.

`--before DIR` runs the same with another tree's runtime (e.g. `git archive <commit>
runtime | tar -x -C DIR`) for the sources that tree supports, to compare.

Usage: python bench/storage_bench.py [--sizes 20,200] [--repeat 1] [--before DIR]
Needs: the storage servers (bash hack/storage/build.sh) for the s3 and oci rows.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for part in ("runtime", "operator", "devcluster"):
    sys.path.insert(0, str(ROOT / part))

from axiom_devcluster.storage_servers import OciRegistry, S3Server, storage_binary  # noqa: E402
from axiom_runtime.certificate import certificate_json, sign_certificate  # noqa: E402
from axiom_runtime.keys import generate_private_key, key_id_for, public_key_pem  # noqa: E402
from axiom_runtime.package import load_package, write_package  # noqa: E402
from axiom_runtime.sources.oci import push_package  # noqa: E402

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_package(directory: Path, megabytes: int) -> tuple[Path, str]:
    """A dense model whose weight matrix is ``megabytes`` MB of float32."""
    inputs = 1000
    outputs = megabytes * 1_000_000 // 4 // inputs
    rng = np.random.default_rng(megabytes)
    doc = {
        "format": "axiom-model",
        "format_version": 1,
        "name": "big",
        "version": "1.0.0",
        "input": {"shape": [inputs], "dtype": "float32"},
        "output": {"shape": [outputs], "dtype": "float32"},
        "layers": [{"type": "dense", "weights": {"weight": "w"}}],
    }
    weights = {"w": rng.standard_normal((inputs, outputs), dtype=np.float32)}
    path = directory / f"big-{megabytes}mb.axiom"
    sha = write_package(path, doc, weights)
    return path, sha


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def serve_once(
    runtime_dir: Path, uri: str, sha: str, cert: Path, keys: Path, env: dict[str, str], log: Path
) -> tuple[float, float]:
    port = free_port()
    command = [
        sys.executable, "-m", "axiom_runtime.server", "--model", uri, "--sha256", sha,
        "--certificate", str(cert), "--trusted-keys", str(keys),
        "--host", "127.0.0.1", "--port", str(port), "--max-download-bytes", str(1 << 30),
        "--download-timeout", "600",
    ]  # fmt: skip
    start = time.monotonic()
    with log.open("wb") as handle:
        process = subprocess.Popen(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(runtime_dir), **env},
            start_new_session=True,
        )
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"axiom serve exited: {log.read_text()[-2000:]}")
            with (
                contextlib.suppress(OSError),
                _NO_PROXY.open(f"http://127.0.0.1:{port}/ready", timeout=1) as reply,
            ):
                if reply.status == 200:
                    break
            if time.monotonic() - start > 600:
                raise RuntimeError(f"not ready in 600 s: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        elapsed = time.monotonic() - start
        return elapsed, peak_rss_mib(process.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@contextlib.contextmanager
def static_server(directory: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,200")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--before", type=Path, default=None, help="another tree to compare")
    options, _ = parser.parse_known_args()  # `make bench` passes --duration to every bench
    sizes = [int(size) for size in options.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="axiom-storage-bench-"))
    try:
        return _run(options, sizes, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # several copies of every package


def _run(options: argparse.Namespace, sizes: list[int], work: Path) -> int:
    key = generate_private_key()
    keys = work / "keys"
    keys.mkdir()
    (keys / key_id_for(key.public_key())).write_bytes(public_key_pem(key.public_key()))
    packages: dict[int, tuple[Path, str, Path]] = {}
    for size in [1, *sizes]:
        path, sha = make_package(work, size)
        cert = work / f"{path.stem}.cert.json"
        cert.write_text(certificate_json(sign_certificate(load_package(path), key, issuer="bench")))
        packages[size] = (path, sha, cert)
    trees = [("after", ROOT / "runtime")]
    if options.before is not None:
        trees.append(("before", options.before / "runtime"))
    s3 = S3Server(work / "s3") if storage_binary("versitygw") else None
    registry = OciRegistry(work / "oci") if storage_binary("registry") else None
    pinned: dict[int, str] = {}
    rows: list[tuple[str, str, int, float, float]] = []
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(static_server(work))
        if s3 is not None:
            stack.enter_context(s3)
            for path, _, _ in packages.values():
                s3.put_file("models", path.name, path)
        if registry is not None:
            stack.enter_context(registry)
            for size, (path, sha, _) in packages.items():
                pinned[size] = push_package(
                    path, f"oci://{registry.host}/bench/big:{size}mb", sha256=sha
                )
        s3_env = {}
        if s3 is not None:
            s3_env = {
                "AXIOM_S3_ENDPOINT": s3.endpoint,
                "AWS_ACCESS_KEY_ID": s3.access_key_id,
                "AWS_SECRET_ACCESS_KEY": s3.secret_access_key,
            }
        for tree, runtime_dir in trees:
            for size, (path, sha, cert) in packages.items():
                sources = {"file": f"file://{path}", "http": f"{base}/{path.name}"}
                if s3 is not None and tree == "after":
                    sources["s3"] = f"s3://models/{path.name}"
                if size in pinned and tree == "after":
                    sources["oci"] = pinned[size]
                for source, uri in sources.items():
                    for attempt in range(options.repeat):
                        log = work / f"{tree}-{source}-{size}-{attempt}.log"
                        seconds, rss = serve_once(runtime_dir, uri, sha, cert, keys, s3_env, log)
                        rows.append((tree, source, size, seconds, rss))
                        print(
                            f"{tree:6} {source:4} {size:4} MB: ready in {seconds:6.2f} s, "
                            f"peak RSS {rss:7.1f} MiB",
                            flush=True,
                        )
    print("\n| tree | source | package | load to /ready (s) | peak RSS (MiB) |")
    print("|---|---|---|---|---|")
    for tree, source, size, seconds, rss in rows:
        print(f"| {tree} | {source} | {size} MB | {seconds:.2f} | {rss:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
