"""Shell completion: one hidden verb (``__complete``) answers, the scripts only call it.

``__complete WORD...`` prints the candidates for the last word: verbs, the flags of the verb,
AxiomModel names read from the cluster (with the ``-n``/``--context``/``--kubeconfig`` typed so
far), the shells of ``completion``. The scripts:

- ``completion bash`` / ``completion zsh``: for ``kubectl-axiom ...`` typed directly;
- ``completion kubectl``: the ``kubectl_complete-axiom`` executable that kubectl (1.26+) runs
  to complete ``kubectl axiom ...``; it prints cobra's format (candidates, then ``:4``, "no
  file completion").
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

SHELLS = ("bash", "zsh", "kubectl")
COMPLETE_VERB = "__complete"
VALUE_FLAGS = frozenset(
    {"-n", "--namespace", "--context", "--kubeconfig", "--to", "--version", "--timeout", "-t"}
    | {"--wait", "--trusted-keys-namespace", "--port", "--address"}
)
CONNECTION_FLAGS = {"-n": "namespace", "--namespace": "namespace", "--context": "context"}
CONNECTION_FLAGS["--kubeconfig"] = "kubeconfig"
NAMELESS_VERBS = frozenset({"completion", "dashboard"})

_BASH = """\
# kubectl-axiom completion for bash: source <(kubectl-axiom completion bash)
_kubectl_axiom() {
    local IFS=$'\\n'
    COMPREPLY=($(kubectl-axiom __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _kubectl_axiom kubectl-axiom
"""
_ZSH = "autoload -U +X bashcompinit && bashcompinit\n" + _BASH.replace("for bash", "for zsh")
_KUBECTL = """\
#!/bin/sh
# kubectl_complete-axiom: kubectl (1.26+) runs this to complete `kubectl axiom ...`.
# Install: kubectl-axiom completion kubectl > ~/.local/bin/kubectl_complete-axiom
#          chmod +x ~/.local/bin/kubectl_complete-axiom
kubectl-axiom __complete "$@" 2>/dev/null
echo :4
"""


def script(shell: str) -> str:
    return {"bash": _BASH, "zsh": _ZSH, "kubectl": _KUBECTL}[shell].rstrip("\n")


def connection_flags(words: Sequence[str]) -> dict[str, str]:
    """The -n/--context/--kubeconfig values among the words typed so far."""
    found: dict[str, str] = {}
    for position, word in enumerate(words):
        flag, _, inline = word.partition("=")
        if flag in CONNECTION_FLAGS:
            value = inline or (words[position + 1] if position + 1 < len(words) else "")
            found[CONNECTION_FLAGS[flag]] = value
    return found


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public accessor for its subcommands
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(flag for a in parser._actions for flag in a.option_strings if flag != "-h")


def candidates(
    parser: argparse.ArgumentParser,
    words: Sequence[str],
    model_names: Callable[[Sequence[str]], list[str]],
) -> list[str]:
    """What may replace the last of ``words`` (the one being typed, possibly empty)."""
    words = list(words) or [""]
    typed, current = words[:-1], words[-1]
    if typed and typed[-1] in VALUE_FLAGS:
        return []  # a flag's value: namespaces, files... left to the shell's default
    positional = []
    skip = False
    for word in typed:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = word in VALUE_FLAGS
        else:
            positional.append(word)
    verbs = _subparsers(parser)
    if not positional:
        pool = _flags(parser) if current.startswith("-") else [v for v in verbs if v != "help"]
    elif positional[0] not in verbs:
        return []
    elif current.startswith("-"):
        pool = _flags(verbs[positional[0]])
    elif positional[0] == "completion":
        pool = list(SHELLS) if len(positional) == 1 else []
    elif positional[0] in NAMELESS_VERBS or len(positional) > 1:
        pool = []
    else:
        pool = model_names(typed)
    return [c for c in pool if c.startswith(current)]
