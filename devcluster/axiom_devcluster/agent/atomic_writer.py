"""Write a volume's files the way the kubelet's AtomicWriter does, so readers never see a mix.

Layout of a volume directory::

    ..2026_05_01_12_00_00.123456789/   the files of one version
    ..data -> ..2026_05_01_12_00_00.123456789
    key -> ..data/key                   one symlink per top-level entry

An update writes a new timestamped directory, points ``..data_tmp`` at it and renames that
over ``..data`` (rename(2) is atomic), then fixes the top-level symlinks and removes the old
version. A process that re-opens ``key`` sees either the old or the new content, never a
half-written file; a process watching the ``..data`` link sees one change per update.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from axiom_devcluster.agent.projection import FileEntry, Payload

DATA_DIR = "..data"
_DATA_TMP = "..data_tmp"


def _read_current(target: Path) -> Payload | None:
    data = target / DATA_DIR
    if not data.is_symlink():
        return None
    current: Payload = {}
    root = data.resolve()
    for path in root.rglob("*"):
        if path.is_file():
            rel = str(path.relative_to(root))
            current[rel] = FileEntry(path.read_bytes(), path.stat().st_mode & 0o777)
    return current


def write_atomic(target: Path, payload: Payload) -> bool:
    """Make ``target`` hold exactly ``payload``; returns False when it already did."""
    target.mkdir(parents=True, exist_ok=True)
    if _read_current(target) == payload:
        return False
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    version = Path(tempfile.mkdtemp(prefix=stamp, dir=target))
    version.chmod(0o755)
    for rel, entry in payload.items():
        path = version / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(entry.content)
        path.chmod(entry.mode)
    old_version = (target / DATA_DIR).resolve() if (target / DATA_DIR).is_symlink() else None
    tmp_link = target / _DATA_TMP
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    tmp_link.symlink_to(version.name)
    os.rename(tmp_link, target / DATA_DIR)
    wanted = {rel.split("/")[0] for rel in payload}
    for name in wanted:
        link = target / name
        if not link.is_symlink():
            link.symlink_to(f"{DATA_DIR}/{name}")
    for child in target.iterdir():
        if child.name.startswith(".."):
            continue
        if child.is_symlink() and child.name not in wanted:
            child.unlink()
    if old_version is not None and old_version != version:
        shutil.rmtree(old_version, ignore_errors=True)
    return True
