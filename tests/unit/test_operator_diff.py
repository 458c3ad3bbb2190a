"""apply-if-different: desired is compared as a subset of what the apiserver keeps."""

from __future__ import annotations

from decimal import Decimal

from axiom_operator.diff import (
    APPLIED_HASH_ANNOTATION,
    is_subset,
    needs_apply,
    parse_quantity,
    with_applied_hash,
)


def test_server_defaults_do_not_count_as_a_difference() -> None:
    desired = {"spec": {"ports": [{"name": "http", "port": 8080}]}}
    live = {
        "spec": {
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "clusterIP": "10.0.0.1",
        }
    }
    assert is_subset(desired, live)


def test_changed_value_is_a_difference() -> None:
    assert not is_subset({"spec": {"replicas": 2}}, {"spec": {"replicas": 3}})


def test_missing_field_is_a_difference() -> None:
    assert not is_subset({"metadata": {"labels": {"a": "b"}}}, {"metadata": {"labels": {}}})


def test_quantities_compare_by_value_under_resources() -> None:
    desired = {"resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"}}}
    live = {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}
    assert is_subset(desired, live)


def test_quantity_like_strings_elsewhere_compare_as_text() -> None:
    assert not is_subset(
        {"env": [{"name": "X", "value": "0.5"}]}, {"env": [{"name": "X", "value": "500m"}]}
    )


def test_named_list_items_match_by_name_and_tolerate_extra_live_items() -> None:
    desired = {"env": [{"name": "A", "value": "1"}]}
    live = {"env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]}
    assert is_subset(desired, live)


def test_plain_lists_must_match_exactly() -> None:
    assert not is_subset({"command": ["axiom", "serve"]}, {"command": ["axiom", "serve", "-v"]})


def test_empty_desired_map_matches_an_absent_live_field() -> None:
    assert is_subset({"data": {}}, {"metadata": {}})


def test_parse_quantity_binary_and_decimal_suffixes() -> None:
    assert parse_quantity("128Mi") == Decimal(128 * 2**20)
    assert parse_quantity("100m") == Decimal("0.1")
    assert parse_quantity("1e3") == Decimal(1000)
    assert parse_quantity("abc") is None


def test_applied_hash_changes_when_a_field_is_removed() -> None:
    full = with_applied_hash({"metadata": {"name": "x"}, "data": {"A": "1", "B": "2"}})
    smaller = with_applied_hash({"metadata": {"name": "x"}, "data": {"A": "1"}})
    assert (
        full["metadata"]["annotations"][APPLIED_HASH_ANNOTATION]
        != smaller["metadata"]["annotations"][APPLIED_HASH_ANNOTATION]
    )
    # live still has B from the older apply: a plain subset test would skip the write
    assert needs_apply(smaller, full)


def test_no_apply_needed_when_live_carries_the_same_manifest() -> None:
    desired = with_applied_hash({"metadata": {"name": "x"}, "data": {"A": "1"}})
    live = {**desired, "metadata": {**desired["metadata"], "resourceVersion": "7"}}
    assert not needs_apply(desired, live)


def test_absent_object_needs_apply() -> None:
    assert needs_apply(with_applied_hash({"metadata": {"name": "x"}}), None)
