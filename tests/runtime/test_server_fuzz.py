"""Fuzz the HTTP surface: no input may produce a 5xx, a non-JSON answer or a wedged server.

Hand-written hypothesis strategies, shaped by the OpenAPI document the server publishes:
arbitrary JSON, near-valid ``/predict`` and V2 bodies (right keys, wrong everything else),
and raw bytes. The server runs in a background thread (its own event loop) so hypothesis
can drive it with plain blocking HTTP. Bounded to a few hundred examples: < 60 s.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axiom_runtime.server.testing import SignedModel, server_config, start_server

EXAMPLES = 250
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=40,
)
numbers = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**40), 2**40)
rows = st.lists(numbers | json_scalars, min_size=0, max_size=10)
predict_bodies = st.fixed_dictionaries({"input": rows | st.lists(rows, max_size=5) | json_values})
datatypes = st.sampled_from(
    [
        "FP32",
        "FP64",
        "FP16",
        "INT8",
        "INT32",
        "INT64",
        "UINT8",
        "UINT64",
        "BOOL",
        "BYTES",
        "fp32",
        "",
    ]
)
shapes = st.lists(st.integers(-2, 12) | json_scalars, min_size=0, max_size=3)
tensors = st.fixed_dictionaries(
    {
        "name": st.text(max_size=5) | json_scalars,
        "shape": shapes,
        "datatype": datatypes,
        "data": rows | st.lists(rows, max_size=3),
    },
    optional={"parameters": json_values},
)
v2_bodies = st.fixed_dictionaries(
    {"inputs": st.lists(tensors, min_size=0, max_size=2) | json_values},
    optional={
        "id": json_scalars,
        "outputs": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["output", "class", "x"])}), max_size=3
        )
        | json_values,
        "parameters": json_values,
    },
)
paths = st.sampled_from(
    [
        "/predict",
        "/v2/models/tiny/infer",
        "/v2/models/tiny/versions/1.0.0/infer",
        "/v2/models/x/infer",
    ]
)


class ThreadedServer:
    """The real app on a loopback port, served by an event loop in a daemon thread."""

    def __init__(self, model: SignedModel) -> None:
        self.config = server_config(model, max_body_bytes=64 * 1024)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._runner, running = self._call(start_server(self.config))
        self._call(running.wait_loaded())
        self._call(running.session.close())
        self.connection = http.client.HTTPConnection(self.config.host, self.config.port, timeout=10)

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        content_type: str,
        extra_headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": content_type, **(extra_headers or {})}
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, ConnectionError):
            # The server may close a connection after an error; one retry on a fresh one.
            self.connection.close()
            self.connection = http.client.HTTPConnection(
                self.config.host, self.config.port, timeout=10
            )
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            return response.status, response.read()

    def close(self) -> None:
        self.connection.close()
        self._call(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def threaded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    from axiom_runtime.server.testing import build_signed_model

    server = ThreadedServer(build_signed_model(tmp_path_factory.mktemp("fuzz")))
    yield server
    status, _ = server.request("GET", "/health", None, "application/json")
    assert status == 200, "server wedged after fuzzing"
    server.close()


def _assert_clean_answer(status: int, body: bytes) -> None:
    assert status < 500 or status == 503, (status, body[:300])
    document = json.loads(body)
    if status >= 400:
        assert set(document) == {"error", "field"}, document
        assert isinstance(document["error"], str) and document["error"]


@FUZZ_SETTINGS
@given(path=paths, payload=json_values)
def test_arbitrary_json_never_fails_the_server(
    threaded_server: ThreadedServer, path: str, payload: Any
) -> None:
    _assert_clean_answer(
        *threaded_server.request("POST", path, json.dumps(payload).encode(), "application/json")
    )


@FUZZ_SETTINGS
@given(payload=predict_bodies)
def test_near_valid_predict_bodies(threaded_server: ThreadedServer, payload: Any) -> None:
    status, body = threaded_server.request(
        "POST", "/predict", json.dumps(payload).encode(), "application/json"
    )
    _assert_clean_answer(status, body)
    assert status in (200, 400)


@FUZZ_SETTINGS
@given(path=paths, payload=v2_bodies)
def test_near_valid_v2_bodies(threaded_server: ThreadedServer, path: str, payload: Any) -> None:
    status, body = threaded_server.request(
        "POST", path, json.dumps(payload).encode(), "application/json"
    )
    _assert_clean_answer(status, body)
    assert status in (200, 400, 404)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=paths,
    body=st.binary(max_size=300),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x+json", "application/octet-stream", ""]
    ),
)
def test_raw_bytes_never_fail_the_server(
    threaded_server: ThreadedServer, path: str, body: bytes, content_type: str
) -> None:
    status, answer = threaded_server.request("POST", path, body, content_type)
    _assert_clean_answer(status, answer)
    assert 400 <= status < 500 or status == 200


# The binary tensor data extension's framing: a header length and per-input sizes that may
# lie (past the body, inside the JSON, negative, huge), bodies cut short or padded.
binary_sizes = (
    st.integers(-(2**65), 2**65)
    | st.sampled_from([0, 31, 32, 33, 63, 64, 65, 2**31, 2**63, 2**64 - 1])
    | json_scalars
)
header_lengths = st.integers(-5, 400).map(str) | st.sampled_from(["", "x", "1e2", "+5", "9" * 30])


@FUZZ_SETTINGS
@given(
    path=paths,
    datatype=datatypes,
    shape=shapes | st.just([2, 8]) | st.just([8]),
    size=binary_sizes,
    tensor_bytes=st.binary(max_size=200),
    header_delta=st.integers(-20, 20) | st.none(),
    binary_output=st.sampled_from([None, True, False, 1, "yes"]),
)
def test_binary_framing_never_fails_the_server(
    threaded_server: ThreadedServer,
    path: str,
    datatype: str,
    shape: Any,
    size: Any,
    tensor_bytes: bytes,
    header_delta: int | None,
    binary_output: Any,
) -> None:
    request: dict[str, Any] = {
        "inputs": [
            {
                "name": "x",
                "shape": shape,
                "datatype": datatype,
                "parameters": {"binary_data_size": size},
            }
        ]
    }
    if binary_output is not None:
        request["parameters"] = {"binary_data_output": binary_output}
    header = json.dumps(request).encode()
    declared = len(header) if header_delta is None else len(header) + header_delta
    status, answer = threaded_server.request(
        "POST",
        path,
        header + tensor_bytes,
        "application/octet-stream",
        {"Inference-Header-Content-Length": str(declared)},
    )
    assert status < 500 or status == 503, (status, answer[:300])
    if status >= 400:
        document = json.loads(answer)
        assert set(document) == {"error", "field"} and document["error"], document


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=paths, declared=header_lengths, body=st.binary(max_size=300))
def test_lying_header_lengths_are_4xx(
    threaded_server: ThreadedServer, path: str, declared: str, body: bytes
) -> None:
    status, answer = threaded_server.request(
        "POST",
        path,
        body,
        "application/octet-stream",
        {"Inference-Header-Content-Length": declared},
    )
    _assert_clean_answer(status, answer)
    assert 400 <= status < 500 or status == 200


def test_every_documented_route_answers_json(threaded_server: ThreadedServer) -> None:
    status, body = threaded_server.request("GET", "/openapi.json", None, "application/json")
    document = json.loads(body)
    for path, operations in document["paths"].items():
        concrete = path.replace("{name}", "tiny").replace("{version}", "1.0.0")
        for method in operations:
            status, _answer = threaded_server.request(
                method.upper(), concrete, b"{}", "application/json"
            )
            assert status < 500, (method, path, status)
