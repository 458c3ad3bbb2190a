"""Housekeeping at both ends of a run: forget what the spec no longer asks for.

:func:`housekeeping` runs first (requests whose annotation is gone, blocks on versions that
spec.version moved away from, warm versions whose time is up, spec.version's package source);
:func:`prune_sources` runs last, once the run has settled which versions it still needs.
"""

from __future__ import annotations

from axiom_operator.rollout.run import Run


def housekeeping(run: Run) -> None:
    present = run.spec.requests.ids()
    run.set(
        handled_requests=tuple(i for i in run.status.handled_requests if i in present),
        # A block lasts until spec.version moves to something else.
        blocked_versions=tuple(v for v in run.status.blocked_versions if v == run.spec.version),
        warm=tuple(w for w in run.status.warm if w.until > run.now),
    )
    if run.status.previous_version not in {w.version for w in run.status.warm}:
        run.set(previous_version=None)
    if run.spec.source:
        sources = dict(run.status.sources)
        sources[run.spec.version] = run.spec.source
        run.set(sources=tuple(sorted(sources.items())))


def prune_sources(run: Run) -> None:
    s = run.status
    keep = {run.spec.version, s.stable_version, s.canary_version, s.rollback_target}
    keep |= {w.version for w in s.warm} | {h.version for h in s.history}
    run.set(sources=tuple((v, src) for v, src in s.sources if v in keep))
