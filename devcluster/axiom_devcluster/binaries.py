"""Where the control plane's binaries are, and how to get them built.

The binaries are built from Go modules by ``hack/cluster/build.sh`` into
``~/.cache/axiom/bin/<key>/``. The key is derived here from ``hack/cluster/versions.env``
exactly as build.sh derives it, so Python and the shell script never disagree about which
directory holds the pinned versions. ``AXIOM_CLUSTER_BIN`` overrides the directory (for
binaries built elsewhere); ``AXIOM_CACHE_DIR`` moves the cache root, as for build.sh.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HACK_CLUSTER = REPO_ROOT / "hack" / "cluster"
BUILD_SCRIPT = HACK_CLUSTER / "build.sh"
VERSIONS_FILE = HACK_CLUSTER / "versions.env"

COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "helm",
    "kubectl",
)


# Built by build.sh too, into a directory of its own (prometheus_dir), so that its version can
# move without rebuilding the control plane.
PROMETHEUS = "prometheus"


class BinariesMissingError(FileNotFoundError):
    """A control-plane binary is not where the cache key says it should be."""


class GoMissingError(FileNotFoundError):
    """The Go toolchain, needed to build the binaries, is not installed."""


def read_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """Parse versions.env (``NAME=value`` lines; ``#`` comments)."""
    versions: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}: line {raw!r} is not NAME=value")
        versions[name.strip()] = value.strip()
    return versions


def cache_key(versions: dict[str, str]) -> str:
    """The directory name build.sh uses; keep in step with ``key=`` in build.sh."""
    return (
        f"k8s-{versions['KUBERNETES_VERSION']}"
        f"_etcd-{versions['ETCD_VERSION']}"
        f"_kwok-{versions['KWOK_VERSION']}"
        f"_helm-{versions['HELM_VERSION']}"
        f"_r{versions['BUILD_REVISION']}"
    )


def kubernetes_version() -> str:
    return read_versions()["KUBERNETES_VERSION"]


def bin_dir() -> Path:
    """The directory holding the binaries for the pinned versions."""
    override = os.environ.get("AXIOM_CLUSTER_BIN")
    if override:
        return Path(override)
    root = Path(os.environ.get("AXIOM_CACHE_DIR", Path.home() / ".cache" / "axiom"))
    return root / "bin" / cache_key(read_versions())


def prometheus_dir() -> Path:
    """Where build.sh puts Prometheus: beside bin_dir(), keyed by its own version.
    With ``AXIOM_CLUSTER_BIN`` set, Prometheus is looked for in that directory too."""
    override = os.environ.get("AXIOM_CLUSTER_BIN")
    if override:
        return Path(override)
    versions = read_versions()
    key = f"prometheus-{versions['PROMETHEUS_VERSION']}_r{versions['BUILD_REVISION']}"
    return bin_dir().parent / key


def _path(name: str) -> Path:
    return (prometheus_dir() if name == PROMETHEUS else bin_dir()) / name


def missing_components(directory: Path | None = None) -> list[str]:
    """The control plane's binaries (and Prometheus) not built yet; ``directory``: look for
    the control plane's there instead."""
    core = [n for n in COMPONENTS if not os.access((directory or bin_dir()) / n, os.X_OK)]
    if directory is None and not os.access(_path(PROMETHEUS), os.X_OK):
        core.append(PROMETHEUS)
    return core


def binary(name: str) -> Path:
    """Path of one component's binary; raises BinariesMissingError if it is not built."""
    path = _path(name)
    if not os.access(path, os.X_OK):
        raise BinariesMissingError(
            f"control-plane binary {name!r} not found at {path}: run `make cluster-binaries`"
        )
    return path


def go_available() -> bool:
    return shutil.which("go") is not None


def ensure_built() -> Path:
    """Build whatever is missing (a no-op when the cache is warm) and return bin_dir().

    Runs build.sh with its output going to this process's stderr, so a cold build (tens of
    minutes on 2 cores) shows progress instead of looking hung.
    """
    if not missing_components():
        return bin_dir()
    if os.environ.get("AXIOM_CLUSTER_BIN"):
        raise BinariesMissingError(
            f"AXIOM_CLUSTER_BIN={bin_dir()} lacks {', '.join(missing_components())}"
        )
    if not go_available():
        raise GoMissingError("`go` is not installed: cannot build the local control plane")
    subprocess.run(["bash", str(BUILD_SCRIPT)], check=True)
    still_missing = missing_components()
    if still_missing:
        raise BinariesMissingError(f"build.sh finished but {', '.join(still_missing)} missing")
    return bin_dir()
