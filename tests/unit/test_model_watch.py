"""Which model watch events ask for a pass (handlers/handle_model.py).

The operator's own status patches and the listing Kopf repeats whenever its watch restarts
must not become passes: at 1,000 models each would be 1,000 passes for nothing."""

from __future__ import annotations

from typing import Any, cast

from axiom_operator.handlers.handle_model import ModelWatch
from axiom_operator.queue import ReconcileQueue


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[tuple[str, str], str]] = []
        self.forgotten: list[tuple[str, str]] = []

    def request(self, key: tuple[str, str], trigger: str) -> None:
        self.requests.append((key, trigger))

    def forget(self, key: tuple[str, str]) -> None:
        self.forgotten.append(key)


def model(generation: int = 1, status: str = "", **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "ns",
            "name": "m",
            "generation": generation,
            "annotations": annotations,
        },
        "status": {"phase": status},
    }


def watch() -> tuple[ModelWatch, Recorder]:
    recorder = Recorder()
    return ModelWatch(cast(ReconcileQueue, recorder)), recorder


def test_start_up_listing_asks_for_every_model_once() -> None:
    models, queue = watch()
    models.event(None, model())
    assert queue.requests == [(("ns", "m"), "start-up")]


def test_status_patches_and_relists_of_an_unchanged_model_ask_for_nothing() -> None:
    models, queue = watch()
    models.event("ADDED", model())
    models.event("MODIFIED", model(status="Deploying"))  # the operator's own status patch
    models.event(None, model(status="Stable"))  # Kopf re-listed after its watch timed out
    assert queue.requests == [(("ns", "m"), "added")]


def test_a_spec_change_or_a_request_annotation_asks_for_a_pass() -> None:
    models, queue = watch()
    models.event("ADDED", model())
    models.event("MODIFIED", model(generation=2))
    models.event("MODIFIED", model(generation=2, **{"axiom.dev/rollback": "previous"}))
    assert [trigger for _, trigger in queue.requests] == ["added", "modified", "modified"]


def test_a_deleted_model_is_forgotten_and_comes_back_as_new() -> None:
    models, queue = watch()
    models.event("ADDED", model())
    models.event("DELETED", model())
    models.event("ADDED", model())
    assert queue.forgotten == [("ns", "m")]
    assert len(queue.requests) == 2


def test_child_events_ask_only_for_models_the_watch_delivered() -> None:
    # A standby replica under peering: Kopf never gives it the models, so the child watches
    # (which run in every replica) must not make it act.
    models, queue = watch()
    models.child_changed(("ns", "m"), "child")
    assert queue.requests == []
    models.event("ADDED", model())
    models.child_changed(("ns", "m"), "child")
    assert queue.requests == [(("ns", "m"), "added"), (("ns", "m"), "child")]
    models.event("DELETED", model())
    models.child_changed(("ns", "m"), "child")  # its children being garbage-collected
    assert len(queue.requests) == 2
