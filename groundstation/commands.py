"""Commands from the cloud, in JSON, and the EVENT dialect messages that carry them.

JSON form (docs/api.openapi.yaml, schema Command):
    {"command_id": str, "uav": 1-254, "type": TYPE, "params": {...}}
with params in cloud-friendly units (degrees, metres, m/s, seconds):
    mission_assign  {"mission_id": 1-65535, "items": [ITEM, ...], "start": bool = false,
                     "takeoff": bool = false, "speed": 0-25.5 m/s = 0 (autopilot default)}
        ITEM        {"command": "waypoint"|"takeoff"|"loiter_time"|"land"|"rtl" = "waypoint",
                     "lat": deg, "lon": deg, "alt": m relative to home (-3276.8-3276.7),
                     "param": 0-255 = 0 (acceptance radius m, or loiter time s)};
                    lat/lon/alt may be left out of an "rtl" item only.
    mission_abort   {"action": "rtl"|"land"|"hold", "mission_id": 0-65535 = 0 (whatever flies)}
    retask          {"mode": "reposition"|"jump" = "reposition", "lat", "lon", "alt"
                     (reposition only, required there), "item": 0-65535 (jump only,
                     required there), "loiter_time": 0-65535 s = 0, "track_id": 0-65535 = 0}
    param_update    {"name": 1-16 of [A-Za-z0-9_], "value": number,
                     "type": "uint8"|"int8"|"uint16"|"int16"|"uint32"|"int32"|"real32" = "real32"}

Rules:
- `parse_command` reads untrusted JSON and raises CommandError, and nothing else, with a
  message naming the field. Unknown keys inside `params` (or an item) are refused: a typo
  in a flight command ("altitude") must not silently become a default. Unknown keys at the
  top level are ignored: the cloud may attach its own metadata (queue time, cursor).
- A parsed Command holds its params normalised: defaults filled in, so two commands that
  mean the same compare equal and the cloud can be shown exactly what will fly.
- Missions: at most MAX_MISSION_ITEMS (255) items. The bundle (one assign and one
  EVENT_MISSION_ITEMS per 16 items) then stays within 16 messages, about 14 fragments,
  half a second of a 64 kbit/s channel; the fragment limit (255) would allow ~5000 items,
  but one lost fragment costs the whole bundle. ArduPilot stores 700+ items on most boards.
- Integer fields take any JSON number with a zero fraction (`1.0` is 1, as in JSON
  Schema) and hold it as an int.
- Integer parameters must be integral and in range for their type, and exactly
  representable in PARAM_SET's float (|value| <= 2^24 or a float32 value): a rounded
  parameter is a different parameter. 64-bit types are refused for the same reason.
- `to_messages` builds the head message with seq 0 and time 0: the node stack numbers
  and stamps it when it sends.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dialects import event

from .json_numbers import json_integer

COMMAND_TYPES = ("mission_assign", "mission_abort", "retask", "param_update")
MAX_MISSION_ITEMS = 255
ITEMS_PER_MESSAGE = 16
UAV_IDS = range(1, 255)
"""Vehicles are MAVLink system ids 1-254: 0 is broadcast, 255 the ground station."""

ITEM_KINDS = {
    "waypoint": event.EVENT_ITEM_WAYPOINT,
    "takeoff": event.EVENT_ITEM_TAKEOFF,
    "loiter_time": event.EVENT_ITEM_LOITER_TIME,
    "land": event.EVENT_ITEM_LAND,
    "rtl": event.EVENT_ITEM_RTL,
}
ABORT_ACTIONS = {
    "rtl": event.EVENT_ABORT_ACTION_RTL,
    "land": event.EVENT_ABORT_ACTION_LAND,
    "hold": event.EVENT_ABORT_ACTION_HOLD,
}
RETASK_MODES = {
    "reposition": event.EVENT_RETASK_MODE_REPOSITION,
    "jump": event.EVENT_RETASK_MODE_JUMP,
}
PARAM_TYPES: dict[str, tuple[int, float, float]] = {
    "uint8": (event.MAV_PARAM_TYPE_UINT8, 0, 2**8 - 1),
    "int8": (event.MAV_PARAM_TYPE_INT8, -(2**7), 2**7 - 1),
    "uint16": (event.MAV_PARAM_TYPE_UINT16, 0, 2**16 - 1),
    "int16": (event.MAV_PARAM_TYPE_INT16, -(2**15), 2**15 - 1),
    "uint32": (event.MAV_PARAM_TYPE_UINT32, 0, 2**32 - 1),
    "int32": (event.MAV_PARAM_TYPE_INT32, -(2**31), 2**31 - 1),
    "real32": (event.MAV_PARAM_TYPE_REAL32, -3.4028234663852886e38, 3.4028234663852886e38),
}
"""Name -> (MAV_PARAM_TYPE, lowest, highest value)."""

COMMAND_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
"""What a command_id may be: it becomes part of record ids ("cmd-{command_id}-...")."""
_PARAM_NAME = re.compile(r"[A-Za-z0-9_]{1,16}")
_ALT_M = (-3276.8, 3276.7)
"""Altitudes travel as int16 decimetres."""
_REQUIRED: Any = object()


class CommandError(ValueError):
    """A command from the cloud is malformed; the message names the field and the rule,
    `reason` the kind of refusal (command_payload.REASONS) it is counted under."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Command:
    """A command for vehicle `uav`. The constructor validates every field (CommandError)
    and normalises `params`: defaults filled in, fields the type does not use left out."""

    command_id: str
    uav: int
    type: str
    params: dict[str, Any]
    waited: float = field(default=0.0, compare=False)
    """Seconds the command had already waited (the cloud's queue) when this gateway took
    it: its age so far, carried on to the UAV (docs/protocol.md, "Time")."""

    def __post_init__(self) -> None:
        if not isinstance(self.command_id, str) or not COMMAND_ID.fullmatch(self.command_id):
            raise CommandError(
                f"command_id must match {COMMAND_ID.pattern}, got {self.command_id!r}"
            )
        uav = _int({"uav": self.uav}, "uav", UAV_IDS.start, UAV_IDS.stop - 1)
        object.__setattr__(self, "uav", uav)
        if not isinstance(self.type, str) or self.type not in _PARSERS:
            raise CommandError(f"type must be one of {', '.join(COMMAND_TYPES)}, got {self.type!r}")
        if not isinstance(self.params, Mapping):
            raise CommandError("params must be a JSON object")
        try:
            object.__setattr__(self, "params", _PARSERS[self.type](self.params))
        except CommandError as exc:
            raise CommandError(f"{self.type} params: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        """The command's JSON form (parse_command reads it back unchanged)."""
        return {
            "command_id": self.command_id,
            "uav": self.uav,
            "type": self.type,
            "params": self.params,
        }


def parse_command(obj: Any) -> Command:
    """Read a command from parsed JSON; CommandError (only) if it is not a valid one."""
    if not isinstance(obj, Mapping):
        raise CommandError(
            f"a command must be a JSON object, got {type(obj).__name__}", "not_object"
        )
    fields: dict[str, Any] = dict(obj)
    return Command(
        fields.get("command_id", ""),
        fields.get("uav", 0),
        fields.get("type", ""),
        fields.get("params", {}),
    )


# -- field readers ----------------------------------------------------------------------


def _only(obj: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(str(key) for key in obj if key not in allowed)
    if unknown:
        raise CommandError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")


def _get(obj: Mapping[str, Any], name: str, default: Any) -> Any:
    if name in obj:
        return obj[name]
    if default is _REQUIRED:
        raise CommandError(f"{name} is required")
    return default


def _int(obj: Mapping[str, Any], name: str, low: int, high: int, default: Any = _REQUIRED) -> int:
    value = _get(obj, name, default)
    integer = json_integer(value)
    if integer is None or not low <= integer <= high:
        raise CommandError(f"{name} must be an integer {low}-{high}, got {value!r}")
    return integer


def _number(
    obj: Mapping[str, Any], name: str, low: float, high: float, default: Any = _REQUIRED
) -> float:
    value = _get(obj, name, default)
    if type(value) not in (int, float) or not (math.isfinite(value) and low <= value <= high):
        raise CommandError(f"{name} must be a number {low} to {high}, got {value!r}")
    return float(value)


def _choice(obj: Mapping[str, Any], name: str, choices: Mapping[str, object], default: Any) -> str:
    value = _get(obj, name, default)
    if not isinstance(value, str) or value not in choices:
        raise CommandError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _bool(obj: Mapping[str, Any], name: str, default: bool) -> bool:
    value = _get(obj, name, default)
    if not isinstance(value, bool):
        raise CommandError(f"{name} must be true or false, got {value!r}")
    return value


def _position(obj: Mapping[str, Any], default: Any = _REQUIRED) -> dict[str, float]:
    return {
        "lat": _number(obj, "lat", -90, 90, default),
        "lon": _number(obj, "lon", -180, 180, default),
        "alt": _number(obj, "alt", *_ALT_M, default),
    }


# -- per type ---------------------------------------------------------------------------


def _mission_assign(params: Mapping[str, Any]) -> dict[str, Any]:
    _only(params, ("mission_id", "items", "start", "takeoff", "speed"))
    mission_id = _int(params, "mission_id", 1, 2**16 - 1)
    items = _get(params, "items", _REQUIRED)
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_MISSION_ITEMS:
        raise CommandError(f"items must be a list of 1-{MAX_MISSION_ITEMS} mission items")
    parsed = []
    for index, item in enumerate(items):
        try:
            parsed.append(_item(item))
        except CommandError as exc:
            raise CommandError(f"items[{index}]: {exc}") from None
    return {
        "mission_id": mission_id,
        "items": parsed,
        "start": _bool(params, "start", False),
        "takeoff": _bool(params, "takeoff", False),
        "speed": _number(params, "speed", 0, 25.5, 0),
    }


def _item(item: Any) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise CommandError("a mission item must be a JSON object")
    _only(item, ("command", "lat", "lon", "alt", "param"))
    command = _choice(item, "command", ITEM_KINDS, "waypoint")
    position = _position(item, 0 if command == "rtl" else _REQUIRED)
    return {"command": command, **position, "param": _int(item, "param", 0, 255, 0)}


def _mission_abort(params: Mapping[str, Any]) -> dict[str, Any]:
    _only(params, ("mission_id", "action"))
    return {
        "mission_id": _int(params, "mission_id", 0, 2**16 - 1, 0),
        "action": _choice(params, "action", ABORT_ACTIONS, _REQUIRED),
    }


def _retask(params: Mapping[str, Any]) -> dict[str, Any]:
    _only(params, ("mode", "lat", "lon", "alt", "item", "loiter_time", "track_id"))
    mode = _choice(params, "mode", RETASK_MODES, "reposition")
    if mode == "reposition":
        if "item" in params:
            raise CommandError("item belongs to mode jump, not reposition")
        target: dict[str, Any] = _position(params)
    else:
        if any(name in params for name in ("lat", "lon", "alt")):
            raise CommandError("lat, lon and alt belong to mode reposition, not jump")
        target = {"item": _int(params, "item", 0, 2**16 - 1)}
    return {
        "mode": mode,
        **target,
        "loiter_time": _int(params, "loiter_time", 0, 2**16 - 1, 0),
        "track_id": _int(params, "track_id", 0, 2**16 - 1, 0),
    }


def _param_update(params: Mapping[str, Any]) -> dict[str, Any]:
    _only(params, ("name", "value", "type"))
    name = _get(params, "name", _REQUIRED)
    if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
        raise CommandError(f"name must be 1-16 of [A-Za-z0-9_], got {name!r}")
    kind = _choice(params, "type", PARAM_TYPES, "real32")
    _, low, high = PARAM_TYPES[kind]
    value = _number(params, "value", low, high)
    if kind != "real32" and (value != int(value) or _as_float32(value) != value):
        raise CommandError(f"value {value!r} is not an integer PARAM_SET's float carries exactly")
    return {"name": name, "value": int(value) if kind != "real32" else value, "type": kind}


def _as_float32(value: float) -> float:
    packed: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return packed


_PARSERS = {
    "mission_assign": _mission_assign,
    "mission_abort": _mission_abort,
    "retask": _retask,
    "param_update": _param_update,
}


# -- to dialect messages ----------------------------------------------------------------


def _deg_e7(degrees: float) -> int:
    return round(degrees * 1e7)


def _dm(metres: float) -> int:
    return round(metres * 10)


def to_messages(command: Command) -> tuple[Any, tuple[Any, ...]]:
    """The head message (seq 0, time 0) and the messages attached to its bundle."""
    return _BUILDERS[command.type](command.params)


def _abort_messages(p: Mapping[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    action = ABORT_ACTIONS[p["action"]]
    return event.MAVLink_event_mission_abort_message(0, p["mission_id"], action, 0), ()


def _retask_messages(p: Mapping[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    head = event.MAVLink_event_retask_message(
        0,
        _deg_e7(p.get("lat", 0.0)),
        _deg_e7(p.get("lon", 0.0)),
        _dm(p.get("alt", 0.0)),
        p.get("item", 0),
        p["track_id"],
        p["loiter_time"],
        RETASK_MODES[p["mode"]],
        0,
    )
    return head, ()


def _param_messages(p: Mapping[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    param_type = PARAM_TYPES[p["type"]][0]
    name = p["name"].encode("ascii")
    return event.MAVLink_event_param_update_message(0, float(p["value"]), param_type, name, 0), ()


def _assign_messages(p: Mapping[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    items = p["items"]
    flags = (event.EVENT_MISSION_FLAGS_START if p["start"] else 0) | (
        event.EVENT_MISSION_FLAGS_TAKEOFF if p["takeoff"] else 0
    )
    head = event.MAVLink_event_mission_assign_message(
        0, p["mission_id"], len(items), flags, round(p["speed"] * 10), 0
    )
    attached = []
    for start in range(0, len(items), ITEMS_PER_MESSAGE):
        chunk = items[start : start + ITEMS_PER_MESSAGE]
        pad = [0] * (ITEMS_PER_MESSAGE - len(chunk))
        attached.append(
            event.MAVLink_event_mission_items_message(
                p["mission_id"],
                start,
                len(chunk),
                [_deg_e7(i["lat"]) for i in chunk] + pad,
                [_deg_e7(i["lon"]) for i in chunk] + pad,
                [_dm(i["alt"]) for i in chunk] + pad,
                [ITEM_KINDS[i["command"]] for i in chunk] + pad,
                [i["param"] for i in chunk] + pad,
            )
        )
    return head, tuple(attached)


_BUILDERS = {
    "mission_assign": _assign_messages,
    "mission_abort": _abort_messages,
    "retask": _retask_messages,
    "param_update": _param_messages,
}
