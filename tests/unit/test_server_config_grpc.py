"""The gRPC port setting: off by default, from --grpc-port or AXIOM_GRPC_PORT, checked."""

from __future__ import annotations

import pytest

from axiom_runtime.server.config import ConfigError, ServerConfig

MODEL = {"AXIOM_MODEL_URI": "m.axiom"}


def test_grpc_is_off_unless_asked_for() -> None:
    assert ServerConfig.from_sources({}, MODEL).grpc_port == 0


def test_the_env_var_sets_it_and_the_flag_wins() -> None:
    env = {**MODEL, "AXIOM_GRPC_PORT": "8081"}
    assert ServerConfig.from_sources({}, env).grpc_port == 8081
    assert ServerConfig.from_sources({"grpc_port": "9001"}, env).grpc_port == 9001


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("eighty", "AXIOM_GRPC_PORT: expected an integer"),
        ("70000", "grpc_port must be 0 (off) or 1..65535"),
        ("-1", "grpc_port must be 0 (off) or 1..65535"),
        ("8080", "grpc_port must differ from port (8080)"),
    ],
)
def test_a_bad_grpc_port_fails_naming_it(value: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        ServerConfig.from_sources({}, {**MODEL, "AXIOM_GRPC_PORT": value})
    assert words in str(raised.value)
