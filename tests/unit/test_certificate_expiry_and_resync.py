"""A deployed version's certificate ages: the status warns before it expires and says when it
has, the operator looks again at exactly those moments, and every model is resynced now and
then (reads only). Also: a first deploy is not a warning, a lost availability is."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from test_status_view import NOW, VALID, conditions, run, state, stored

from axiom_operator.pipeline import next_look, resync_phase
from axiom_operator.settings import OperatorSettings, SettingsError
from axiom_operator.status_view import DEFAULT_EXPIRY_WARNING
from axiom_operator.values import GateOutcome

WEEK = DEFAULT_EXPIRY_WARNING


def serving(gate: GateOutcome, now: Any = NOW) -> tuple[dict[str, Any], list[Any]]:
    _, first, _ = run({}, VALID, {})
    _, status, events = run(stored(first), gate, {"2.0.0": state("2.0.0")}, now=now)
    return status, events


def test_a_certificate_far_from_expiry_is_plainly_valid() -> None:
    status, _ = serving(replace(VALID, expires_at=NOW + timedelta(days=30)))
    assert conditions(status)["CertificateValid"] == ("True", "Valid")


def test_a_certificate_expiring_within_the_warning_says_so_with_a_warning_event() -> None:
    gate = replace(VALID, expires_at=NOW + timedelta(hours=36))
    status, events = serving(gate)
    assert conditions(status)["CertificateValid"] == ("True", "ExpiresSoon")
    message = next(c for c in status["conditions"] if c["type"] == "CertificateValid")["message"]
    assert "36.0 h" in message and "re-sign" in message
    warnings = [e for e in events if e.reason == "CertificateExpiresSoon"]
    assert warnings and warnings[0].type == "Warning"
    # it serves on: an ageing certificate never touches the workload
    assert status["phase"] == "Stable" and conditions(status)["Ready"][0] == "True"


def test_the_expiry_warning_is_posted_once_not_on_every_pass() -> None:
    gate = replace(VALID, expires_at=NOW + timedelta(hours=36))
    status, _ = serving(gate)
    _, again, events = run(stored(status), gate, {"2.0.0": state("2.0.0")})
    assert conditions(again)["CertificateValid"] == ("True", "ExpiresSoon")
    assert not [e for e in events if e.reason == "CertificateExpiresSoon"]


def test_a_first_deploy_is_not_a_warning() -> None:
    _, _, events = run({}, VALID, {})
    assert not [e for e in events if e.type == "Warning"], events


def test_losing_availability_is_a_warning() -> None:
    status, _ = serving(VALID)
    assert conditions(status)["Available"][0] == "True"
    _, _, events = run(stored(status), VALID, {"2.0.0": state("2.0.0", available=0)})
    lost = [e for e in events if e.reason == "AvailableFalse"]
    assert lost and lost[0].type == "Warning", events


def look(machine: float | None, expires_in: timedelta | None, resync: float = 300.0) -> Any:
    return next_look(
        machine,
        None if expires_in is None else NOW + expires_in,
        NOW,
        resync_seconds=resync,
        expiry_warning=WEEK,
        phase=_phase_due_in(300.0, resync),
    )


def _phase_due_in(seconds: float, period: float) -> float:
    """The phase whose next slot is ``seconds`` after NOW (for the tests' exact numbers)."""
    return ((NOW.timestamp() + seconds) % period) / period if period else 0.0


def test_next_look_at_rest_is_the_resync_period() -> None:
    assert look(None, None) == pytest.approx(300.0)


def test_next_look_resync_zero_and_nothing_else_is_never() -> None:
    assert look(None, None, resync=0) is None


def test_next_look_takes_the_machines_sooner_requeue() -> None:
    assert look(2.0, None) == 2.0


def test_next_look_wakes_when_the_expiry_warning_starts() -> None:
    assert look(None, WEEK + timedelta(seconds=100), resync=0) == pytest.approx(101.0)


def test_next_look_inside_the_warning_wakes_at_the_expiry() -> None:
    assert look(None, timedelta(seconds=50)) == pytest.approx(51.0)


def test_a_models_resync_keeps_its_slot_whenever_its_passes_run() -> None:
    phase = resync_phase(("ns", "m"))
    slots = set()
    for offset in (0.0, 7.3, 41.0, 99.5):
        at = NOW + timedelta(seconds=offset)
        wait = next_look(None, None, at, resync_seconds=100, expiry_warning=WEEK, phase=phase)
        assert wait is not None and 1.0 <= wait <= 101.0
        slots.add(round((at.timestamp() + wait) % 100, 6))
    assert len(slots) == 1, slots


def test_a_thousand_models_created_at_once_resync_spread_over_the_period() -> None:
    """Created (and so first reconciled) in the same second, their resyncs land evenly:
    no 10-second bucket of the period holds more than twice its share."""
    period, buckets = 300.0, [0] * 30
    for i in range(1000):
        wait = next_look(
            None,
            None,
            NOW,
            resync_seconds=period,
            expiry_warning=WEEK,
            phase=resync_phase(("bench", f"m{i}")),
        )
        assert wait is not None
        buckets[int(((NOW.timestamp() + wait) % period) // 10)] += 1
    assert max(buckets) <= 2 * 1000 / 30, buckets


def test_settings_read_the_expiry_warning_and_resync() -> None:
    settings = OperatorSettings.from_env(
        {
            "AXIOM_OPERATOR_RESYNC_SECONDS": "60",
            "AXIOM_OPERATOR_CERTIFICATE_EXPIRY_WARNING_SECONDS": "3600",
        }
    )
    assert settings.resync_seconds == 60 and settings.certificate_expiry_warning_seconds == 3600


def test_the_pass_limit_is_a_whole_number_setting() -> None:
    assert OperatorSettings.from_env({}).max_concurrent_passes == 32
    assert (
        OperatorSettings.from_env(
            {"AXIOM_OPERATOR_MAX_CONCURRENT_PASSES": "0"}
        ).max_concurrent_passes
        == 0
    )
    for bad in ("-1", "2.5", "many"):
        with pytest.raises(SettingsError, match="MAX_CONCURRENT_PASSES"):
            OperatorSettings.from_env({"AXIOM_OPERATOR_MAX_CONCURRENT_PASSES": bad})


def test_the_traffic_drain_limit_is_a_setting_the_machine_gets() -> None:
    from axiom_operator import api
    from axiom_operator.rollout_spec import to_rollout_spec

    assert OperatorSettings.from_env({}).traffic_drain_seconds == 180
    settings = OperatorSettings.from_env({"AXIOM_OPERATOR_TRAFFIC_DRAIN_SECONDS": "30"})
    assert settings.traffic_drain_seconds == 30
    for bad in ("-5", "soon"):
        with pytest.raises(SettingsError, match="TRAFFIC_DRAIN_SECONDS"):
            OperatorSettings.from_env({"AXIOM_OPERATOR_TRAFFIC_DRAIN_SECONDS": bad})
    spec = api.AxiomModelSpec.model_validate(
        {
            "version": "1.0.0",
            "model": {"uri": "https://models.invalid/m.axiom", "sha256": "0" * 64},
            "certificate": {"configMapRef": {"name": "c"}},
        }
    )
    rollout = to_rollout_spec(spec, {}, certificate_ok=True, drain_limit_seconds=30)
    assert rollout.drain_limit_seconds == 30
