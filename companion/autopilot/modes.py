"""ArduPilot flight modes: HEARTBEAT.custom_mode numbers and their names, per vehicle kind.

ArduPilot puts its own mode number in HEARTBEAT.custom_mode (with
MAV_MODE_FLAG_CUSTOM_MODE_ENABLED in base_mode); the numbers differ between Copter,
Plane, Rover and Sub. The tables come from ardupilotmega.xml (COPTER_MODE, PLANE_MODE,
ROVER_MODE, SUB_MODE), which the EVENT dialect includes, so they follow the dialect.
The vehicle kind comes from HEARTBEAT.type.
"""

from __future__ import annotations

from enum import Enum

from dialects import event

COPTER_TYPES = frozenset(
    {
        event.MAV_TYPE_QUADROTOR,
        event.MAV_TYPE_COAXIAL,
        event.MAV_TYPE_HELICOPTER,
        event.MAV_TYPE_HEXAROTOR,
        event.MAV_TYPE_OCTOROTOR,
        event.MAV_TYPE_TRICOPTER,
        event.MAV_TYPE_DODECAROTOR,
        event.MAV_TYPE_DECAROTOR,
    }
)
PLANE_TYPES = frozenset(
    {
        event.MAV_TYPE_FIXED_WING,
        event.MAV_TYPE_VTOL_DUOROTOR,
        event.MAV_TYPE_VTOL_QUADROTOR,
        event.MAV_TYPE_VTOL_TILTROTOR,
    }
)
ROVER_TYPES = frozenset({event.MAV_TYPE_GROUND_ROVER, event.MAV_TYPE_SURFACE_BOAT})
SUB_TYPES = frozenset({event.MAV_TYPE_SUBMARINE})


class VehicleKind(Enum):
    """The kinds of vehicle the fleet flies, each with its own way to start a mission."""

    COPTER = "copter"
    PLANE = "plane"
    ROVER = "rover"


_KINDS = (
    (COPTER_TYPES, VehicleKind.COPTER),
    (PLANE_TYPES, VehicleKind.PLANE),
    (ROVER_TYPES, VehicleKind.ROVER),
)


def kind_of(mav_type: int | None) -> VehicleKind | None:
    """The kind a HEARTBEAT.type names; None for any other vehicle, or none heard yet."""
    for types, kind in _KINDS:
        if mav_type in types:
            return kind
    return None


def _table(enum_name: str) -> dict[int, str]:
    prefix = enum_name + "_"
    return {
        number: entry.name.removeprefix(prefix)
        for number, entry in event.enums[enum_name].items()
        if not entry.name.endswith("_ENUM_END")
    }


_TABLES: tuple[tuple[frozenset[int], dict[int, str]], ...] = (
    (COPTER_TYPES, _table("COPTER_MODE")),
    (PLANE_TYPES, _table("PLANE_MODE")),
    (ROVER_TYPES, _table("ROVER_MODE")),
    (SUB_TYPES, _table("SUB_MODE")),
)


def is_copter(mav_type: int) -> bool:
    """True for the multirotor and helicopter frames ArduCopter flies."""
    return mav_type in COPTER_TYPES


def modes_of(mav_type: int) -> dict[int, str]:
    """Mode number -> name for this vehicle kind (empty if ArduPilot has no such kind)."""
    for types, table in _TABLES:
        if mav_type in types:
            return table
    return {}


def mode_name(mav_type: int, custom_mode: int) -> str:
    """`GUIDED` for Copter's 4, ...; `MODE_<n>` when the number is not in the table."""
    return modes_of(mav_type).get(custom_mode, f"MODE_{custom_mode}")


def telemetry_mode_name(vehicle_type: int, custom_mode: int) -> str:
    """The mode an EVENT_TELEMETRY names: by its vehicle_type, or by ArduCopter's table when
    the sender did not say (0, MAV_TYPE_GENERIC: also every sender from before the field)."""
    kind = event.MAV_TYPE_QUADROTOR if vehicle_type == event.MAV_TYPE_GENERIC else vehicle_type
    return mode_name(kind, custom_mode)


def mode_number(mav_type: int, name: str) -> int | None:
    """The custom_mode of a mode name on this vehicle kind, or None if it has no such mode."""
    for number, known in modes_of(mav_type).items():
        if known == name:
            return number
    return None
