"""Transport: aiohttp handlers for every route. HTTP in, dataplane call, HTTP out.

What lives here and nowhere else: media type and size checks, JSON decoding, the mapping of
error classes to status codes (``errors.STATUS_BY_ERROR``), response headers, the request
metrics, and the hook that lets the traffic splitter take an inference request.

The inference path is the hot path: it does one header check, one body read, one orjson
decode and encode, and three metric updates, with as few coroutine layers as possible
between the handler and the batcher's future (each is resumed once per request). Nothing here logs per request unless sampled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import orjson
from aiohttp import web

from axiom_runtime.errors import InvalidInput
from axiom_runtime.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from axiom_runtime.metrics import render as render_metrics
from axiom_runtime.server import v2
from axiom_runtime.server.errors import (
    PayloadTooLarge,
    UnsupportedMediaType,
    details_of,
    field_of,
    status_for,
)
from axiom_runtime.server.logging import LOGGER_NAME, log_event
from axiom_runtime.server.state import ServerState
from axiom_runtime.server.version import SERVER_VERSION
from axiom_runtime.traffic.splitter import SERVING_PINNED

log = logging.getLogger(LOGGER_NAME)

STATE: web.AppKey[ServerState] = web.AppKey("axiom_state", ServerState)
VERSION_HEADER = "X-Axiom-Version"
JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"
# The binary tensor data extension: the JSON header's length; the rest of the body is tensors.
HEADER_LENGTH = "Inference-Header-Content-Length"
_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- encoding ---------------------------------------------------------------------------


def _fallback(value: Any) -> Any:
    # orjson serialises C-contiguous numpy arrays natively; anything else comes here.
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    body = orjson.dumps(payload, default=_fallback, option=_ORJSON_OPTIONS)
    all_headers = {"Content-Type": JSON_TYPE}
    if headers:
        all_headers.update(headers)
    return web.Response(body=body, status=status, headers=all_headers)


def binary_response(
    result: dict[str, Any], binary_outputs: frozenset[str], headers: dict[str, str]
) -> web.Response:
    """A V2 answer with some outputs as raw bytes after the JSON header (binary extension)."""
    chunks = v2.binary_response(result, binary_outputs)
    header = orjson.dumps(result, default=_fallback, option=_ORJSON_OPTIONS)
    all_headers = {"Content-Type": BINARY_TYPE, HEADER_LENGTH: str(len(header))}
    all_headers.update(headers)
    return web.Response(body=b"".join((header, *chunks)), headers=all_headers)


def error_response(error: Exception, headers: dict[str, str] | None = None) -> web.Response:
    status = status_for(error)
    if status >= 500 and status != 503:
        log_event(log, logging.ERROR, "unexpected error", error=repr(error))
        return json_response({"error": "internal error", "field": None}, status, headers)
    return json_response({"error": details_of(error), "field": field_of(error)}, status, headers)


# -- request decoding -------------------------------------------------------------------


async def read_json_body(request: web.Request, max_bytes: int) -> bytes:
    """The raw body of a JSON (or binary-extension) request, after media type and size checks."""
    # The exact header most clients send skips aiohttp's full media-type parse.
    if request.headers.get("Content-Type") != JSON_TYPE:
        _check_json_media_type(request)
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise PayloadTooLarge("body", f"{declared} bytes exceeds the limit of {max_bytes}")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge("body", f"body exceeds the limit of {max_bytes} bytes") from None


def _check_json_media_type(request: web.Request) -> None:
    # No Content-Type is read as JSON: V2 clients (tritonclient, KServe's) send none for
    # plain JSON requests. application/octet-stream is what binary-extension requests
    # carry; without the extension's header the whole body is JSON.
    if "Content-Type" not in request.headers:
        return
    content_type = request.content_type
    if content_type not in (JSON_TYPE, BINARY_TYPE) and not content_type.endswith("+json"):
        raise UnsupportedMediaType(
            "Content-Type",
            f"must be {JSON_TYPE} or {BINARY_TYPE}, got "
            f"{request.headers.get('Content-Type', 'none')!r}",
        )


def split_binary_body(request: web.Request, body: bytes) -> tuple[bytes, memoryview | None]:
    """(JSON header, binary part or None) by the Inference-Header-Content-Length header."""
    declared = request.headers.get(HEADER_LENGTH)
    if declared is None:
        return body, None
    text = declared.strip()
    # ASCII digits only: no sign, no "1e3", no other scripts' digits (which int() accepts).
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput(HEADER_LENGTH, f"must be a non-negative integer, got {declared!r}")
    # More digits than any body can have bytes: refused before int() meets its digit limit.
    length = int(text) if len(text) <= 20 else len(body) + 1
    if length > len(body):
        raise InvalidInput(HEADER_LENGTH, f"is {text} but the body has only {len(body)} bytes")
    return body[:length], memoryview(body)[length:]


def decode_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidInput("body", f"malformed JSON: {error}") from None


def may_contain_bool(body: bytes) -> bool:
    # JSON booleans are these literal tokens; without them the slow walk is unnecessary.
    return b"true" in body or b"false" in body


# -- inference ----------------------------------------------------------------------------


async def _serve_locally(
    state: ServerState,
    request: web.Request,
    body: bytes,
    v2_protocol: bool,
    started: float,
) -> web.Response:
    metrics = state.metrics
    version = state.dataplane.version if state.dataplane is not None else ""
    headers = {VERSION_HEADER: version}
    try:
        dataplane = state.serving_dataplane()
        name = request.match_info.get("name")
        if name is not None:
            dataplane.check_model(name, request.match_info.get("version"))
        header, binary = split_binary_body(request, body)
        payload = decode_json(header)
        hint = may_contain_bool(header)
        # Called directly, not through a wrapper coroutine: every await layer between the
        # handler and the batcher's future is resumed once per request.
        if v2_protocol:
            decoded = dataplane.decode_infer(payload, may_contain_bool=hint, binary=binary)
            result = await dataplane.infer_decoded(decoded)
            if decoded.binary_outputs:
                response = binary_response(result, decoded.binary_outputs, headers)
            else:
                response = json_response(result, 200, headers)
        else:
            if binary is not None:
                raise InvalidInput(HEADER_LENGTH, "binary tensor data is for the V2 infer routes")
            result = await dataplane.predict(payload, may_contain_bool=hint)
            response = json_response(result, 200, headers)
    except Exception as error:  # every error becomes a JSON answer; the table picks the status
        response = error_response(error, headers)
    # A tester's pinned request is counted apart by the splitter, never in the analysed series.
    if metrics is not None and not SERVING_PINNED.get():
        status = response.status
        metrics.latency.observe(time.perf_counter() - started)
        if status < 400:
            metrics.ok.inc()
        elif status < 500:
            metrics.client_error.inc()
        else:
            metrics.server_error.inc()
    rate = state.config.request_log_sample_rate
    if rate and state.sampler.random() < rate:
        log_event(
            log,
            logging.INFO,
            "request",
            method=request.method,
            path=request.path,
            status=response.status,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
    return response


def _inference_handler(v2_protocol: bool) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        state = request.app[STATE]
        try:
            body = await read_json_body(request, state.config.max_body_bytes)
        except Exception as error:
            if state.metrics is not None:
                state.metrics.client_error.inc()
            return error_response(error)
        splitter = state.splitter
        if splitter is not None:
            return await splitter.handle(
                request, body, lambda: _serve_locally(state, request, body, v2_protocol, started)
            )
        return await _serve_locally(state, request, body, v2_protocol, started)

    return handle


predict = _inference_handler(v2_protocol=False)
v2_infer = _inference_handler(v2_protocol=True)


# -- health, readiness, metadata --------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    # The loop answering proves it is not wedged; a dead batcher worker would wedge inference.
    if state.dataplane is not None and not state.dataplane.batcher.alive:
        return json_response({"status": "wedged", "reason": "batch worker stopped"}, 503)
    return json_response({"status": "alive"})


def readiness_document(state: ServerState) -> dict[str, Any]:
    readiness = state.readiness
    document: dict[str, Any] = {
        "ready": readiness.ready,
        "phase": readiness.phase.value,
        "reason": readiness.reason,
        "model": None if state.dataplane is None else state.dataplane.identity,
        "certificate": readiness.certificate.to_json(),
    }
    if state.splitter is not None:
        document["trafficGeneration"] = state.splitter.applied_generation
    return document


async def ready(request: web.Request) -> web.Response:
    state = request.app[STATE]
    document = readiness_document(state)
    return json_response(document, 200 if document["ready"] else 503)


async def metrics(request: web.Request) -> web.Response:
    body = render_metrics(request.app[STATE].registry)
    return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})


async def v2_server_metadata(request: web.Request) -> web.Response:
    return json_response(v2.server_metadata(SERVER_VERSION))


async def v2_live(request: web.Request) -> web.Response:
    return json_response({"live": True})


async def v2_ready(request: web.Request) -> web.Response:
    is_ready = request.app[STATE].readiness.ready
    return json_response({"ready": is_ready}, 200 if is_ready else 503)


async def v2_model_metadata(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        dataplane = state.loaded_dataplane()
        dataplane.check_model(request.match_info["name"], request.match_info.get("version"))
    except Exception as error:
        return error_response(error)
    return json_response(dataplane.model_metadata())


async def v2_model_ready(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        dataplane = state.loaded_dataplane()
        dataplane.check_model(request.match_info["name"], request.match_info.get("version"))
    except Exception as error:
        return error_response(error)
    is_ready = state.readiness.ready
    return json_response(
        {"name": dataplane.served_name, "ready": is_ready}, 200 if is_ready else 503
    )


async def openapi_document(request: web.Request) -> web.Response:
    from axiom_runtime.server.openapi import build_openapi

    state = request.app[STATE]
    spec = state.dataplane.spec if state.dataplane is not None else None
    return json_response(build_openapi(spec, state.config.max_body_bytes))


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown routes, wrong methods and anything unexpected also answer JSON."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        field = "path" if error.status in (404, 405) else None
        return json_response(
            {"error": f"{error.reason}: {request.method} {request.path}", "field": field},
            error.status,
        )
    except Exception as error:
        return error_response(error)


def add_routes(app: web.Application) -> None:
    router = app.router
    # aiohttp tries the dynamic /v2/models/{name}... resources in registration order, one
    # regex match each; the inference routes go first so the hot path matches on try one.
    router.add_post("/v2/models/{name}/infer", v2_infer)
    router.add_post("/v2/models/{name}/versions/{version}/infer", v2_infer)
    router.add_post("/predict", predict)
    router.add_get("/health", health)
    router.add_get("/ready", ready)
    router.add_get("/metrics", metrics)
    router.add_get("/openapi.json", openapi_document)
    router.add_get("/v2", v2_server_metadata)
    router.add_get("/v2/health/live", v2_live)
    router.add_get("/v2/health/ready", v2_ready)
    router.add_get("/v2/models/{name}", v2_model_metadata)
    router.add_get("/v2/models/{name}/ready", v2_model_ready)
    router.add_get("/v2/models/{name}/versions/{version}", v2_model_metadata)
    router.add_get("/v2/models/{name}/versions/{version}/ready", v2_model_ready)
