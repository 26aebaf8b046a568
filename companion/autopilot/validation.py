"""EVENT command messages checked, and turned into what the autopilot adapter takes.

Everything here comes off the radio: it is checked field by field and refused with
INVALID and a reason (never an exception) before anything reaches the autopilot.

Rules:
- A mission is 1 to `MAX_MISSION_ITEMS` items. The EVENT_MISSION_ITEMS of the bundle
  must carry the same mission_id and cover items 0..item_count-1 exactly once, 1-16 per
  message.
- Coordinates are degE7 within +-90 / +-180 degrees; an item that flies somewhere
  (waypoint, loiter, land) at 0/0 is refused: that is an unset position, not a place.
  Waypoints, loiters and takeoffs must be above home (alt > 0).
- Item kinds map to MAV_CMD as EVENT_ITEM says. A cruise speed becomes a
  MAV_CMD_DO_CHANGE_SPEED item before the first EVENT item, so EVENT item i is autopilot
  item i + `MissionPlan.offset` (1 for home, +1 for the speed item).
- Flags: START switches to AUTO once the upload is verified; TAKEOFF (with START only)
  arms and takes off first, to the altitude of the mission's first TAKEOFF item, or of
  its first item if it has none.
- A REPOSITION holds at the target until told otherwise; a loiter_time other than 0
  (hold, then what?) is answered UNSUPPORTED rather than silently ignored.
- Parameter names are ArduPilot's: 1-16 of A-Z, 0-9 and _.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dialects import event

from .adapter import AbortAction
from .mission_protocol import MissionItem
from .parameters import value_problem
from .result import Result, invalid
from .vehicle_state import text_of

MAX_MISSION_ITEMS = 200
"""Largest mission accepted: 13 EVENT_MISSION_ITEMS messages, about 10 radio frames once
sealed and fragmented (a third of a second of airtime at 64 kbit/s). ArduPilot boards
store 700 or more 15-byte items, so the radio, not the autopilot, sets the limit."""
ITEMS_PER_MESSAGE = 16
E7 = 10_000_000
KNOWN_FLAGS = event.EVENT_MISSION_FLAGS_START | event.EVENT_MISSION_FLAGS_TAKEOFF
PARAM_NAME = re.compile(r"[A-Z0-9_]{1,16}")

_FLIES_TO_POSITION = frozenset(
    {event.EVENT_ITEM_WAYPOINT, event.EVENT_ITEM_LOITER_TIME, event.EVENT_ITEM_LAND}
)
_ABOVE_HOME = frozenset(
    {event.EVENT_ITEM_WAYPOINT, event.EVENT_ITEM_LOITER_TIME, event.EVENT_ITEM_TAKEOFF}
)

_ITEM_COMMANDS = {
    event.EVENT_ITEM_WAYPOINT: event.MAV_CMD_NAV_WAYPOINT,
    event.EVENT_ITEM_TAKEOFF: event.MAV_CMD_NAV_TAKEOFF,
    event.EVENT_ITEM_LOITER_TIME: event.MAV_CMD_NAV_LOITER_TIME,
    event.EVENT_ITEM_LAND: event.MAV_CMD_NAV_LAND,
    event.EVENT_ITEM_RTL: event.MAV_CMD_NAV_RETURN_TO_LAUNCH,
}


@dataclass(frozen=True, slots=True)
class EventItem:
    """One item of an EVENT mission, as it came off the radio."""

    lat: int
    lon: int
    alt_dm: int
    kind: int
    param: int


@dataclass(frozen=True, slots=True)
class MissionPlan:
    """A checked mission assignment, ready for `AutopilotAdapter.assign_mission`."""

    mission_id: int
    items: tuple[MissionItem, ...]
    """Autopilot items, without home."""
    start: bool
    takeoff_alt: float | None
    offset: int
    """Autopilot seq of EVENT item 0."""
    event_items: int


def position_problem(lat: int, lon: int) -> str | None:
    if not -90 * E7 <= lat <= 90 * E7:
        return f"latitude {lat} out of range"
    if not -180 * E7 <= lon <= 180 * E7:
        return f"longitude {lon} out of range"
    return None


def mission_plan(
    messages: Sequence[Any], max_items: int = MAX_MISSION_ITEMS
) -> MissionPlan | Result:
    """Check an EVENT_MISSION_ASSIGN bundle; the plan, or an INVALID result."""
    assign = messages[0]
    count = assign.item_count
    problem = header_problem(assign, max_items)
    if problem is not None:
        return invalid(problem)
    items = collect_items(assign.mission_id, count, messages[1:])
    if isinstance(items, Result):
        return items
    for index, item in enumerate(items):
        problem = item_problem(item)
        if problem is not None:
            return invalid(f"item {index}: {problem}")
    converted = [to_mission_item(item) for item in items]
    if assign.speed:
        converted.insert(0, change_speed(assign.speed / 10))
    start = bool(assign.flags & event.EVENT_MISSION_FLAGS_START)
    takeoff = bool(assign.flags & event.EVENT_MISSION_FLAGS_TAKEOFF)
    return MissionPlan(
        mission_id=assign.mission_id,
        items=tuple(converted),
        start=start,
        takeoff_alt=takeoff_altitude(items) if takeoff else None,
        offset=2 if assign.speed else 1,
        event_items=count,
    )


def header_problem(assign: Any, max_items: int) -> str | None:
    if assign.item_count == 0:
        return "empty mission"
    if assign.item_count > max_items:
        return f"{assign.item_count} items: more than {max_items}"
    if assign.flags & ~KNOWN_FLAGS:
        return f"unknown mission flags {assign.flags:#x}"
    if assign.flags & event.EVENT_MISSION_FLAGS_TAKEOFF and not (
        assign.flags & event.EVENT_MISSION_FLAGS_START
    ):
        return "TAKEOFF flag needs START"
    return None


def collect_items(mission_id: int, count: int, parts: Sequence[Any]) -> list[EventItem] | Result:
    """The items of a bundle in order, if its EVENT_MISSION_ITEMS cover 0..count-1 once."""
    found: dict[int, EventItem] = {}
    for part in parts:
        if part.get_msgId() != event.MAVLINK_MSG_ID_EVENT_MISSION_ITEMS:
            return invalid(f"unexpected {part.get_type()} in mission bundle")
        if part.mission_id != mission_id:
            return invalid(f"items of mission {part.mission_id}, not {mission_id}")
        if not 1 <= part.count <= ITEMS_PER_MESSAGE:
            return invalid(f"EVENT_MISSION_ITEMS count {part.count}")
        for slot in range(part.count):
            index = part.start_index + slot
            if index >= count or index in found:
                return invalid("items disagree with item_count")
            found[index] = EventItem(
                part.lat[slot], part.lon[slot], part.alt[slot], part.command[slot], part.param[slot]
            )
    if len(found) != count:
        return invalid(f"{len(found)} items for item_count {count}")
    return [found[index] for index in range(count)]


def item_problem(item: EventItem) -> str | None:
    if item.kind not in _ITEM_COMMANDS:
        return f"unknown item kind {item.kind}"
    problem = position_problem(item.lat, item.lon)
    if problem is not None:
        return problem
    if item.kind in _FLIES_TO_POSITION and item.lat == 0 and item.lon == 0:
        return "no position (0, 0)"
    if item.kind in _ABOVE_HOME and item.alt_dm <= 0:
        return "altitude must be above home"
    return None


def to_mission_item(item: EventItem) -> MissionItem:
    """The MAV_CMD item for an EVENT item (param: acceptance radius or loiter seconds)."""
    command = _ITEM_COMMANDS[item.kind]
    if item.kind == event.EVENT_ITEM_RTL:
        return MissionItem(command=command)
    param1 = float(item.param) if item.kind == event.EVENT_ITEM_LOITER_TIME else 0.0
    param2 = float(item.param) if item.kind == event.EVENT_ITEM_WAYPOINT else 0.0
    return MissionItem(
        command=command,
        x=item.lat,
        y=item.lon,
        z=item.alt_dm / 10,
        param1=param1,
        param2=param2,
    )


def change_speed(metres_per_second: float) -> MissionItem:
    """MAV_CMD_DO_CHANGE_SPEED: ground speed (type 1), throttle unchanged (-1)."""
    return MissionItem(
        command=event.MAV_CMD_DO_CHANGE_SPEED,
        frame=event.MAV_FRAME_MISSION,
        param1=1,
        param2=metres_per_second,
        param3=-1,
    )


def takeoff_altitude(items: Sequence[EventItem]) -> float:
    for item in items:
        if item.kind == event.EVENT_ITEM_TAKEOFF:
            return item.alt_dm / 10
    return items[0].alt_dm / 10


def abort_action(message: Any) -> AbortAction | Result:
    try:
        return AbortAction(message.action)
    except ValueError:
        return invalid(f"unknown abort action {message.action}")


def reposition_target(message: Any) -> tuple[float, float, float] | Result:
    """Degrees, degrees, metres above home, from an EVENT_RETASK REPOSITION."""
    problem = position_problem(message.lat, message.lon)
    if problem is not None:
        return invalid(problem)
    if message.lat == 0 and message.lon == 0:
        return invalid("no position (0, 0)")
    if message.alt <= 0:
        return invalid("altitude must be above home")
    if message.loiter_time:
        return Result(event.EVENT_OUTCOME_UNSUPPORTED, "loiter_time: only 0 (hold) supported")
    return message.lat / E7, message.lon / E7, message.alt / 10


def param_update(message: Any) -> tuple[str, float, int] | Result:
    """Name, value and type of an EVENT_PARAM_UPDATE, checked."""
    name = text_of(message.param_id)
    if not PARAM_NAME.fullmatch(name):
        return invalid(f"bad parameter name {name[:20]!r}")
    problem = value_problem(message.value, message.param_type)
    if problem is not None:
        return invalid(problem)
    return name, float(message.value), message.param_type
