"""The storage servers' cache directory: Python and hack/storage/build.sh agree on it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from axiom_devcluster.storage_servers import BUILD_SCRIPT, storage_bin_dir


def test_python_and_build_script_name_the_same_cache_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AXIOM_CACHE_DIR", str(tmp_path))
    printed = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--print-dir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert Path(printed) == storage_bin_dir()
    assert storage_bin_dir().is_relative_to(tmp_path)
