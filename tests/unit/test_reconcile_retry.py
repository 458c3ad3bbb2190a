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
from lightkube import AsyncClient, KubeConfig

from axiom_operator.context import OperatorContext
from axiom_operator.handlers.handle_child_event import request_reconcile
from axiom_operator.handlers.handle_reconcile_model import WorldNotReadyError, retry_delay
from axiom_operator.kube import (
    APIConflictError,
    APIForbiddenError,
    APIUnavailableError,
    Kube,
)
from axiom_operator.metrics import OperatorMetrics
from axiom_operator.settings import OperatorSettings

KEY = ("models", "digits")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def ctx() -> AsyncIterator[OperatorContext]:
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
    yield context
    for handle in context.requeues.values():
        handle.cancel()
    await context.kube.close()


async def settled(ctx: OperatorContext) -> None:
    while ctx.tasks:
        await asyncio.gather(*ctx.tasks)


async def test_a_requeue_that_finds_the_apiserver_down_is_retried(ctx: OperatorContext) -> None:
    loop = asyncio.get_running_loop()
    request_reconcile(ctx, KEY, "requeue")
    await settled(ctx)

    assert KEY in ctx.requeues, "the failed pass left no timer: the model would stall"
    due_in = ctx.requeues[KEY].when() - loop.time()
    assert 4.0 < due_in <= 5.0, due_in
    assert KEY not in ctx.pending, "the pass must not stay marked as queued"


@pytest.mark.timeout(20)
async def test_the_retry_timer_runs_another_pass(
    ctx: OperatorContext, caplog: pytest.LogCaptureFixture
) -> None:
    request_reconcile(ctx, KEY, "requeue")
    await settled(ctx)
    first = ctx.requeues[KEY]
    await asyncio.sleep(first.when() - asyncio.get_running_loop().time() + 0.05)  # the real 5 s
    await settled(ctx)
    assert ctx.requeues[KEY] is not first, "the retry timer did not run another pass"
    failures = [r for r in caplog.records if "retrying in 5 s" in r.getMessage()]
    assert len(failures) == 2, [r.getMessage() for r in caplog.records]
    assert not ctx.requeues[KEY].cancelled(), "the second failure did not schedule its own retry"


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
