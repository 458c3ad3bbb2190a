"""The watches' cache of children: what a pass may read from it, and which watch events ask
for a pass (the rules in operator/axiom_operator/child_cache.py)."""

from __future__ import annotations

from typing import Any

from axiom_operator.child_cache import ALL, ChildCache, what_a_pass_reads
from axiom_operator.handlers.watch_children import watch_scopes
from axiom_operator.resources import labels as names


def deployment(
    name: str,
    *,
    model: str = "digits",
    namespace: str = "ml",
    rv: str = "10",
    available: int = 0,
    update_time: str = "2026-12-01T00:00:00Z",
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "resourceVersion": rv,
            "labels": {names.MODEL_LABEL: model, names.MANAGED_BY_LABEL: names.MANAGED_BY},
            "managedFields": [{"manager": "axiom-operator", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"replicas": 1},
        "status": {
            "availableReplicas": available,
            "conditions": [
                {"type": "Progressing", "status": "True", "lastUpdateTime": update_time}
            ],
        },
    }


def synced_cache(*objs: dict[str, Any]) -> ChildCache:
    cache = ChildCache(["Deployment", "Service"])
    cache.replace("Deployment", objs)
    return cache


def test_nothing_is_read_from_a_kind_before_its_first_list() -> None:
    cache = ChildCache(["Deployment"])
    assert not cache.synced("Deployment", "ml")
    assert not cache.synced("HTTPRoute", "ml")  # never watched: always listed
    cache.replace("Deployment", [])
    assert cache.synced("Deployment", "ml")


def test_a_model_reads_only_its_own_children_without_managed_fields() -> None:
    cache = synced_cache(
        deployment("digits-v1-0-0"),
        deployment("digits-v2-0-0"),
        deployment("iris-v1-0-0", model="iris"),
        deployment("digits-v1-0-0", namespace="other"),
    )
    found = cache.of_model("Deployment", "ml", "digits")
    assert [d["metadata"]["name"] for d in found] == ["digits-v1-0-0", "digits-v2-0-0"]
    assert all("managedFields" not in d["metadata"] for d in found)
    assert cache.of_model("Deployment", "ml", "nobody") == []


def test_an_echo_or_a_heartbeat_asks_for_no_pass_but_a_status_change_does() -> None:
    cache = synced_cache(deployment("digits-v1-0-0", rv="10"))
    # The watch delivering the same object at a new resourceVersion, or with only the
    # Progressing condition's lastUpdateTime moved: nothing a pass reads changed.
    assert not cache.store("Deployment", deployment("digits-v1-0-0", rv="11"))
    assert not cache.store(
        "Deployment", deployment("digits-v1-0-0", rv="12", update_time="2026-12-01T00:01:00Z")
    )
    assert cache.store("Deployment", deployment("digits-v1-0-0", rv="13", available=1))
    assert cache.store("Deployment", deployment("digits-v3-0-0", rv="14"))  # new: look


def test_a_write_answer_never_replaces_something_newer_from_the_watch() -> None:
    cache = synced_cache(deployment("digits-v1-0-0", rv="20", available=1))
    cache.record_written("Deployment", deployment("digits-v1-0-0", rv="15", available=0))
    (held,) = cache.of_model("Deployment", "ml", "digits")
    assert held["metadata"]["resourceVersion"] == "20"
    cache.record_written("Deployment", deployment("digits-v1-0-0", rv="25", available=0))
    (held,) = cache.of_model("Deployment", "ml", "digits")
    assert held["metadata"]["resourceVersion"] == "25"
    # ...and the watch then echoing that write asks for no pass.
    assert not cache.store("Deployment", deployment("digits-v1-0-0", rv="25", available=0))


def test_a_written_object_the_watch_does_not_select_is_not_kept() -> None:
    cache = synced_cache()
    unlabelled = deployment("digits-v1-0-0")
    del unlabelled["metadata"]["labels"][names.MANAGED_BY_LABEL]
    cache.record_written("Deployment", unlabelled)
    assert cache.of_model("Deployment", "ml", "digits") == []


def test_the_operators_own_delete_leaves_the_cache_at_once() -> None:
    cache = synced_cache(deployment("digits-v1-0-0"))
    cache.record_deleted("Deployment", "ml", "digits-v1-0-0")
    assert cache.of_model("Deployment", "ml", "digits") == []
    assert cache.remove("Deployment", "ml", "digits-v1-0-0") is None  # the DELETED echo


def test_a_relist_finds_what_the_broken_watch_missed() -> None:
    cache = synced_cache(
        deployment("digits-v1-0-0", rv="10"),
        deployment("digits-v2-0-0", rv="11"),
        deployment("iris-v1-0-0", model="iris", rv="12"),
    )
    cache.unsync("Deployment")
    assert not cache.synced("Deployment", "ml")
    changed = cache.replace(
        "Deployment",
        [
            deployment("digits-v1-0-0", rv="10"),  # unchanged
            deployment("iris-v1-0-0", model="iris", rv="30", available=1),  # changed
            deployment("wine-v1-0-0", model="wine", rv="31"),  # new
        ],
    )
    assert sorted(obj["metadata"]["name"] for obj in changed) == [
        "digits-v2-0-0",  # deleted while no watch was open
        "iris-v1-0-0",
        "wine-v1-0-0",
    ]
    assert [d["metadata"]["name"] for d in cache.of_model("Deployment", "ml", "digits")] == [
        "digits-v1-0-0"
    ]


def test_a_namespace_list_replaces_only_that_namespace() -> None:
    cache = ChildCache(["Deployment"])
    cache.replace("Deployment", [deployment("a", namespace="one")], scope="one")
    cache.replace("Deployment", [deployment("b", namespace="two")], scope="two")
    assert cache.synced("Deployment", "one") and cache.synced("Deployment", "two")
    assert not cache.synced("Deployment", "three")
    cache.replace("Deployment", [], scope="one")
    assert cache.of_model("Deployment", "one", "digits") == []
    assert len(cache.of_model("Deployment", "two", "digits")) == 1


def test_a_label_change_moves_the_object_between_models() -> None:
    cache = synced_cache(deployment("x"))
    assert cache.store("Deployment", deployment("x", model="iris", rv="11"))
    assert cache.of_model("Deployment", "ml", "digits") == []
    assert len(cache.of_model("Deployment", "ml", "iris")) == 1


def test_fingerprint_ignores_only_bookkeeping() -> None:
    base = deployment("x")
    assert what_a_pass_reads(base) == what_a_pass_reads(deployment("x", rv="99"))
    labelled = deployment("x")
    labelled["metadata"]["annotations"] = {"someone": "edited"}
    assert what_a_pass_reads(base) != what_a_pass_reads(labelled)


def test_watch_scopes_follow_the_operators_namespaces() -> None:
    scopes, served = watch_scopes(())
    assert scopes == (ALL,) and served("anything")
    scopes, served = watch_scopes(("ml", "prod"))
    assert scopes == ("ml", "prod") and served("ml") and not served("dev")
    scopes, served = watch_scopes(("team-*", "!team-old"))
    assert scopes == (ALL,)
    assert served("team-a") and not served("team-old") and not served("ml")
