"""``kubectl axiom verify``: the operator's certificate check of one version, run here.

It is :func:`axiom_operator.certificates.check_certificate` itself (which asks the runtime's
``verify_certificate``), on the same objects the operator reads: the version's certificate
Secret, the trusted keys, and the package bytes where the operator can read them (a
ConfigMap, or http(s)). A version other than spec.version is checked on the package and
certificate the operator recorded for it (``status.rollout.sources``), so any version that
was ever deployed can be re-checked, e.g. before a rollback to it.
"""

from __future__ import annotations

from typing import Any

from axiom_operator.certificates import PackageHashCache, check_certificate
from axiom_operator.kube import Kube
from axiom_operator.kubectl.tree import Verdict
from axiom_operator.observe import parse_spec
from axiom_operator.rollout_spec import spec_for_version
from axiom_operator.settings import OperatorSettings
from axiom_operator.status_model import read_rollout_status


class UnknownVersion(LookupError):
    """No package and certificate are recorded for the version asked for."""


async def verify_version(
    kube: Kube, settings: OperatorSettings, model: dict[str, Any], version: str | None = None
) -> Verdict:
    meta = model["metadata"]
    spec = parse_spec(model)
    if version is not None and version != spec.version:
        memory = read_rollout_status((model.get("status") or {}).get("rollout"))
        source = memory.source_of(version)
        if source is None:
            known = ", ".join(v for v, _ in memory.sources) or "none"
            raise UnknownVersion(
                f"no package and certificate recorded for {version} (recorded: {known})"
            )
        spec = spec_for_version(spec, version, source)
    gate = await check_certificate(
        kube,
        settings,
        name=meta["name"],
        namespace=meta["namespace"],
        spec=spec,
        cache=PackageHashCache(),
    )
    return Verdict(spec.version, gate.outcome)
