"""EVENT_TELEMETRY from the vehicle state: the vehicle kind travels with the mode number.
EVENT_STATUS names the last command's outcome with its reason."""

from __future__ import annotations

from companion.agent.telemetry import AgentStatus, status, telemetry
from companion.autopilot.vehicle_state import VehicleState
from dialects import event


def on_the_air(message: event.MAVLink_message) -> event.MAVLink_message:
    """`message` packed into a MAVLink 2 frame and parsed back."""
    frame = message.pack(event.MAVLink(None, srcSystem=2, srcComponent=191))
    parsed: event.MAVLink_message = event.MAVLink(None).decode(bytearray(frame))
    return parsed


def test_the_vehicle_kind_and_mode_number_cross_the_air() -> None:
    state = VehicleState(vehicle_type=event.MAV_TYPE_FIXED_WING, custom_mode=11, satellites=9)
    parsed = on_the_air(telemetry(state, 1_750_000_000.0, 0))
    assert (parsed.vehicle_type, parsed.custom_mode, parsed.satellites) == (1, 11, 9)


def test_an_autopilot_not_heard_yet_is_sent_as_unknown() -> None:
    parsed = on_the_air(telemetry(VehicleState(), 1_750_000_000.0, 0))
    assert (parsed.vehicle_type, parsed.custom_mode) == (event.MAV_TYPE_GENERIC, 0)


def test_the_status_names_the_last_outcome_with_its_reason_cut_to_fit() -> None:
    report = AgentStatus(
        uptime=60.0,
        mission_id=0,
        outbox_depth=0,
        state=event.EVENT_AGENT_STATE_IDLE,
        last_outcome=event.EVENT_OUTCOME_AUTOPILOT_REJECTED,
        gateway_hops=1,
        last_seq=12,
        last_source=255,
        last_reason="PreArm: " + "x" * 60,
    )
    parsed = on_the_air(status(report, 1_750_000_000.0, 0))
    assert (parsed.last_seq, parsed.last_source) == (12, 255)
    assert parsed.last_reason == ("PreArm: " + "x" * 60)[:50]
