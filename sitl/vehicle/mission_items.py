"""Mission items as ArduPilot stores them: which commands it takes, how it refuses the rest.

Rules of this module:

* An item is kept in ArduPilot's normalised form (`AP_Mission::mission_cmd_to_mavlink_int`
  on download): frames without `_INT`, altitude truncated to centimetres, only the
  parameters ArduPilot keeps for the command, the rest zero.
* A received item is either normalised or refused with the MAV_MISSION_RESULT ArduPilot
  gives, in ArduPilot's order of checks (`AP_Mission::mavlink_int_to_mission_cmd`):
  infinite (or NaN, where NaN has no meaning) parameters, unknown or unsupported
  commands, then coordinates, altitude and frame for commands that carry a location.
* Only the commands the double executes (`MISSION_COMMANDS`) are stored; any other is
  refused MAV_MISSION_UNSUPPORTED, although ArduCopter takes many of them
  (docs/vehicle_double.md lists where the double differs).
* Item 0 is home (`home_item`), whatever was uploaded as item 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dialects import event

from .params import f32

LOCATION_ALT_MAX_M = 83000.0
"""ArduPilot refuses mission altitudes beyond this (`AP_Mission`)."""

# Mission item commands the double executes; others are NACKed MAV_MISSION_UNSUPPORTED.
NAV_WAYPOINT = event.MAV_CMD_NAV_WAYPOINT
NAV_LOITER_UNLIM = event.MAV_CMD_NAV_LOITER_UNLIM
NAV_LOITER_TIME = event.MAV_CMD_NAV_LOITER_TIME
NAV_RETURN_TO_LAUNCH = event.MAV_CMD_NAV_RETURN_TO_LAUNCH
NAV_LAND = event.MAV_CMD_NAV_LAND
NAV_TAKEOFF = event.MAV_CMD_NAV_TAKEOFF
DO_CHANGE_SPEED = event.MAV_CMD_DO_CHANGE_SPEED
LOCATION_COMMANDS = frozenset(
    {NAV_WAYPOINT, NAV_LOITER_UNLIM, NAV_LOITER_TIME, NAV_LAND, NAV_TAKEOFF}
)
"""Commands ArduPilot keeps a location for (`AP_Mission::stored_in_location`): not RTL,
which is stored and read back (seen in SITL 4.7) with frame GLOBAL and no position."""
MISSION_COMMANDS = LOCATION_COMMANDS | {NAV_RETURN_TO_LAUNCH, DO_CHANGE_SPEED}
NAN_PARAM4_OK = frozenset({NAV_WAYPOINT, NAV_LAND, NAV_TAKEOFF})
MISSION_TEXT = {
    NAV_WAYPOINT: "WP",
    NAV_LOITER_UNLIM: "LoitUnlim",
    NAV_LOITER_TIME: "LoitTime",
    NAV_RETURN_TO_LAUNCH: "RTL",
    NAV_LAND: "Land",
    NAV_TAKEOFF: "Takeoff",
    DO_CHANGE_SPEED: "ChangeSpeed",
}
"""`AP_Mission::Mission_Command::type()` names, used in "Mission: N WP" STATUSTEXTs."""

ABSOLUTE_FRAMES = frozenset({event.MAV_FRAME_GLOBAL, event.MAV_FRAME_GLOBAL_INT})
RELATIVE_FRAMES = frozenset(
    {event.MAV_FRAME_GLOBAL_RELATIVE_ALT, event.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT}
)
MISSION_FRAMES = ABSOLUTE_FRAMES | RELATIVE_FRAMES | {event.MAV_FRAME_MISSION}


@dataclass(frozen=True, slots=True)
class MissionItem:
    """One stored mission item, in MISSION_ITEM_INT terms (x, y: degrees * 1e7; z: metres)."""

    seq: int
    frame: int
    command: int
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0
    y: int = 0
    z: float = 0.0
    current: int = 0
    autocontinue: int = 1

    def head(self) -> tuple[int, int, int, int, int, float, float, float, float]:
        """The fields MISSION_ITEM and MISSION_ITEM_INT share, in their order, up to x."""
        return (
            self.seq,
            self.frame,
            self.command,
            self.current,
            self.autocontinue,
            self.param1,
            self.param2,
            self.param3,
            self.param4,
        )

    @property
    def relative_alt(self) -> bool:
        return bool(self.frame == event.MAV_FRAME_GLOBAL_RELATIVE_ALT)


def home_item(home: tuple[float, float, float]) -> MissionItem:
    """Item 0: home (degrees, degrees, metres AMSL) as a download returns it."""
    lat, lon, alt = home
    return MissionItem(
        0,
        event.MAV_FRAME_GLOBAL,
        NAV_WAYPOINT,
        x=round(lat * 1e7),
        y=round(lon * 1e7),
        z=f32(int(alt * 100) * f32(0.01)),
    )


class ItemInt:
    """A MISSION_ITEM seen as MISSION_ITEM_INT (`convert_MISSION_ITEM_to_MISSION_ITEM_INT`)."""

    def __init__(self, m: Any) -> None:
        self.seq, self.frame, self.command = m.seq, m.frame, m.command
        self.param1, self.param2, self.param3, self.param4 = m.param1, m.param2, m.param3, m.param4
        self.x, self.y, self.z = round(m.x * 1e7), round(m.y * 1e7), m.z


def normalise_item(m: Any) -> MissionItem | int:
    """A received MISSION_ITEM_INT as ArduPilot stores it, or the MAV_MISSION_RESULT that
    refuses it (`AP_Mission::mavlink_int_to_mission_cmd`)."""
    params = (float(m.param1), float(m.param2), float(m.param3), float(m.param4))
    refusal = _refusal(m, params)
    if refusal is not None:
        return refusal
    kept = _kept_params(m.command, params)
    if m.command not in LOCATION_COMMANDS:
        return MissionItem(m.seq, event.MAV_FRAME_GLOBAL, m.command, *kept)
    relative = m.frame in RELATIVE_FRAMES
    frame = event.MAV_FRAME_GLOBAL_RELATIVE_ALT if relative else event.MAV_FRAME_GLOBAL
    # AP stores the altitude as int32 centimetres: packet.z * 100.0f, truncated.
    z = f32(int(f32(f32(m.z) * 100.0)) * f32(0.01))
    return MissionItem(m.seq, frame, m.command, *kept, x=m.x, y=m.y, z=z)


Params = tuple[float, float, float, float]


def _u16(value: float) -> int:
    return min(65535, max(0, int(value)))


def _kept_params(command: int, p: Params) -> Params:
    """The parameters ArduCopter stores for `command`, as it returns them on download."""
    if command in (NAV_WAYPOINT, NAV_TAKEOFF):
        kept: tuple[float, float, float, float] = (_u16(p[0]), 0, 0, 0)
    elif command == NAV_LOITER_UNLIM:
        kept = (0, 0, math.copysign(_u16(abs(p[2])), p[2]), 0)
    elif command == NAV_LOITER_TIME:
        kept = (_u16(p[0]), 0, -1 if p[2] < 0 else 1, 1 if p[3] > 0 else 0)
    elif command == NAV_LAND:
        kept = (_u16(p[0]), 0, 0, -1 if p[3] < 0 else 1)
    elif command == DO_CHANGE_SPEED:
        kept = (min(255, max(0, int(p[0]))), f32(p[1]), min(127, max(-128, int(p[2]))), 0)
    else:
        kept = (0, 0, 0, 0)
    return (float(kept[0]), float(kept[1]), float(kept[2]), float(kept[3]))


def _refusal(m: Any, params: Params) -> int | None:
    """The MAV_MISSION_RESULT that refuses item `m`, in ArduPilot's order of checks."""
    for index, value in enumerate(params):
        nan_allowed = index == 3 and m.command in NAN_PARAM4_OK
        if math.isinf(value) or (math.isnan(value) and not nan_allowed):
            return int(event.MAV_MISSION_INVALID_PARAM1 + index)
    checks: tuple[tuple[bool, int], ...] = (
        (m.command in (0, 1), event.MAV_MISSION_INVALID),
        (m.command not in MISSION_COMMANDS, event.MAV_MISSION_UNSUPPORTED),
    )
    if m.command in LOCATION_COMMANDS:
        checks += (
            (abs(m.x) > 900_000_000, event.MAV_MISSION_INVALID_PARAM5_X),
            (abs(m.y) > 1_800_000_000, event.MAV_MISSION_INVALID_PARAM6_Y),
            (math.isnan(m.z) or abs(m.z) >= LOCATION_ALT_MAX_M, event.MAV_MISSION_INVALID_PARAM7),
            (m.frame not in MISSION_FRAMES, event.MAV_MISSION_UNSUPPORTED_FRAME),
        )
    return next((int(code) for failed, code in checks if failed), None)
