"""The autopilot's system id against node.id: the parameter's name per ArduPilot version,
what is reported and refused, and the `autopilot.system_id_mismatch` setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from companion.agent.config import ConfigError, parse_config
from companion.autopilot.identity import AutopilotIdentity, Mismatch, sysid_parameter
from dialects import event


@pytest.mark.parametrize(
    ("version", "name"),
    [
        ((3, 3), "SYSID_THISMAV"),
        ((4, 6), "SYSID_THISMAV"),
        ((4, 7), "MAV_SYSID"),
        ((5, 0), "MAV_SYSID"),
    ],
)
def test_the_parameter_is_mav_sysid_from_ardupilot_4_7(version: tuple[int, int], name: str) -> None:
    assert sysid_parameter(version) == name


def test_the_first_id_and_each_change_are_reported_once() -> None:
    identity = AutopilotIdentity(3)
    assert identity.observe(None) is None
    first = identity.observe(1)
    assert first is not None
    assert (first.system_id, first.previous, first.matches) == (
        1,
        None,
        False,
    )
    assert "MAV_SYSID" in first.advice
    assert "SYSID_THISMAV" in first.advice
    assert identity.observe(1) is None
    fixed = identity.observe(3)
    assert fixed is not None
    assert (fixed.previous, fixed.matches) == (1, True)
    assert identity.status() == {
        "system_id": 3,
        "expected": 3,
        "matches": True,
        "on_mismatch": "warn",
    }


def test_only_refuse_answers_commands_and_only_for_another_id() -> None:
    warn, refuse = AutopilotIdentity(3), AutopilotIdentity(3, Mismatch.REFUSE)
    assert refuse.refusal() is None, "not heard yet: commands wait for the HEARTBEAT"
    for identity in (warn, refuse):
        identity.observe(1)
    assert warn.refusal() is None
    refused = refuse.refusal()
    assert refused is not None
    assert refused.outcome == event.EVENT_OUTCOME_AUTOPILOT_UNAVAILABLE
    assert refused.reason == "autopilot is system 1, not 3"
    refuse.observe(3)
    assert refuse.refusal() is None


def config(tmp_path: Path, autopilot: dict[str, Any]) -> dict[str, Any]:
    key = tmp_path / "link.key"
    key.write_text("ab" * 32)
    key.chmod(0o600)
    return {
        "node": {"id": 3, "keys": "keys", "link_key": "link.key"},
        "radio": {"url": "udp:127.0.0.1:14555"},
        "autopilot": autopilot,
    }


def test_the_setting_defaults_to_warn_and_takes_refuse(tmp_path: Path) -> None:
    assert parse_config(config(tmp_path, {}), base=tmp_path).autopilot_id_mismatch is Mismatch.WARN
    chosen = parse_config(config(tmp_path, {"system_id_mismatch": "refuse"}), base=tmp_path)
    assert chosen.autopilot_id_mismatch is Mismatch.REFUSE
    with pytest.raises(
        ConfigError, match=r"autopilot\.system_id_mismatch must be one of warn, refuse"
    ):
        parse_config(config(tmp_path, {"system_id_mismatch": "ignore"}), base=tmp_path)


def test_the_example_configuration_documents_the_setting() -> None:
    example = Path(__file__).parents[3] / "deploy" / "agent.example.toml"
    assert 'system_id_mismatch = "warn"' in example.read_text()
