"""The rollout state machine, transition by transition and on its hard cases (spec changed
mid-canary, a third version, a revoked certificate, an operator restart, unreachable metrics,
rollback during promotion)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rollout_world import BAD, GOOD, THIN, World, events, of_type, spec, stable_world, warnings

from axiom_operator.rollout import (
    AskGate,
    DeleteDeployment,
    EmitEvent,
    EnsureDeployment,
    Gate,
    ManualRequests,
    Outcome,
    PauseReason,
    Phase,
    PointServiceAt,
    RequeueAfter,
    ScaleDown,
    SetTrafficWeight,
    StartAnalysisWindow,
    Step,
    TrafficMode,
    Unreachable,
    canary_replicas,
    decide,
)
from axiom_operator.status_model import read_rollout_status, write_rollout_status


def canary_world(**changes: Any) -> World:
    """Stable 1.0.0 with canary 2.0.0 at its first step, weight live, analysis window open."""
    world = stable_world(**changes)
    world.tick(1, version="2.0.0", source="src-2.0.0")
    world.tick(1)  # canary ready: weight 10 written
    world.tick(1)  # weight live: step timer and analysis window start
    assert world.status.phase is Phase.CANARY and world.status.step_started_at is not None
    return world


def run_until(world: World, phase: Phase, limit: int = 400) -> None:
    for _ in range(limit):
        if world.status.phase is phase:
            return
        world.tick(1)
    raise AssertionError(f"never reached {phase}; at {world.status.phase}")


def promote_fully(world: World) -> None:
    world.run(400)
    assert world.status.phase is Phase.STABLE


# -- first deployment -------------------------------------------------------------------


def test_first_version_is_deployed_and_pointed_at_by_the_service() -> None:
    world = World(spec("1.0.0"))
    world.pods_become_ready = False
    decision = world.tick()
    assert decision.status.phase is Phase.DEPLOYING
    assert EnsureDeployment("1.0.0", 2, "src-1.0.0") in decision.actions
    assert PointServiceAt("1.0.0") in decision.actions
    assert events(decision) == ["Deploying"]


def test_first_version_becomes_stable_once_all_replicas_are_available() -> None:
    world = World(spec("1.0.0"))
    world.tick()
    decision = world.tick(2)
    assert decision.status.phase is Phase.STABLE
    assert decision.status.history[0].outcome is Outcome.PROMOTED
    assert events(decision) == ["Stable"]


def test_first_version_with_a_refused_certificate_is_never_deployed() -> None:
    world = World(spec("1.0.0", certificate_ok=False, certificate_reason="bad signature"))
    decision = world.tick()
    assert decision.status.phase is Phase.BLOCKED
    assert of_type(decision, EnsureDeployment) == []
    assert warnings(decision) == ["CertificateRefused"]


def test_stable_is_a_fixed_point() -> None:
    world = stable_world()
    before = world.status
    decision = world.tick(60)
    assert decision.status == before
    assert events(decision) == []


# -- canary steps -----------------------------------------------------------------------


def test_new_version_starts_a_canary_beside_the_stable_at_weight_zero() -> None:
    world = stable_world()
    world.pods_become_ready = False
    decision = world.tick(1, version="2.0.0", source="src-2.0.0")
    assert decision.status.phase is Phase.CANARY
    assert decision.status.canary_weight == 0
    assert EnsureDeployment("2.0.0", 1, "src-2.0.0") in decision.actions
    assert EnsureDeployment("1.0.0", 2, "src-1.0.0") in decision.actions
    assert PointServiceAt("1.0.0") in decision.actions
    assert events(decision) == ["CanaryStarted"]


def test_the_first_weight_is_written_only_once_the_canary_is_ready() -> None:
    world = stable_world()
    world.pods_become_ready = False
    world.tick(1, version="2.0.0")
    assert world.tick(5).status.canary_weight == 0
    world.pods_become_ready = True
    world.deployments["2.0.0"] = replace(world.deployments["2.0.0"], available=1)
    decision = world.tick(5)
    assert decision.status.canary_weight == 10
    traffic = of_type(decision, SetTrafficWeight)[0]
    assert traffic == SetTrafficWeight("2.0.0", 10, traffic.generation, TrafficMode.RUNTIME)


def test_step_timer_and_analysis_wait_until_every_stable_pod_applied_the_weight() -> None:
    world = stable_world()
    world.pods_apply_traffic = False
    world.tick(1, version="2.0.0")
    world.tick(1)
    decision = world.tick(30)
    assert decision.status.step_started_at is None
    assert of_type(decision, StartAnalysisWindow) == []
    world.applied_generation = decision.status.traffic.generation
    decision = world.tick(1)
    assert decision.status.step_started_at == world.now
    assert StartAnalysisWindow("2.0.0") in decision.actions


def test_a_step_advances_after_its_pause_and_a_successful_analysis() -> None:
    world = canary_world()
    world.run(55)
    assert world.status.step == 0  # pause of 60 s not over yet
    world.run(10)
    assert world.status.step == 1
    assert world.status.canary_weight == 50
    assert "StepAdvanced" in [e for d in world.log[-3:] for e in events(d)]


def test_a_step_does_not_advance_without_a_successful_analysis_even_after_its_pause() -> None:
    world = canary_world()
    world.canary_metrics = THIN
    world.run(75)
    assert world.status.step == 0
    assert world.status.last_analysis is not None
    assert world.status.last_analysis.verdict.value == "Inconclusive"


def test_success_at_the_last_step_promotes_and_keeps_the_old_stable_warm() -> None:
    world = canary_world()
    promote_fully(world)
    status = world.status
    assert status.stable_version == "2.0.0" and status.canary_version is None
    assert world.service == "2.0.0"
    assert status.previous_version == "1.0.0"
    assert status.history[0].version == "2.0.0" and status.history[0].outcome is Outcome.PROMOTED
    assert world.traffic is not None and world.traffic.canary_version is None
    assert world.deployments["1.0.0"].desired == 2  # warm for instant rollback


def test_promotion_scales_the_canary_to_full_size_before_moving_the_service() -> None:
    world = canary_world()
    world.pods_become_ready = False
    run_until(world, Phase.PROMOTING)
    world.run(60)
    assert world.status.phase is Phase.PROMOTING
    assert world.service == "1.0.0"
    assert world.deployments["2.0.0"].desired == 2
    world.deployments["2.0.0"] = replace(world.deployments["2.0.0"], available=2)
    assert world.tick(1).status.phase is Phase.STABLE
    assert world.service == "2.0.0"


def test_the_warm_previous_version_is_deleted_after_the_rollback_window() -> None:
    world = canary_world()
    promote_fully(world)
    world.tick(601)
    assert "1.0.0" not in world.deployments
    assert world.status.previous_version is None


def test_failures_past_the_failure_limit_roll_the_canary_back() -> None:
    world = canary_world()
    world.canary_metrics = BAD
    world.run(30)
    assert world.status.phase is Phase.CANARY and world.status.analysis_failures == 1
    status = world.run_and_get(35)
    assert status.phase is Phase.ROLLED_BACK
    assert status.canary_version is None and world.traffic is not None
    assert world.traffic.canary_version is None
    assert world.deployments["2.0.0"].desired == 0
    assert status.history[0].version == "2.0.0" and status.history[0].outcome is Outcome.FAILED
    assert "2.0.0" in status.blocked_versions
    assert "AutoRollback" in [w for d in world.log for w in warnings(d)]


def test_a_rolled_back_canary_runs_until_every_stable_pod_stopped_forwarding_to_it() -> None:
    """The stable pods read the split from a ConfigMap the kubelet refreshes at its pod sync:
    until each reports the generation without the canary, it still forwards the canary's
    share, so the canary's pods stay (status.drainingVersions says why)."""
    world = canary_world()
    world.canary_metrics = BAD
    world.pods_apply_traffic = False  # the kubelet has not refreshed the mounted ConfigMap yet
    for _ in range(100):
        if world.status.phase is Phase.ROLLED_BACK:
            break
        world.tick(1)
    status = world.status
    assert status.phase is Phase.ROLLED_BACK and status.canary_version is None
    assert status.draining_versions == ("2.0.0",) and status.draining_since == world.now
    assert world.deployments["2.0.0"].desired > 0
    assert RequeueAfter(2.0) in world.last.actions if world.last else False
    # Still stale 100 s later: still kept, and nothing else happens.
    world.run(100, every=10)
    assert world.status.draining_versions == ("2.0.0",)
    assert world.deployments["2.0.0"].desired > 0
    assert not [w for d in world.log[-10:] for w in warnings(d)]
    # The persisted status carries the drain over an operator restart.
    assert read_rollout_status(write_rollout_status(world.status)) == world.status
    # Every stable pod applied it: the canary is scaled away in the same pass.
    world.applied_generation = world.status.traffic.generation
    decision = world.tick(2)
    assert ScaleDown("2.0.0") in decision.actions and decision.status.draining_versions == ()
    assert world.deployments["2.0.0"].desired == 0
    # At rest again: no requeue asked for the drain.
    assert not of_type(world.tick(2), RequeueAfter)


def test_a_drain_no_stable_pod_confirms_ends_at_its_limit_with_a_warning() -> None:
    world = canary_world(drain_limit_seconds=60.0)
    world.pods_apply_traffic = False
    world.annotate(rollback="previous")
    assert world.status.draining_versions == ("2.0.0",)
    world.run(50, every=10)
    assert world.status.draining_versions == ("2.0.0",)
    decision = world.tick(10)
    assert warnings(decision) == ["TrafficNotConfirmed"]
    assert decision.status.draining_versions == () and ScaleDown("2.0.0") in decision.actions


def test_a_promoted_canary_never_drains() -> None:
    world = canary_world()
    promote_fully(world)
    assert world.status.stable_version == "2.0.0" and world.status.draining_versions == ()


def test_the_last_analysis_still_names_its_canary_after_the_rollback() -> None:
    """status.lastAnalysis is what a user reads to learn why a canary was rolled back; it
    must say which version and step were judged after canaryVersion is gone."""
    from axiom_operator.status_view import last_analysis

    world = canary_world()
    world.canary_metrics = BAD
    status = world.run_and_get(65)
    assert status.phase is Phase.ROLLED_BACK and status.canary_version is None
    shown = last_analysis(status)
    assert shown is not None and shown["verdict"] == "Fail"
    assert shown["version"] == "2.0.0" and shown["step"] == 0


def test_without_auto_rollback_a_failed_canary_is_held_at_zero_for_a_human() -> None:
    world = canary_world(auto_rollback=False)
    world.canary_metrics = BAD
    world.run(120)
    assert world.status.phase is Phase.FAILED
    assert world.status.canary_weight == 0 and world.status.canary_version == "2.0.0"
    assert world.deployments["2.0.0"].desired == 1


def test_with_no_steps_the_canary_is_promoted_as_soon_as_it_is_ready() -> None:
    world = stable_world(steps=())
    world.tick(1, version="2.0.0")
    world.tick(1)
    world.tick(1)
    assert world.status.stable_version == "2.0.0" and world.service == "2.0.0"


def test_a_canary_never_ready_fails_after_the_progress_deadline() -> None:
    world = stable_world(progress_deadline_seconds=120)
    world.pods_become_ready = False
    world.tick(1, version="2.0.0")
    world.run(100)
    assert world.status.phase is Phase.CANARY
    assert world.run_and_get(30).phase is Phase.ROLLED_BACK
    assert "progressDeadline" in world.status.history[0].reason


# -- hard cases ---------------------------------------------------------------------------


def test_steps_changed_mid_canary_continue_from_a_step_not_above_the_current_weight() -> None:
    world = canary_world()
    world.run(70)
    assert world.status.canary_weight == 50
    decision = world.tick(1, steps=(Step(5, 60), Step(20, 60), Step(80, 60)))
    assert decision.status.step == 1 and decision.status.canary_weight == 20
    assert decision.status.step_started_at is None or decision.status.step_started_at == world.now
    assert "StepsChanged" in events(decision)


def test_a_new_first_weight_below_the_current_one_lowers_the_traffic() -> None:
    world = canary_world()
    decision = world.tick(1, steps=(Step(5, 60), Step(50, 60)))
    assert decision.status.canary_weight == 5


def test_a_third_version_during_a_canary_supersedes_it_and_starts_over() -> None:
    world = canary_world()
    world.run(70)
    decision = world.tick(1, version="3.0.0", source="src-3.0.0")
    status = decision.status
    assert status.canary_version == "3.0.0" and status.stable_version == "1.0.0"
    assert status.history[0].version == "2.0.0"
    assert status.history[0].outcome is Outcome.SUPERSEDED
    # 2.0.0 runs until the stable pods applied the split without it, then goes.
    assert status.draining_versions == ("2.0.0",) and "2.0.0" in world.deployments
    assert DeleteDeployment("2.0.0") not in decision.actions
    assert DeleteDeployment("2.0.0") in world.tick(2).actions
    assert world.status.draining_versions == ()
    assert world.service == "1.0.0"
    assert status.canary_weight == 0 and status.analysis_failures == 0
    assert "2.0.0" not in status.blocked_versions


def test_revoked_canary_certificate_stops_the_canary_and_blocks_the_version() -> None:
    world = canary_world()
    decision = world.tick(1, certificate_ok=False, certificate_reason="key revoked")
    status = decision.status
    assert status.phase is Phase.BLOCKED and status.canary_version is None
    assert of_type(decision, SetTrafficWeight)[0].canary_version is None
    # Refused: gone at once, no draining (it must answer no one).
    assert DeleteDeployment("2.0.0") in decision.actions and status.draining_versions == ()
    assert status.history[0].outcome is Outcome.FAILED
    assert warnings(decision) == ["CertificateRefused"]
    assert world.service == "1.0.0"


def test_a_certificate_fixed_again_restarts_the_canary() -> None:
    world = canary_world()
    world.tick(1, certificate_ok=False)
    decision = world.tick(1, certificate_ok=True)
    assert decision.status.phase is Phase.CANARY and decision.status.canary_version == "2.0.0"


def test_unreachable_canary_metrics_are_inconclusive_not_a_failure() -> None:
    world = canary_world()
    world.canary_metrics = Unreachable("connection refused")
    world.run(30)
    record = world.status.last_analysis
    assert record is not None and record.verdict.value == "Inconclusive"
    assert "unreachable" in record.reasons[0]
    assert world.status.analysis_failures == 0


def test_analysis_inconclusive_forever_pauses_with_a_warning_and_never_promotes() -> None:
    world = canary_world()
    world.canary_metrics = THIN
    world.run(3 * 30 + 5)
    assert world.status.phase is Phase.PAUSED
    assert world.status.paused_reason is PauseReason.INCONCLUSIVE
    assert "AnalysisInconclusive" in [w for d in world.log for w in warnings(d)]
    world.run(24 * 3600, every=600)
    assert world.status.phase is Phase.PAUSED and world.status.stable_version == "1.0.0"


def test_resume_annotation_restarts_analysis_after_an_inconclusive_pause() -> None:
    world = canary_world()
    world.canary_metrics = THIN
    world.run(95)
    world.canary_metrics = GOOD
    decision = world.annotate(resume=True)
    assert decision.status.phase is Phase.CANARY
    world.spec = replace(world.spec, requests=ManualRequests())
    promote_fully(world)
    assert world.status.stable_version == "2.0.0"


def test_rollback_requested_during_promotion_keeps_the_stable_and_blocks_the_canary() -> None:
    world = canary_world()
    world.pods_become_ready = False
    run_until(world, Phase.PROMOTING)
    assert world.status.phase is Phase.PROMOTING
    decision = world.annotate(rollback="previous")
    status = decision.status
    assert status.phase is Phase.ROLLED_BACK and status.stable_version == "1.0.0"
    assert PointServiceAt("1.0.0") in decision.actions
    assert ScaleDown("2.0.0") not in decision.actions and status.draining_versions == ("2.0.0",)
    assert ScaleDown("2.0.0") in world.tick(2).actions
    assert status.history[0].outcome is Outcome.ROLLED_BACK


def test_promote_annotation_during_analysis_promotes_without_the_remaining_steps() -> None:
    world = canary_world()
    decision = world.annotate(promote=True)
    assert decision.status.phase in (Phase.PROMOTING, Phase.STABLE)
    world.tick(1)
    assert world.status.stable_version == "2.0.0" and world.service == "2.0.0"
    assert "annotation" in world.status.history[0].reason


def test_promote_applied_together_with_a_new_version_acts_once_the_canary_exists() -> None:
    world = stable_world()
    world.tick(1, version="2.0.0", requests=ManualRequests(promote=True))
    world.run(10, every=1)
    assert world.status.stable_version == "2.0.0"
    assert "annotation" in world.status.history[0].reason


def test_a_failed_analysis_after_a_success_in_the_same_step_blocks_the_advance() -> None:
    world = canary_world(analysis=replace(spec().analysis, failure_limit=5))  # type: ignore[type-var]
    world.run(30)
    assert world.status.step_analysis_passed
    world.canary_metrics = BAD
    world.run(40)
    assert world.status.step == 0 and not world.status.step_analysis_passed


def test_pause_annotation_holds_the_weight_until_removed() -> None:
    world = canary_world()
    world.annotate(pause=True)
    assert world.status.phase is Phase.PAUSED
    world.run(600)
    assert world.status.phase is Phase.PAUSED and world.status.canary_weight == 10
    decision = world.tick(1, requests=ManualRequests())
    assert decision.status.phase is Phase.CANARY and "Resumed" in events(decision)


def test_annotations_act_once_and_again_only_after_being_removed_and_re_added() -> None:
    world = canary_world()
    world.annotate(rollback="previous")
    assert world.status.phase is Phase.ROLLED_BACK
    world.tick(1, version="3.0.0")  # annotation still present: must not roll 3.0.0 back
    world.tick(1)
    assert world.status.canary_version == "3.0.0"
    world.tick(1, requests=ManualRequests())
    world.annotate(rollback="previous")
    assert world.status.canary_version is None
    assert "3.0.0" in world.status.blocked_versions


def test_rollback_to_a_version_not_in_history_is_refused_with_a_warning() -> None:
    world = canary_world()
    before = world.status
    decision = world.annotate(rollback="0.0.1")
    assert warnings(decision) == ["RollbackIgnored"]
    assert decision.status.canary_version == before.canary_version


# -- manual A/B ---------------------------------------------------------------------------


def test_canary_percent_holds_the_split_indefinitely_without_promotion() -> None:
    world = stable_world(canary_percent=30.0)
    world.tick(1, version="2.0.0")
    world.run(7 * 24 * 3600, every=3600)
    assert world.status.phase is Phase.EXPERIMENT
    assert world.status.canary_weight == 30 and world.status.stable_version == "1.0.0"
    assert world.traffic is not None and world.traffic.weight == 30


def test_canary_percent_records_analysis_figures_for_the_experiment() -> None:
    world = stable_world(canary_percent=30.0)
    world.tick(1, version="2.0.0")
    world.run(120)
    assert world.status.last_analysis is not None


def test_canary_percent_100_promotes_the_experiment() -> None:
    world = stable_world(canary_percent=30.0)
    world.tick(1, version="2.0.0")
    world.run(60)
    world.tick(1, canary_percent=100.0)
    world.tick(1)
    assert world.status.stable_version == "2.0.0"


def test_reverting_spec_version_to_the_stable_ends_the_experiment() -> None:
    world = stable_world(canary_percent=30.0)
    world.tick(1, version="2.0.0")
    world.run(60)
    decision = world.tick(1, version="1.0.0")
    assert decision.status.phase is Phase.STABLE and decision.status.canary_version is None
    assert decision.status.history[0].outcome is Outcome.SUPERSEDED
    assert decision.status.draining_versions == ("2.0.0",)
    assert DeleteDeployment("2.0.0") in world.tick(2).actions


# -- GitOps block -------------------------------------------------------------------------


def test_a_rolled_back_version_is_not_redeployed_by_the_same_spec() -> None:
    world = canary_world()
    world.annotate(rollback="previous")
    world.spec = replace(world.spec, requests=ManualRequests())
    for _ in range(20):
        decision = world.tick(30)
        assert decision.status.phase is Phase.ROLLED_BACK
        assert not any(
            isinstance(a, EnsureDeployment) and a.version == "2.0.0" for a in decision.actions
        )


def test_the_block_lifts_when_spec_version_moves_to_another_version() -> None:
    world = canary_world()
    world.annotate(rollback="previous")
    world.tick(1, version="3.0.0", requests=ManualRequests())
    assert "2.0.0" not in world.status.blocked_versions
    world.tick(1, version="2.0.0")
    assert world.status.canary_version == "2.0.0"


# -- Replicas mode ------------------------------------------------------------------------


def test_replicas_mode_turns_the_weight_into_replica_counts() -> None:
    assert canary_replicas(TrafficMode.REPLICAS, 10, 9) == 1
    assert canary_replicas(TrafficMode.REPLICAS, 50, 4) == 4
    assert canary_replicas(TrafficMode.REPLICAS, 0, 4) == 0
    assert canary_replicas(TrafficMode.RUNTIME, 10, 4) == 1


def test_replicas_mode_reports_the_effective_weight_and_shares_the_service() -> None:
    world = stable_world(mode=TrafficMode.REPLICAS, replicas=4)
    world.tick(1, version="2.0.0")
    decision = world.tick(1)
    assert decision.status.canary_weight == 10
    assert world.deployments["2.0.0"].desired == 1  # 1 of 5 pods
    decision = world.tick(1)
    assert decision.status.effective_weight == 20.0
    assert PointServiceAt(None) in decision.actions
    traffic = of_type(decision, SetTrafficWeight)[0]
    assert traffic.canary_version is None


def test_replicas_mode_canary_never_available_fails_after_the_progress_deadline() -> None:
    world = stable_world(mode=TrafficMode.REPLICAS, replicas=4, progress_deadline_seconds=60)
    world.pods_become_ready = False
    world.tick(1, version="2.0.0")
    world.run(50)
    assert world.status.phase is Phase.CANARY
    assert world.run_and_get(20).phase is Phase.ROLLED_BACK


def test_a_step_without_pause_is_held_until_the_promote_annotation() -> None:
    world = canary_world(steps=(Step(10, None), Step(50, 60)))
    world.run(3600, every=60)
    assert world.status.step == 0 and world.status.phase is Phase.CANARY
    world.annotate(promote=True)
    world.tick(1)
    assert world.status.stable_version == "2.0.0"


def test_promote_step_ends_the_current_step_only() -> None:
    world = canary_world(steps=(Step(10, None), Step(50, None)))
    decision = world.annotate(promote_step=True)
    assert world.status.step == 1 and world.status.canary_weight == 50
    assert world.status.phase is Phase.CANARY
    assert "StepAdvanced" in events(decision)
    world.run(600, every=60)  # still held: the annotation acts once, the new step waits
    assert world.status.step == 1 and world.status.stable_version == "1.0.0"


def test_promote_step_at_the_last_step_promotes() -> None:
    world = canary_world(steps=(Step(10, None),))
    world.annotate(promote_step=True)
    world.tick(1)
    assert world.status.stable_version == "2.0.0"


def test_promote_step_without_a_canary_is_ignored_with_a_warning() -> None:
    world = stable_world()
    decision = world.annotate(promote_step=True)
    assert warnings(decision) == ["PromoteIgnored"]


def test_a_pre_rollout_gate_keeps_the_new_version_off_until_its_hook_answers() -> None:
    world = stable_world(gates=frozenset({Gate.PRE_ROLLOUT}))
    decision = world.tick(1, version="2.0.0", source="src-2.0.0")
    assert world.status.waiting_for is Gate.PRE_ROLLOUT and world.status.canary_version is None
    assert AskGate(Gate.PRE_ROLLOUT, "2.0.0") in decision.actions
    assert "2.0.0" not in world.deployments and events(decision) == ["WaitingForGate"]
    assert events(world.tick(5)) == []  # still waiting: no Event again
    world.open_gates = frozenset({(Gate.PRE_ROLLOUT, "2.0.0")})
    decision = world.tick(1)
    assert events(decision)[:2] == ["GateOpened", "CanaryStarted"]
    assert world.status.waiting_for is None and world.status.canary_version == "2.0.0"
    assert not of_type(decision, AskGate)


def test_a_confirm_promotion_gate_holds_a_canary_that_passed_its_steps() -> None:
    world = canary_world(gates=frozenset({Gate.CONFIRM_PROMOTION}))
    world.run(400)
    assert world.status.phase is Phase.CANARY and world.status.stable_version == "1.0.0"
    assert world.status.waiting_for is Gate.CONFIRM_PROMOTION
    assert "ConfirmPromotion" in world.status.message
    assert AskGate(Gate.CONFIRM_PROMOTION, "2.0.0") in world.last.actions  # type: ignore[union-attr]
    world.open_gates = frozenset({(Gate.CONFIRM_PROMOTION, "2.0.0")})
    world.run(30)
    assert world.status.stable_version == "2.0.0" and world.status.waiting_for is None


def test_a_wait_ends_with_its_reason() -> None:
    world = stable_world(gates=frozenset({Gate.PRE_ROLLOUT}))
    world.tick(1, version="2.0.0", source="src-2.0.0")
    world.tick(1, version="1.0.0")  # spec.version back to the stable one
    assert world.status.waiting_for is None and world.status.phase is Phase.STABLE


def test_promote_annotation_does_not_wait_for_confirmation() -> None:
    world = canary_world(gates=frozenset({Gate.CONFIRM_PROMOTION}))
    world.annotate(promote=True)
    world.tick(1)
    assert world.status.stable_version == "2.0.0"


def test_steps_without_analysis_advance_on_their_pauses_alone() -> None:
    world = stable_world(analysis=None)
    world.tick(1, version="2.0.0")
    world.canary_metrics = BAD  # ignored: no analysis configured
    world.run(200)
    assert world.status.stable_version == "2.0.0"


# -- instant rollback ---------------------------------------------------------------------


def test_rollback_within_the_window_switches_to_the_warm_previous_at_once() -> None:
    world = canary_world()
    promote_fully(world)
    decision = world.annotate(rollback="previous")
    assert decision.status.phase is Phase.ROLLED_BACK
    assert decision.status.stable_version == "1.0.0"
    assert PointServiceAt("1.0.0") in decision.actions
    assert "2.0.0" in decision.status.blocked_versions


def test_rollback_after_the_window_is_a_normal_deploy_of_the_previous_version() -> None:
    world = canary_world()
    promote_fully(world)
    world.tick(700)
    world.pods_become_ready = False
    decision = world.annotate(rollback="previous")
    assert decision.status.phase is Phase.ROLLING_BACK
    assert EnsureDeployment("1.0.0", 2, "src-1.0.0") in decision.actions
    assert PointServiceAt("2.0.0") in decision.actions
    world.deployments["1.0.0"] = replace(world.deployments["1.0.0"], available=2)
    decision = world.tick(5)
    assert decision.status.phase is Phase.ROLLED_BACK and world.service == "1.0.0"


# -- operator restarts ----------------------------------------------------------------------


def _restarted(world: World) -> None:
    """Re-run the last decision's inputs from the persisted (round-tripped) status."""
    assert world.last is not None and world.last_inputs is not None
    spec, _, observations, now = world.last_inputs
    persisted = read_rollout_status(write_rollout_status(world.status))
    again = decide(spec, persisted, observations, now)
    assert again.status == world.status
    assert [a for a in again.actions if isinstance(a, EmitEvent)] == []
    first = [a for a in world.last.actions if not isinstance(a, EmitEvent | RequeueAfter)]
    repeated = [a for a in again.actions if not isinstance(a, EmitEvent | RequeueAfter)]
    # Desired-state actions only; the analysis window is re-requested only if still missing.
    assert [a for a in repeated if not isinstance(a, StartAnalysisWindow)] == [
        a for a in first if not isinstance(a, StartAnalysisWindow)
    ]


def test_restart_at_every_state_of_a_full_rollout_repeats_no_transition() -> None:
    world = World(spec("1.0.0"))
    phases = set()
    for seconds, changes in [(0, {}), (1, {}), (1, {"version": "2.0.0"}), (1, {}), (1, {})]:
        world.tick(seconds, **changes)
        phases.add(world.status.phase)
        _restarted(world)
    for _ in range(60):
        world.tick(5)
        phases.add(world.status.phase)
        _restarted(world)
    assert {Phase.DEPLOYING, Phase.STABLE, Phase.CANARY} <= phases


def test_restart_in_paused_failed_rolled_back_experiment_and_rolling_back_states() -> None:
    paused = canary_world()
    paused.annotate(pause=True)
    _restarted(paused)

    failed = canary_world(auto_rollback=False)
    failed.canary_metrics = BAD
    failed.run(70)
    assert failed.status.phase is Phase.FAILED
    _restarted(failed)

    rolled = canary_world()
    rolled.annotate(rollback="previous")
    _restarted(rolled)

    experiment = stable_world(canary_percent=20.0)
    experiment.tick(1, version="2.0.0")
    experiment.run(40)
    _restarted(experiment)

    cold = canary_world()
    promote_fully(cold)
    cold.tick(700)
    cold.pods_become_ready = False
    cold.annotate(rollback="previous")
    assert cold.status.phase is Phase.ROLLING_BACK
    _restarted(cold)


def test_a_handled_annotation_is_not_applied_again_after_a_restart() -> None:
    world = canary_world()
    promote_fully(world)
    world.annotate(rollback="previous")
    assert world.last_inputs is not None
    spec, _, observations, now = world.last_inputs
    persisted = read_rollout_status(write_rollout_status(world.status))
    again = decide(spec, persisted, observations, now)
    assert again.status.stable_version == "1.0.0"
    assert again.status.history == world.status.history
