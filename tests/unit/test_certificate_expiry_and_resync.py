"""A deployed version's certificate ages: the status warns before it expires and says when it
has, the operator looks again at exactly those moments, and every model is resynced now and
then (reads only). Also: a first deploy is not a warning, a lost availability is."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from test_status_view import NOW, VALID, conditions, run, state, stored

from axiom_operator.pipeline import next_look
from axiom_operator.settings import OperatorSettings
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
        jitter=1.0,
    )


def test_next_look_at_rest_is_the_resync_period() -> None:
    assert look(None, None) == 300.0


def test_next_look_resync_zero_and_nothing_else_is_never() -> None:
    assert look(None, None, resync=0) is None


def test_next_look_takes_the_machines_sooner_requeue() -> None:
    assert look(2.0, None) == 2.0


def test_next_look_wakes_when_the_expiry_warning_starts() -> None:
    assert look(None, WEEK + timedelta(seconds=100), resync=0) == pytest.approx(101.0)


def test_next_look_inside_the_warning_wakes_at_the_expiry() -> None:
    assert look(None, timedelta(seconds=50)) == pytest.approx(51.0)


def test_next_look_jitter_stays_within_ten_percent() -> None:
    seen = {next_look(None, None, NOW, resync_seconds=100, expiry_warning=WEEK) for _ in range(200)}
    assert all(90 <= s <= 110 for s in seen if s is not None) and len(seen) > 1


def test_settings_read_the_expiry_warning_and_resync() -> None:
    settings = OperatorSettings.from_env(
        {
            "AXIOM_OPERATOR_RESYNC_SECONDS": "60",
            "AXIOM_OPERATOR_CERTIFICATE_EXPIRY_WARNING_SECONDS": "3600",
        }
    )
    assert settings.resync_seconds == 60 and settings.certificate_expiry_warning_seconds == 3600
