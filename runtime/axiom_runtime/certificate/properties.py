"""The properties a signer can certify: their names and parameters, parsed from text.

What a property is called and which parameters it takes lives here, apart from how it is
measured on a model's outputs (:mod:`axiom_runtime.certificate.signing`, which needs numpy),
so that ``axiom cert`` can check a ``--property`` argument before it loads a model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from axiom_runtime.errors import CertificateError


@dataclass(frozen=True)
class PropertySpec:
    name: str
    params: dict[str, float] = field(default_factory=dict)


# name -> (parameter names in positional order, defaults)
PARAMETERS: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {
    "valid_probabilities": (("tolerance",), {"tolerance": 1e-4}),
    "bounded_output": (("low", "high"), {}),
    "no_nan": ((), {}),
    "no_inf": ((), {}),
}

_PROPERTY_SYNTAX = re.compile(r"^\s*([a-z_]+)\s*(?:\((.*)\))?\s*$")


def parse_property(text: str) -> PropertySpec:
    """``no_nan``, ``bounded_output(0, 1)``, ``bounded_output(low=0, high=1)``, ``valid_probabilities``."""
    match = _PROPERTY_SYNTAX.match(text)
    if not match or match.group(1) not in PARAMETERS:
        raise CertificateError(
            f"property {text!r}: expected one of {sorted(PARAMETERS)}, e.g. bounded_output(0, 1)"
        )
    name, arguments = match.group(1), match.group(2)
    names, defaults = PARAMETERS[name]
    params = dict(defaults)
    for position, argument in enumerate(
        a.strip() for a in (arguments or "").split(",") if a.strip()
    ):
        key, _, raw = argument.rpartition("=")
        key = key.strip() or (names[position] if position < len(names) else "")
        if key not in names:
            raise CertificateError(
                f"property {text!r}: unknown parameter {argument!r}; parameters: {list(names)}"
            )
        try:
            params[key] = float(raw)
        except ValueError:
            raise CertificateError(
                f"property {text!r}: {key} must be a number, got {raw.strip()!r}"
            ) from None
        if not math.isfinite(params[key]):
            raise CertificateError(f"property {text!r}: {key} must be finite")
    missing = [n for n in names if n not in params]
    if missing:
        raise CertificateError(f"property {text!r}: missing parameter(s) {missing}")
    if name == "bounded_output" and params["low"] > params["high"]:
        raise CertificateError(f"property {text!r}: low must not exceed high")
    return PropertySpec(name, params)
