"""A pass that fails on the apiserver is tried again on a timer, whatever triggered it.

The in-memory path (child events and the rollout machine's own requeues) has no Kopf retry
behind it: before this was fixed, a canary whose next-step requeue fired while the apiserver
restarted lost its timer and waited for an unrelated child event (CI saw it wait 150 s).
These tests point the operator's real client at a loopback port nothing listens on, which is
what a restarting apiserver looks like from the operator.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx2 as httpx
import pytest
from lightkube import ApiError, AsyncClient, KubeConfig

from axiom_operator.context import OperatorContext
from axiom_operator.kube import (
    APIConflictError,
    APIForbiddenError,
    APINamespaceTerminatingError,
    APIUnavailableError,
    Kube,
    translated,
)
from axiom_operator.metrics import OperatorMetrics
from axiom_operator.queue import ReconcileQueue, retry_delay
from axiom_operator.settings import OperatorSettings
from axiom_operator.values import WorldNotReadyError

KEY = ("models", "digits")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def queue() -> AsyncIterator[ReconcileQueue]:
    config = KubeConfig.from_dict(
        {
            "clusters": [
                {"name": "c", "cluster": {"server": f"https://127.0.0.1:{closed_port()}"}}
            ],
            "users": [{"name": "u", "user": {"token": "unused"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )
    metrics = OperatorMetrics()
    client = AsyncClient(config=config, trust_env=False, timeout=httpx.Timeout(2.0))
    context = OperatorContext(
        settings=OperatorSettings.from_env({}), kube=Kube(client, metrics), metrics=metrics
    )
    reconciles = ReconcileQueue(context)
    yield reconciles
    await reconciles.close()
    await context.kube.close()


async def test_a_requeue_that_finds_the_apiserver_down_is_retried(queue: ReconcileQueue) -> None:
    loop = asyncio.get_running_loop()
    queue.request(KEY, "requeue")
    await queue.settled()

    assert KEY in queue.timers, "the failed pass left no timer: the model would stall"
    due_in = queue.timers[KEY].when() - loop.time()
    assert 4.0 < due_in <= 5.0, due_in
    assert KEY not in queue.pending, "the pass must not stay marked as queued"


@pytest.mark.timeout(20)
async def test_the_retry_timer_runs_another_pass(
    queue: ReconcileQueue, caplog: pytest.LogCaptureFixture
) -> None:
    queue.request(KEY, "requeue")
    await queue.settled()
    first = queue.timers[KEY]
    await asyncio.sleep(first.when() - asyncio.get_running_loop().time() + 0.05)  # the real 5 s
    await queue.settled()
    assert queue.timers[KEY] is not first, "the retry timer did not run another pass"
    failures = [r for r in caplog.records if "retrying in 5 s" in r.getMessage()]
    assert len(failures) == 2, [r.getMessage() for r in caplog.records]
    assert not queue.timers[KEY].cancelled(), "the second failure did not schedule its own retry"


@pytest.mark.parametrize(
    ("error", "seconds"),
    [
        (APIConflictError("409", 409), 1.0),
        (APIUnavailableError("503", 503), 5.0),
        (WorldNotReadyError("Secret axiom-trusted-keys not found"), 10.0),
        (APIForbiddenError("403", 403), 30.0),
    ],
)
def test_retry_delay_by_failure(error: Exception, seconds: float) -> None:
    assert retry_delay(error) == seconds


def test_retry_delay_refuses_what_it_has_no_policy_for() -> None:
    with pytest.raises(TypeError, match="KeyError"):
        retry_delay(KeyError("x"))


def _refusal(code: int, message: str) -> ApiError:
    from lightkube.models.meta_v1 import Status

    return ApiError(status=Status(code=code, message=message, reason="Forbidden"))


async def test_a_namespace_being_deleted_is_not_a_permission_error() -> None:
    with pytest.raises(APINamespaceTerminatingError):
        async with translated("post Event Stalled in ns"):
            raise _refusal(
                403,
                'events "digits.1b9a" is forbidden: unable to create new content in namespace '
                "ns because it is being terminated",
            )
    with pytest.raises(APIForbiddenError):
        async with translated("apply Service ns/digits"):
            raise _refusal(403, 'services "digits" is forbidden: User cannot patch')
