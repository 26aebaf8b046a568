"""EVENT_TELEMETRY from the vehicle state: the vehicle kind travels with the mode number."""

from __future__ import annotations

from companion.agent.telemetry import telemetry
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
