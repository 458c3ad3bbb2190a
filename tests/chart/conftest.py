"""Fixtures for the chart tests: the pinned helm binary, with its caches in a temp dir."""

from __future__ import annotations

import pytest
from helmchart import Helm, helm_binary


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(helm_binary(), tmp_path_factory.mktemp("helm-home"))
