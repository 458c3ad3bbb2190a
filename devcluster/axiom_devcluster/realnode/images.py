"""The images a real node runs, as built by ``make images`` (hack/images/build.sh): tarballs of
``docker save`` in the cache, imported into the node's containerd at start (nothing is pulled:
there is no registry)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from axiom_devcluster.binaries import REPO_ROOT

IMAGE_NAMES = ("pause", "runtime", "operator")
BUILD_SCRIPT = REPO_ROOT / "hack" / "images" / "build.sh"


def tag() -> str:
    """The images' tag: the project's version, as `make images` uses, or ``AXIOM_IMAGE_TAG``
    (images built from another tree with ``bash hack/images/build.sh TAG``, side by side)."""
    override = os.environ.get("AXIOM_IMAGE_TAG")
    if override:
        return override
    found = re.search(r'^version = "(.+)"', (REPO_ROOT / "pyproject.toml").read_text(), re.M)
    if found is None:
        raise ValueError("pyproject.toml has no version")
    return found.group(1)


def image_dir() -> Path:
    root = Path(os.environ.get("AXIOM_CACHE_DIR", Path.home() / ".cache" / "axiom"))
    return root / "images"


def reference(name: str) -> str:
    """How pods and the chart name the image (containerd adds the default domain itself)."""
    return f"axiom-{name}:{tag()}"


def tarball(name: str) -> Path:
    return image_dir() / f"axiom-{name}_{tag()}.tar"


def missing() -> list[str]:
    return [name for name in IMAGE_NAMES if not tarball(name).is_file()]


def import_all(ctr: Path, socket: Path) -> None:
    """Import every image into containerd's ``k8s.io`` namespace (the one the CRI uses)."""
    for name in IMAGE_NAMES:
        subprocess.run(
            [str(ctr), "--address", str(socket), "--namespace", "k8s.io", "images", "import",
             str(tarball(name))],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
