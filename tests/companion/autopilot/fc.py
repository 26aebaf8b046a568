"""Messages as the flight controller sends them, for the sans-IO tests.

Each is packed by a pymavlink MAVLink instance with the flight controller's ids and
decoded again, so it carries the header (source system and component) that received
messages have.
"""

from __future__ import annotations

from typing import Any

from companion.autopilot.mission_protocol import MissionItem
from companion.autopilot.operation import Target, Timing
from dialects import event

FC = 1
FC_COMPONENT = 1
US = 3
US_COMPONENT = event.MAV_COMP_ID_ONBOARD_COMPUTER
TARGET = Target(FC, FC_COMPONENT)
TIMING = Timing()

COPTER = event.MAV_TYPE_QUADROTOR
GUIDED = 4
AUTO = 3
LOITER = 5
RTL = 6
STABILIZE = 0


def from_fc(message: Any, *, system: int = FC, component: int = FC_COMPONENT) -> Any:
    """`message` as received from `system`/`component`."""
    data = message.pack(event.MAVLink(None, system, component))
    return event.MAVLink(None).decode(bytearray(data))


def frame_from_fc(message: Any, *, system: int = FC, component: int = FC_COMPONENT) -> bytes:
    data: bytes = message.pack(event.MAVLink(None, system, component))
    return data


def heartbeat(
    custom_mode: int = STABILIZE,
    *,
    armed: bool = False,
    mav_type: int = COPTER,
    autopilot: int = event.MAV_AUTOPILOT_ARDUPILOTMEGA,
) -> Any:
    base_mode = event.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    if armed:
        base_mode |= event.MAV_MODE_FLAG_SAFETY_ARMED
    return event.MAVLink_heartbeat_message(
        mav_type, autopilot, base_mode, custom_mode, event.MAV_STATE_STANDBY, 3
    )


def command_ack(command: int, result: int = event.MAV_RESULT_ACCEPTED) -> Any:
    return event.MAVLink_command_ack_message(command, result, 0, 0, US, US_COMPONENT)


def statustext(text: str, severity: int = event.MAV_SEVERITY_CRITICAL) -> Any:
    return event.MAVLink_statustext_message(severity, text.encode(), 0, 0)


def mission_request(seq: int, *, as_int: bool = True, mission_type: int = 0) -> Any:
    cls = (
        event.MAVLink_mission_request_int_message
        if as_int
        else event.MAVLink_mission_request_message
    )
    return cls(US, US_COMPONENT, seq, mission_type)


def mission_ack(result: int = event.MAV_MISSION_ACCEPTED, mission_type: int = 0) -> Any:
    return event.MAVLink_mission_ack_message(US, US_COMPONENT, result, mission_type)


def mission_count(count: int) -> Any:
    return event.MAVLink_mission_count_message(US, US_COMPONENT, count, 0)


def mission_item(seq: int, item: MissionItem) -> Any:
    message = item.to_message(TARGET, seq)
    message.target_system, message.target_component = US, US_COMPONENT
    return message


def mission_current(seq: int) -> Any:
    return event.MAVLink_mission_current_message(seq, 0, 0, 0)


def global_position(
    *, lat: float = 0.0, lon: float = 0.0, rel_alt: float = 0.0, time_boot_ms: int = 1000
) -> Any:
    return event.MAVLink_global_position_int_message(
        time_boot_ms,
        round(lat * 1e7),
        round(lon * 1e7),
        584_000 + round(rel_alt * 1000),
        round(rel_alt * 1000),
        300,
        400,
        0,
        9000,
    )


def param_value(name: str, value: float, param_type: int) -> Any:
    return event.MAVLink_param_value_message(name.encode(), value, param_type, 1000, 7)


def of_type(messages: list[Any], name: str) -> list[Any]:
    """The messages of type `name` (e.g. "MISSION_ITEM_INT") among `messages`."""
    return [m for m in messages if m.get_type() == name]


def waypoints(count: int) -> list[MissionItem]:
    """`count` distinct waypoints east of Canberra's SITL home, 20 m up."""
    return [
        MissionItem(
            command=event.MAV_CMD_NAV_WAYPOINT,
            x=-353632610 + 1000 * n,
            y=1491652300 + 1500 * n,
            z=20.0,
        )
        for n in range(count)
    ]
