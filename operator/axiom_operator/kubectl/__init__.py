"""``kubectl axiom``: the kubectl plugin (console script ``kubectl-axiom``).

Every verb works through the API the operator already reads: the ``axiom.dev/*`` annotations
of docs/annotations.md and the AxiomModel's spec and status; the plugin has no state and no
API of its own, so what it does can always be done (and audited) with plain ``kubectl``.

One job per module:

- :mod:`.connect`: kubectl's ``--kubeconfig``, ``--context`` and ``-n`` -> the operator's
  :class:`~axiom_operator.kube.Kube` and a namespace;
- :mod:`.tree`: the ``get`` tree, a pure rendering of objects already read;
- :mod:`.outcome`: has the rollout ended, and how (``status`` and its exit codes), pure;
- :mod:`.requests`: which annotation each verb sets, and when it refuses, pure;
- :mod:`.send`: setting that annotation so the operator acts on it (once per appearance);
- :mod:`.verify`: the operator's own certificate check of any recorded version;
- :mod:`.completion`: shell completion;
- :mod:`.cli`: argparse and the verbs, the only module that prints.
"""
