"""The machine with shadow steps, same-input comparison and sequential decisions."""

from __future__ import annotations

from dataclasses import replace

from rollout_world import GOOD, THRESHOLDS, World, of_type, spec, stable_world

from axiom_operator.rollout import AnalysisSample, Phase, SetTrafficWeight, Step, Verdict
from axiom_operator.rollout.comparison import ShadowSample
from axiom_operator.status_model import read_rollout_status, write_rollout_status
from axiom_operator.status_view import last_analysis

SHADOW_STEPS = (Step(0, 60, mirror=100), Step(10, 60), Step(50, 60))
AGREEING = ShadowSample(
    compared=400,
    rows=400,
    agreements=400,
    stable_classes={"3": 200, "7": 200},
    canary_classes={"3": 200, "7": 200},
    confidence_delta_sum=4.0,
    confidence_delta_count=400,
)
PERMUTED = replace(
    AGREEING,
    agreements=8,
    flips={("3", "4"): 196, ("7", "8"): 196},
    canary_classes={"4": 196, "8": 196, "3": 4, "7": 4},
)


def canary_world(shadow: ShadowSample | None, **changes: object) -> World:
    world = stable_world(steps=SHADOW_STEPS, **changes)  # type: ignore[arg-type]
    world.shadow = shadow
    world.tick(1, version="2.0.0", source="src-2.0.0")
    world.tick(1)
    return world


def weights_written(world: World) -> list[tuple[float, float]]:
    return [
        (action.weight, action.mirror)
        for decision in world.log
        for action in of_type(decision, SetTrafficWeight)
        if action.canary_version == "2.0.0"
    ]


def test_a_shadow_step_mirrors_every_request_at_weight_zero() -> None:
    world = canary_world(AGREEING)
    assert world.status.phase is Phase.CANARY
    assert world.traffic is not None
    assert (world.traffic.weight, world.traffic.mirror) == (0.0, 100.0)


def test_an_agreeing_canary_leaves_the_shadow_step_and_stops_mirroring() -> None:
    world = canary_world(AGREEING)
    world.run(70)
    assert world.status.step == 1
    assert world.traffic is not None
    assert (world.traffic.weight, world.traffic.mirror) == (10.0, 0.0)
    record = world.status.last_analysis
    assert record is not None and record.comparison is not None
    assert record.comparison.agreement == 1.0


def test_a_label_permuted_canary_is_rolled_back_before_any_user_got_its_answer() -> None:
    world = canary_world(PERMUTED)
    world.run(120)
    assert world.status.phase is Phase.ROLLED_BACK
    assert all(weight == 0.0 for weight, _ in weights_written(world))
    record = world.status.last_analysis
    assert record is not None and record.verdict is Verdict.FAILURE
    assert "agreement with stable 0.020 < minAgreement 0.95" in record.reasons[0]
    assert "3->4 x196" in record.reasons[0]


def test_a_shadow_step_without_comparisons_is_inconclusive_never_a_pass() -> None:
    world = canary_world(None)
    world.run(40)
    record = world.status.last_analysis
    assert record is not None and record.verdict is Verdict.INCONCLUSIVE
    assert "no mirrored request was compared" in record.reasons[0]
    assert world.status.step == 0


def test_the_comparison_is_in_status_last_analysis_and_survives_the_round_trip() -> None:
    world = canary_world(PERMUTED)
    world.run(40)
    shown = last_analysis(world.status)
    assert shown is not None
    assert shown["comparison"]["agreement"] == 0.02
    assert shown["comparison"]["topFlips"][0] == {"from": "3", "to": "4", "count": 196}
    assert read_rollout_status(write_rollout_status(world.status)) == world.status


SEQUENTIAL = replace(THRESHOLDS, false_rollback_rate=0.05, inconclusive_limit=50)


def sequential_world(canary: AnalysisSample) -> World:
    world = stable_world(analysis=SEQUENTIAL, steps=(Step(10, 60), Step(50, 60)))
    world.canary_metrics = canary
    world.stable_metrics = AnalysisSample(requests=500, errors=5, p99_ms=20.0)
    world.tick(1, version="2.0.0", source="src-2.0.0")
    world.tick(1)
    return world


def test_sequential_evidence_accumulates_and_every_judged_window_starts_a_new_one() -> None:
    world = sequential_world(AnalysisSample(requests=60, errors=0, p99_ms=20.0))
    world.run(100)
    evidence = world.status.evidence
    assert evidence is not None and evidence.canary_requests >= 120
    windows = [d.status.analysis_window_from for d in world.log if d.status.last_analysis]
    assert len(set(windows)) >= 3  # a new window after each evaluation: nothing counted twice
    assert read_rollout_status(write_rollout_status(world.status)) == world.status


def test_a_thin_window_stays_open_and_out_of_the_evidence_until_it_is_judged() -> None:
    world = sequential_world(AnalysisSample(requests=40, errors=0, p99_ms=20.0))
    world.run(100)
    assert world.status.evidence is None  # the window grows instead: nothing counted twice
    windows = {d.status.analysis_window_from for d in world.log if d.status.last_analysis}
    assert len(windows) == 1
    record = world.status.last_analysis
    assert record is not None and record.verdict is Verdict.INCONCLUSIVE
    assert record.sequential is not None and record.sequential.canary_requests == 40


def test_an_undecided_sequential_test_lets_the_thresholds_judge_a_full_window() -> None:
    # 60 canary requests: under minSample 100 the sequential tests decide nothing yet, the
    # window holds minRequests 50 and is within the thresholds: the step may pass.
    world = sequential_world(AnalysisSample(requests=60, errors=0, p99_ms=20.0))
    world.run(35)
    record = world.status.last_analysis
    assert record is not None and record.verdict is Verdict.SUCCESS
    assert record.reasons[0] == "60 requests within thresholds"
    assert "minSample 100" in record.reasons[1]


def test_strict_sequential_decisions_hold_the_step_until_the_canary_is_shown_good() -> None:
    strict = replace(SEQUENTIAL, pass_undecided_on_thresholds=False)
    world = stable_world(analysis=strict, steps=(Step(10, 60), Step(50, 60)))
    world.canary_metrics = AnalysisSample(requests=60, errors=0, p99_ms=20.0)
    world.stable_metrics = AnalysisSample(requests=500, errors=5, p99_ms=20.0)
    world.tick(1, version="2.0.0", source="src-2.0.0")
    world.tick(1)
    world.run(65)
    record = world.status.last_analysis
    assert record is not None and record.verdict is Verdict.INCONCLUSIVE
    assert "minSample 100" in " ".join(record.reasons)
    assert world.status.step == 0  # the pause has elapsed, the evidence has not sufficed
    world.canary_metrics = GOOD
    world.run(200)
    assert world.status.phase in (Phase.PROMOTING, Phase.STABLE)


def test_sequential_decisions_turned_off_judge_window_by_window() -> None:
    world = sequential_world(AnalysisSample(requests=60, errors=0, p99_ms=20.0))
    world.spec = replace(world.spec, analysis=replace(SEQUENTIAL, false_rollback_rate=None))
    world.run(35)
    record = world.status.last_analysis
    assert record is not None and record.verdict is Verdict.SUCCESS
    assert record.sequential is None and world.status.evidence is None


def test_too_little_sequential_evidence_holds_the_step() -> None:
    world = sequential_world(AnalysisSample(requests=40, errors=0, p99_ms=20.0))
    world.run(35)
    record = world.status.last_analysis
    assert record is not None and record.verdict is Verdict.INCONCLUSIVE
    assert world.status.step == 0


def test_a_clearly_worse_canary_is_rolled_back_by_the_sequential_test() -> None:
    # 3 % errors against the stable's 1 %: under the 5 % guard, caught by the comparison.
    world = sequential_world(AnalysisSample(requests=500, errors=15, p99_ms=20.0))
    world.spec = replace(world.spec, analysis=replace(SEQUENTIAL, max_error_rate=0.05))
    world.run(300)
    assert world.status.phase is Phase.ROLLED_BACK
    record = world.status.last_analysis
    assert record is not None and record.sequential is not None
    assert "error rate above stable's" in record.reasons[0]


def test_a_good_canary_is_promoted_once_the_evidence_suffices() -> None:
    world = sequential_world(GOOD)
    world.run(200)
    assert world.status.phase in (Phase.PROMOTING, Phase.STABLE)


def test_spec_builds_a_shadow_step() -> None:
    assert spec(steps=SHADOW_STEPS).steps[0].mirror == 100
