"""Application factory and process entry: ``init_app(config)`` and ``serve(config)``.

The model loads in the background after the port opens, so liveness probes pass while a
large package downloads and verifies; readiness stays false until it is done and valid.
Lifecycles (loading, batcher, traffic splitter, download directory) are one
``cleanup_ctx`` so shutdown undoes them in reverse order after in-flight requests finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from axiom_runtime.server.batcher import MicroBatcher
from axiom_runtime.server.config import ServerConfig
from axiom_runtime.server.dataplane import DataPlane, make_forward
from axiom_runtime.server.loader import (
    CertificateState,
    LoadOutcome,
    ModelSource,
    Phase,
    load_and_verify,
)
from axiom_runtime.server.logging import LOGGER_NAME, log_event
from axiom_runtime.server.routes import STATE, add_routes, json_errors
from axiom_runtime.server.runtime_metrics import RuntimeMetrics
from axiom_runtime.server.state import ServerState

log = logging.getLogger(LOGGER_NAME)
# Typed Any: grpc is imported only when a gRPC port is configured.
GRPC_SERVER: web.AppKey[Any] = web.AppKey("axiom_grpc_server")


def init_app(config: ServerConfig) -> web.Application:
    """A ready-to-run aiohttp application for ``config`` (loading starts on startup)."""
    app = web.Application(client_max_size=config.max_body_bytes, middlewares=[json_errors])
    app[STATE] = ServerState(config=config)
    add_routes(app)
    app.cleanup_ctx.append(_model_lifecycle)
    if config.grpc_port:
        # Appended after the model: cleanup runs in reverse, so the gRPC server is gone
        # before the batcher it feeds closes. on_shutdown stops it while HTTP drains too.
        app.cleanup_ctx.append(_grpc_lifecycle)
        app.on_shutdown.append(_drain_grpc)
    return app


async def _grpc_lifecycle(app: web.Application) -> AsyncIterator[None]:
    from axiom_runtime.server.grpc_server import start_grpc_server

    serving = await start_grpc_server(app[STATE])
    app[GRPC_SERVER] = serving
    yield
    await serving.close()  # already drained by _drain_grpc; this only frees the port


async def _drain_grpc(app: web.Application) -> None:
    """Answer the calls that have arrived, then refuse new ones and let those in flight
    finish (all within the shutdown timeout); see ``GrpcServing.drain``."""
    serving = app.get(GRPC_SERVER)
    if serving is not None:
        await serving.drain(app[STATE].config.shutdown_timeout_s)


async def _model_lifecycle(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    source = ModelSource(state.config)
    state.load_task = asyncio.get_running_loop().create_task(
        _load(state, source), name="axiom-load-model"
    )
    yield
    if not state.load_task.done():
        state.load_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await state.load_task
    if state.splitter is not None:
        await state.splitter.close()
    if state.dataplane is not None:
        await state.dataplane.batcher.close()
    source.cleanup()


async def _load(state: ServerState, source: ModelSource) -> None:
    config = state.config
    outcome = await load_and_verify(config, source)
    package = outcome.package
    served_name = config.model_name or (package.spec.name if package else "unknown")
    version = package.spec.version if package else (config.expected_version or "unknown")
    metrics = RuntimeMetrics(state.registry, served_name, version)
    metrics.certificate_valid.set(1 if outcome.certificate.ok else 0)
    state.readiness.certificate = outcome.certificate
    if package is not None:
        batcher = MicroBatcher(
            make_forward(package),
            max_batch_size=config.max_batch_size,
            max_batch_wait_s=config.max_batch_wait_ms / 1000,
            max_pending_rows=config.max_pending_rows,
        )
        example = _example_row(package.spec.input_shape, package.spec.input_range)
        await asyncio.get_running_loop().run_in_executor(None, batcher.calibrate, example)
        dataplane = DataPlane(package, batcher, metrics, served_name=served_name)
        batcher.on_batch = dataplane.observe_batch
        batcher.start()
        state.dataplane = dataplane
        if config.traffic_config is not None:
            # Imported only when configured: canary pods and plain servers never need it.
            from axiom_runtime.traffic import TrafficSplitter

            splitter = TrafficSplitter(
                config.traffic_config,
                state.registry,
                model_name=served_name,
                local_version=version,
                max_message_bytes=config.max_body_bytes,
                generation_gauge=metrics.traffic_generation,
            )
            await splitter.start()
            state.splitter = splitter
    state.metrics = metrics
    _apply_outcome(state, outcome)


def _apply_outcome(state: ServerState, outcome: LoadOutcome) -> None:
    readiness = state.readiness
    certificate: CertificateState = outcome.certificate
    if state.readiness.phase is Phase.SHUTTING_DOWN:
        return
    readiness.phase = outcome.phase
    if outcome.failure is not None:
        readiness.reason = outcome.failure
        log_event(log, logging.ERROR, f"not ready: {outcome.failure}", phase=outcome.phase.value)
    else:
        package = outcome.package
        assert package is not None
        readiness.reason = "serving"
        if certificate.policy is not None and not certificate.ok:
            readiness.reason = f"serving under audit policy; certificate {certificate.status}: {certificate.message}"
            log_event(
                log,
                logging.WARNING,
                f"certificate not valid (audit policy): {certificate.message}",
                certificate=certificate.status,
            )
        log_event(
            log,
            logging.INFO,
            "model ready",
            model=package.spec.name,
            version=package.spec.version,
            sha256=package.sha256,
            certificate=certificate.status,
        )
    if state.metrics is not None:
        state.metrics.ready.set(1 if readiness.ready else 0)


def _example_row(shape: tuple[int, ...], input_range: tuple[float, float] | None) -> Any:
    import numpy as np

    low, high = input_range if input_range is not None else (0.0, 1.0)
    return np.full(shape, (low + high) / 2, dtype=np.float32)


async def serve(config: ServerConfig) -> int:
    """Run until SIGTERM/SIGINT, then stop accepting, finish in-flight requests, return 0."""
    app = init_app(config)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=config.shutdown_timeout_s
    )
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, backlog=2048, reuse_address=True)
    await site.start()
    log_event(
        log,
        logging.INFO,
        "listening",
        host=config.host,
        port=config.port,
        grpc_port=config.grpc_port or None,
        loop=type(asyncio.get_running_loop()).__module__,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    app[STATE].begin_shutdown()
    log_event(log, logging.INFO, "shutting down: finishing in-flight requests")
    await runner.cleanup()
    log_event(log, logging.INFO, "stopped")
    return 0


def run(config: ServerConfig) -> int:
    """Blocking entry for the CLI: pick the event loop, serve, return the exit code."""
    from axiom_runtime.server.config import UvloopMode
    from axiom_runtime.server.logging import configure_logging

    configure_logging(config.log_level)
    if config.uvloop is not UvloopMode.OFF:
        try:
            import uvloop
        except ImportError:
            if config.uvloop is UvloopMode.ON:
                raise
        else:
            return uvloop.run(serve(config))
    return asyncio.run(serve(config))
