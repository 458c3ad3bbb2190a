"""The gRPC ceiling: a grpc.aio ModelInfer that returns a constant answer, nothing else.

The runtime's own generated stubs and grpcio's asyncio server, the loop `axiom serve` would
pick (uvloop when importable), plus a one-route aiohttp app for the bench's readiness poll:
whatever this answers per second is what grpc.aio allows on this machine, so the table can
say how much of it `axiom serve` keeps.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import grpc
from aiohttp import web

from axiom_runtime.server.protocol import open_inference_pb2 as pb
from axiom_runtime.server.protocol import open_inference_pb2_grpc as pb_grpc

ANSWER = pb.ModelInferResponse(
    model_name="bare",
    model_version="1",
    outputs=[pb.ModelInferResponse.InferOutputTensor(name="output", datatype="FP32", shape=[1, 1])],
    raw_output_contents=[b"\0\0\0\0"],
)


class Bare(pb_grpc.GRPCInferenceServiceServicer):
    async def ModelInfer(self, request: Any, context: Any) -> Any:
        return ANSWER


async def serve(port: int, grpc_port: int) -> None:
    server = grpc.aio.server()
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(Bare(), server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"127.0.0.1:{grpc_port}")
    await server.start()
    app = web.Application()
    app.router.add_get("/ready", lambda request: asyncio.sleep(0, web.Response()))
    app.router.add_post("/v2/models/{name}/infer", lambda request: asyncio.sleep(0, web.Response()))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.port, args.grpc_port))
    else:
        uvloop.run(serve(args.port, args.grpc_port))


if __name__ == "__main__":
    main()
