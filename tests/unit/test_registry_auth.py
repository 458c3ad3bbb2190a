"""Registry credentials from a Docker config JSON, WWW-Authenticate parsing, and the streaming
tar reader of the image form (the parts of oci:// that need no server; the flows themselves
run against the real registry in tests/runtime/test_model_sources_oci_auth.py)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile

import pytest

from axiom_runtime.sources import ModelSourceError
from axiom_runtime.sources.oci import IMAGE_MEMBER, TarMember, _tar_header
from axiom_runtime.sources.registry_auth import (
    RegistryCredentialsError,
    credentials_for,
    parse_challenge,
)


def config(**auths: dict[str, str]) -> str:
    return json.dumps({"auths": auths})


def test_an_auth_entry_is_matched_by_host_and_port_with_or_without_a_scheme() -> None:
    auth = base64.b64encode(b"alice:pa:ss").decode()
    found = credentials_for(
        config(**{"https://reg.test:5000/v1/": {"auth": auth}}), "reg.test:5000"
    )
    assert (found.username, found.password) == ("alice", "pa:ss")
    plain = credentials_for(
        config(**{"reg.test": {"username": "bob", "password": "x"}}), "REG.test"
    )
    assert (plain.username, plain.password) == ("bob", "x")
    assert "x" not in repr(plain)


def test_a_config_without_the_registry_lists_what_it_has() -> None:
    with pytest.raises(
        RegistryCredentialsError, match=r"no credentials for registry b.test \(has: a.test\)"
    ):
        credentials_for(config(**{"a.test": {"username": "u", "password": "p"}}), "b.test")
    with pytest.raises(RegistryCredentialsError, match="not JSON"):
        credentials_for("{", "b.test")
    with pytest.raises(RegistryCredentialsError, match='no "auths"'):
        credentials_for("{}", "b.test")


def test_challenges_are_parsed_with_quoted_commas() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.test/token",service="reg",scope="repository:a/b:pull,push"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.test/token",
        "service": "reg",
        "scope": "repository:a/b:pull,push",
    }
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


def _read(layer: bytes, chunk: int) -> bytes:
    out = bytearray()
    member = TarMember(out.extend, "oci://test")
    for start in range(0, len(layer), chunk):
        member.feed(layer[start : start + chunk])
    member.close()
    return bytes(out)


@pytest.mark.parametrize("chunk", [1, 511, 512, 4096, 1 << 20])
def test_the_member_is_read_from_any_chunking_of_a_pax_tar(chunk: int) -> None:
    payload = bytes(range(256)) * 40 + b"end"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("other.txt", b"x" * 700), (IMAGE_MEMBER, payload)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.pax_headers = {"comment": "é" * 50}
            tar.addfile(info, io.BytesIO(data))
    assert _read(buffer.getvalue(), chunk) == payload


def test_the_pushed_tar_is_what_tarfile_reads() -> None:
    payload = b"zip bytes" * 100
    layer = _tar_header(len(payload)) + payload + b"\0" * (-len(payload) % 512 + 1024)
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        extracted = tar.extractfile(IMAGE_MEMBER)
        assert extracted is not None and extracted.read() == payload
    assert hashlib.sha256(_read(layer, 777)).digest() == hashlib.sha256(payload).digest()


def test_a_layer_without_the_member_is_refused() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("model.bin")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ModelSourceError, match=r"holds 0 files named model\.axiom"):
        _read(buffer.getvalue(), 512)
