"""The runtime's Open Inference Protocol .proto: stubs reproducible, wire format the protocol's.

The committed ``open_inference_pb2*.py`` must be exactly what ``hack/gen-oip-stubs.py``
writes from the committed .proto (so nobody edits generated code by hand, and the
generator's pin is the one used). And every message and field the runtime defines must
have the name, number and type that Triton's own client (tritonclient's generated
``service_pb2``) has, which is what makes any V2 gRPC client work against the runtime.
The .proto is compiled to a FileDescriptorSet, never imported: the test process's protobuf
pool holds tritonclient's ``inference.*`` symbols, and a second definition would clash.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "runtime" / "axiom_runtime" / "server" / "protocol"
GENERATOR = ROOT / "hack" / "gen-oip-stubs.py"
STUBS = ("open_inference_pb2.py", "open_inference_pb2.pyi", "open_inference_pb2_grpc.py")


def test_regenerating_the_stubs_gives_the_committed_files(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(tmp_path)], check=True)
    fresh = tmp_path / "axiom_runtime" / "server" / "protocol"
    for name in STUBS:
        assert (fresh / name).read_bytes() == (PROTOCOL / name).read_bytes(), name


def _our_descriptor(tmp_path: Path) -> descriptor_pb2.FileDescriptorProto:
    from grpc_tools import protoc

    out = tmp_path / "set.pb"
    code = protoc.main(
        [
            "protoc",
            f"--proto_path={PROTOCOL}",
            f"--descriptor_set_out={out}",
            str(PROTOCOL / "open_inference.proto"),
        ]
    )
    assert code == 0
    [file] = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    return file


def _messages(
    messages: list[descriptor_pb2.DescriptorProto], prefix: str
) -> dict[str, descriptor_pb2.DescriptorProto]:
    found: dict[str, descriptor_pb2.DescriptorProto] = {}
    for message in messages:
        name = f"{prefix}.{message.name}"
        found[name] = message
        found.update(_messages(list(message.nested_type), name))
    return found


def test_every_message_and_field_matches_tritons_definition(tmp_path: Path) -> None:
    pytest.importorskip("tritonclient.grpc")
    from tritonclient.grpc import service_pb2

    ours = _our_descriptor(tmp_path)
    theirs = descriptor_pb2.FileDescriptorProto()
    service_pb2.DESCRIPTOR.CopyToProto(theirs)
    assert ours.package == theirs.package == "inference"
    their_messages = _messages(list(theirs.message_type), "")
    for name, message in _messages(list(ours.message_type), "").items():
        reference = their_messages[name]
        their_fields = {field.name: field for field in reference.field}
        for field in message.field:
            other = their_fields[field.name]
            assert (field.number, field.type, field.label, field.type_name) == (
                other.number,
                other.type,
                other.label,
                other.type_name,
            ), f"{name}.{field.name}"
    [service] = ours.service
    [their_service] = [s for s in theirs.service if s.name == service.name]
    their_methods = {m.name: m for m in their_service.method}
    for method in service.method:
        other = their_methods[method.name]
        assert (method.input_type, method.output_type) == (other.input_type, other.output_type)
