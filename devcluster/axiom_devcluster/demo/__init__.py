"""``make demo``: the whole Axiom story on one machine, printed as a newcomer would see it.

Why a story and not a script of commands: the demo is the first thing a person runs, so each
step says what is about to happen, shows the real ``kubectl`` output and real predictions
(with the version that answered), and fails loudly, naming what did not happen, when the
operator does not do what the documentation promises. Nothing here is simulated.

Modules: ``report`` (step headers, progress lines, timings), ``traffic`` (one prediction and
a steady client counting failures and answering versions), ``manifests`` (the YAML a user
applies), ``operator_process`` (``axiom operator`` as a killable subprocess), ``stack`` (the
local cluster, agent and operator, and cleanup), ``story`` (the steps).
"""
