"""EVENT command messages as the agent receives them, for the executor tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dialects import event

HOME_LAT = -353632610
HOME_LON = 1491652300


def route(count: int, *, alt_dm: int = 200) -> list[tuple[int, int, int, int, int]]:
    """`count` waypoints (lat, lon, alt dm, EVENT_ITEM, param) on a zig-zag near home."""
    return [
        (
            HOME_LAT + 900 * (n + 1),
            HOME_LON + (600 if n % 2 else -600) + 300 * n,
            alt_dm,
            event.EVENT_ITEM_WAYPOINT,
            2,
        )
        for n in range(count)
    ]


def assign(
    items: Sequence[tuple[int, int, int, int, int]],
    *,
    seq: int = 1,
    mission_id: int = 7,
    flags: int = event.EVENT_MISSION_FLAGS_START | event.EVENT_MISSION_FLAGS_TAKEOFF,
    speed: int = 0,
    item_count: int | None = None,
) -> list[Any]:
    """An EVENT_MISSION_ASSIGN bundle: the header and EVENT_MISSION_ITEMS of 16."""
    count = len(items) if item_count is None else item_count
    bundle: list[Any] = [
        event.MAVLink_event_mission_assign_message(seq, mission_id, count, flags, speed, 0)
    ]
    for start in range(0, len(items), 16):
        bundle.append(items_message(mission_id, start, items[start : start + 16]))
    return bundle


def items_message(
    mission_id: int, start: int, chunk: Sequence[tuple[int, int, int, int, int]]
) -> Any:
    padding = 16 - len(chunk)
    columns = list(zip(*chunk, strict=True))
    return event.MAVLink_event_mission_items_message(
        mission_id,
        start,
        len(chunk),
        [*columns[0], *[0] * padding],
        [*columns[1], *[0] * padding],
        [*columns[2], *[0] * padding],
        [*columns[3], *[0] * padding],
        [*columns[4], *[0] * padding],
    )


def abort(action: int, *, seq: int = 2, mission_id: int = 0) -> list[Any]:
    return [event.MAVLink_event_mission_abort_message(seq, mission_id, action, 0)]


def reposition(lat: int, lon: int, alt_dm: int, *, seq: int = 3, loiter_time: int = 0) -> list[Any]:
    return [
        event.MAVLink_event_retask_message(
            seq, lat, lon, alt_dm, 0, 0, loiter_time, event.EVENT_RETASK_MODE_REPOSITION, 0
        )
    ]


def jump(item: int, *, seq: int = 4) -> list[Any]:
    return [
        event.MAVLink_event_retask_message(
            seq, 0, 0, 0, item, 0, 0, event.EVENT_RETASK_MODE_JUMP, 0
        )
    ]


def param_update(name: bytes, value: float, param_type: int, *, seq: int = 5) -> list[Any]:
    return [event.MAVLink_event_param_update_message(seq, value, param_type, name, 0)]
