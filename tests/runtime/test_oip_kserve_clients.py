"""KServe's InferenceRESTClient and InferenceGRPCClient against a real `axiom serve`.

The cases live in kserve_client_cases.py and run in a child pytest: kserve and
tritonclient.grpc both register the protocol's protobuf symbols and cannot share this
process (the triton tests run here). The child's pass count is checked, so a skipped or
uncollected case fails this test.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from axiom_runtime.server.testing import ServedBoth, SignedModel

CASES = Path(__file__).with_name("kserve_client_cases.py")
EXPECTED_CASES = 10


@pytest.mark.timeout(180)
def test_kserve_clients_in_their_own_process(
    served_both: ServedBoth, signed_model: SignedModel
) -> None:
    # find_spec, not importorskip: importing kserve here is exactly what must not happen.
    if importlib.util.find_spec("kserve") is None:
        pytest.skip("kserve is not installed (the dev extra pins it)")
    env = {
        **os.environ,
        "AXIOM_TEST_HTTP": served_both.http_address,
        "AXIOM_TEST_GRPC": served_both.grpc_address,
        "AXIOM_TEST_PACKAGE": str(signed_model.package),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CASES)],
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(rf"\b{EXPECTED_CASES} passed\b", result.stdout), result.stdout[-2000:]
