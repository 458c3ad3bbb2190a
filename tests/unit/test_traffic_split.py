"""The pure half of the runtime split: bucket choice and the traffic config file."""

from __future__ import annotations

import hashlib
import json
import random
import uuid

import pytest

from axiom_runtime.traffic.config import (
    CanaryTarget,
    TrafficConfig,
    TrafficConfigError,
    parse_traffic_config,
    render_traffic_config,
)
from axiom_runtime.traffic.split import BUCKETS, bucket_of, canary_buckets, goes_to_canary

GOOD = (
    '{"generation": 7, "canary": {"version": "2.0.0", "url": "http://127.100.0.12:8080",'
    ' "weight": 10.0}, "requestIdHeader": "X-Request-ID", "forwardTimeoutSeconds": 2.0}'
)


def _ids(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(count)]


def test_ten_thousand_random_ids_at_weight_10_send_10_plus_minus_2_percent_to_canary() -> None:
    share = sum(goes_to_canary(i, 10.0) for i in _ids(10_000, seed=1)) / 100.0
    assert 8.0 <= share <= 12.0


@pytest.mark.parametrize("weight", [1.0, 25.0, 50.0, 90.0])
def test_split_is_exact_within_two_points_at_other_weights(weight: float) -> None:
    share = sum(goes_to_canary(i, weight) for i in _ids(10_000, seed=2)) / 100.0
    assert abs(share - weight) <= 2.0


def test_the_same_id_always_lands_in_the_same_bucket() -> None:
    assert bucket_of("user-42") == bucket_of("user-42")
    assert 0 <= bucket_of("user-42") < BUCKETS


def test_bucket_is_a_fixed_function_of_the_id_not_of_the_process() -> None:
    # blake2b, not the per-process salted hash(): every pod must agree. Pinned value.
    digest = hashlib.blake2b(b"request-1", digest_size=8).digest()
    assert bucket_of("request-1") == int.from_bytes(digest, "big") % BUCKETS


def test_raising_the_weight_only_moves_callers_from_stable_to_canary() -> None:
    ids = _ids(2_000, seed=3)
    at_10 = {i for i in ids if goes_to_canary(i, 10.0)}
    at_30 = {i for i in ids if goes_to_canary(i, 30.0)}
    assert at_10 <= at_30


def test_weight_zero_never_and_weight_hundred_always_go_to_canary() -> None:
    ids = _ids(500, seed=4)
    assert not any(goes_to_canary(i, 0.0) for i in ids)
    assert all(goes_to_canary(i, 100.0) for i in ids)


def test_two_decimal_weights_map_to_exact_bucket_counts() -> None:
    assert canary_buckets(12.34) == 1234
    assert canary_buckets(0.01) == 1


def test_requests_without_an_id_are_drawn_at_random_in_proportion() -> None:
    rng = random.Random(5)
    share = sum(goes_to_canary(None, 20.0, rng) for _ in range(10_000)) / 100.0
    assert abs(share - 20.0) <= 2.0


def test_a_valid_file_parses_into_the_config() -> None:
    config = parse_traffic_config(GOOD)
    assert config == TrafficConfig(
        generation=7,
        canary=CanaryTarget(version="2.0.0", url="http://127.100.0.12:8080", weight=10.0),
        request_id_header="X-Request-ID",
        forward_timeout_seconds=2.0,
    )


def test_null_canary_means_no_split_and_defaults_apply() -> None:
    config = parse_traffic_config('{"generation": 0, "canary": null}')
    assert config.canary is None
    assert config.request_id_header == "X-Request-ID"


def test_render_then_parse_gives_back_the_same_config() -> None:
    config = parse_traffic_config(GOOD)
    assert parse_traffic_config(render_traffic_config(config)) == config


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("not json", "<document>"),
        ("[]", "<document>"),
        ('{"canary": null}', "generation"),
        ('{"generation": -1}', "generation"),
        ('{"generation": true}', "generation"),
        ('{"generation": 1, "colour": "red"}', "colour"),
        (
            '{"generation": 1, "canary": {"version": "2", "url": "http://a:1", "weight": 101}}',
            "canary.weight",
        ),
        (
            '{"generation": 1, "canary": {"version": "2", "url": "http://a:1", "weight": 1.234}}',
            "canary.weight",
        ),
        (
            '{"generation": 1, "canary": {"version": "2", "url": "http://a:1", "weight": "10"}}',
            "canary.weight",
        ),
        ('{"generation": 1, "canary": {"version": "2", "url": "http://a:1"}}', "canary.weight"),
        (
            '{"generation": 1, "canary": {"version": "2", "url": "ftp://a", "weight": 1}}',
            "canary.url",
        ),
        (
            '{"generation": 1, "canary": {"version": "", "url": "http://a:1", "weight": 1}}',
            "canary.version",
        ),
        ('{"generation": 1, "canary": 5}', "canary"),
        ('{"generation": 1, "forwardTimeoutSeconds": 0}', "forwardTimeoutSeconds"),
        ('{"generation": 1, "requestIdHeader": "X Bad"}', "requestIdHeader"),
    ],
)
def test_a_bad_file_is_rejected_naming_the_field(text: str, field: str) -> None:
    with pytest.raises(TrafficConfigError) as caught:
        parse_traffic_config(text)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_a_grpc_target_round_trips() -> None:
    text = (
        '{"generation": 3, "canary": {"version": "2.0.0", "url": "http://10.0.0.9:8080",'
        ' "grpcTarget": "10.0.0.9:8081", "weight": 5}}'
    )
    config = parse_traffic_config(text)
    assert config.canary is not None and config.canary.grpc_target == "10.0.0.9:8081"
    assert parse_traffic_config(render_traffic_config(config)) == config


def test_without_a_grpc_target_the_rendered_file_is_unchanged() -> None:
    assert "grpcTarget" not in render_traffic_config(parse_traffic_config(GOOD))


@pytest.mark.parametrize(
    "target", ["10.0.0.9", "10.0.0.9:", ":8081", "10.0.0.9:0", "10.0.0.9:70000", "::1:8081", 8081]
)
def test_a_bad_grpc_target_is_rejected_naming_it(target: object) -> None:
    text = json.dumps(
        {
            "generation": 1,
            "canary": {"version": "2", "url": "http://a:1", "grpcTarget": target, "weight": 1},
        }
    )
    with pytest.raises(TrafficConfigError) as caught:
        parse_traffic_config(text)
    assert caught.value.field == "canary.grpcTarget"
