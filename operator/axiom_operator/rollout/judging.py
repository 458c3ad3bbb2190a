"""Judging the canary: when an analysis is due, and what its verdict does to the rollout.

The verdict itself (thresholds, what counts as an error, when data is too thin) is
:func:`.analysis.evaluate`; this module decides what follows from it: a success lets the
step's pause end, failures beyond ``failureLimit`` fail the canary, too many inconclusive
verdicts in a row pause it for a human.
"""

from __future__ import annotations

from axiom_operator.rollout.analysis import Verdict, evaluate
from axiom_operator.rollout.lifecycle import fail_canary
from axiom_operator.rollout.model import AnalysisRecord, PauseReason, Phase
from axiom_operator.rollout.run import Run
from axiom_operator.rollout.sequential import sequential_figures
from axiom_operator.rollout.traffic import mirror_percent


def analyse(run: Run, canary: str, act: bool) -> bool:
    """Run the analysis if one is due. Returns False when the canary stopped progressing
    (failed, or paused as inconclusive). With ``act`` False (A/B experiment) only the
    figures are recorded."""
    thresholds = run.spec.analysis
    if thresholds is None:
        return True
    s = run.status
    window = run.obs.analysis
    window_from = s.analysis_window_from
    if window is None or window_from is None or window.started_at < window_from:
        run.requeue(thresholds.interval_seconds)
        return True  # StartAnalysisWindow is emitted with the desired actions
    last = s.last_analysis.at if s.last_analysis else None
    since = (
        max(window.started_at, last) if last and last >= window.started_at else window.started_at
    )
    due_in = thresholds.interval_seconds - run.seconds_since(since)
    if due_in > 0:
        run.requeue(due_in)
        return True
    sequential = thresholds.false_rollback_rate is not None
    result = evaluate(
        window.canary,
        window.stable,
        thresholds,
        shadow=window.shadow,
        evidence=s.evidence,
        expect_comparison=mirror_percent(run) > 0,
    )
    record = AnalysisRecord(
        run.now,
        result.verdict,
        result.reasons,
        result.canary,
        result.stable,
        version=canary or None,
        step=s.step,
        comparison=result.comparison,
        sequential=None
        if result.sequential is None or result.evidence is None
        else sequential_figures(result.evidence, result.sequential),
    )
    run.set(last_analysis=record)
    run.requeue(thresholds.interval_seconds)
    summary = "; ".join(result.reasons)
    if result.verdict is Verdict.INCONCLUSIVE:
        # Keep the window: thin traffic accumulates until it is enough to judge. It is not
        # added to the sequential evidence yet (the next evaluation sees it again, grown);
        # the tests are judged on the evidence plus the open window, so they still look at
        # every interval.
        count = s.analysis_inconclusive + 1
        run.set(analysis_inconclusive=count)
        if act and count >= thresholds.inconclusive_limit:
            run.set(paused_reason=PauseReason.INCONCLUSIVE)
            run.enter(
                Phase.PAUSED,
                f"canary {canary} paused: {count} inconclusive analyses ({summary}); "
                "annotate axiom.dev/resume=true, promote=true or rollback=previous",
                "AnalysisInconclusive",
                warning=True,
            )
            return False
        return True
    run.set(analysis_inconclusive=0, analysis_window_from=run.now)
    if sequential and result.evidence is not s.evidence:
        # The window is in the evidence now and the next one starts here: nothing is
        # counted twice.
        run.set(evidence=result.evidence)
    if not act:
        return True
    if result.verdict is Verdict.SUCCESS:
        run.set(step_analysis_passed=True)
        return True
    failures = s.analysis_failures + 1
    # A failure after a success in the same step withdraws that success.
    run.set(analysis_failures=failures, step_analysis_passed=False)
    run.event("Warning", "AnalysisFailed", f"canary {canary} analysis failed: {summary}")
    assert thresholds is not None
    if failures > thresholds.failure_limit:
        fail_canary(
            run, f"{failures} failed analyses > failureLimit {thresholds.failure_limit}: {summary}"
        )
        return False
    return True
