"""The runtime's shutdown gate (pure): after SIGTERM a model that was serving keeps answering
what reaches a handler while the listeners drain; one that never served keeps refusing."""

from __future__ import annotations

from typing import cast

import pytest

from axiom_runtime.server.config import ServerConfig
from axiom_runtime.server.dataplane import DataPlane
from axiom_runtime.server.errors import ModelNotReady
from axiom_runtime.server.loader import Phase
from axiom_runtime.server.state import ServerState

# serving_dataplane only hands the object back; what it is does not matter here.
DATAPLANE = cast(DataPlane, object())


def state_in(phase: Phase, reason: str) -> ServerState:
    state = ServerState(ServerConfig(model_uri="unused.axiom"), dataplane=DATAPLANE)
    state.readiness.phase = phase
    state.readiness.reason = reason
    return state


def test_a_serving_model_keeps_answering_while_it_shuts_down() -> None:
    state = state_in(Phase.READY, "serving")
    state.begin_shutdown()
    assert not state.readiness.ready  # /ready says 503: endpoints drop the pod
    assert state.readiness.phase is Phase.SHUTTING_DOWN
    assert state.serving_dataplane() is DATAPLANE


@pytest.mark.parametrize("phase", [Phase.LOADING, Phase.CERTIFICATE_REJECTED, Phase.LOAD_FAILED])
def test_a_model_that_never_served_still_refuses_after_sigterm(phase: Phase) -> None:
    state = state_in(phase, "certificate refused")
    with pytest.raises(ModelNotReady, match="not ready"):
        state.serving_dataplane()
    state.begin_shutdown()
    with pytest.raises(ModelNotReady, match="shutting down"):
        state.serving_dataplane()
