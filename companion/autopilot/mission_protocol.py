"""The MAVLink mission protocol, sans-IO: upload and download state machines.

https://mavlink.io/en/services/mission.html, as ArduPilot implements it
(libraries/GCS_MAVLink/MissionItemProtocol.cpp):

Upload (we are the client): MISSION_COUNT, then the autopilot asks for each item with
MISSION_REQUEST_INT (ArduPilot also uses the older MISSION_REQUEST), we answer with
MISSION_ITEM_INT, and it ends with MISSION_ACK.
- Any request for an item in range is answered, again if it is a duplicate, and out of
  order if asked: the autopilot re-requests what it did not get. Each valid request
  resets the retry count. Items always go as MISSION_ITEM_INT, even to a MISSION_REQUEST:
  its float latitude would lose up to a metre, and ArduPilot accepts both.
- No request or ACK within the response timeout: resend what we sent last (MISSION_COUNT
  or the last item); after `retries` resends, TIMEOUT. ArduPilot restarts an upload when
  the same sender sends MISSION_COUNT again, so resending the count is safe.
- MISSION_ACK ACCEPTED ends the upload once the last item has been sent (an earlier one
  is a stale ACK of another transfer and is ignored). MAV_MISSION_INVALID_SEQUENCE does
  not end it: ArduPilot sends it for a duplicate item and keeps requesting. Any other
  error ends it as AUTOPILOT_REJECTED with the MAV_MISSION_RESULT name; uploads are not
  atomic, so the autopilot may be left with a partial mission.
- Once the last item has left (`all_sent`), only reading the mission back tells whether
  it arrived: the ACCEPTED may have been lost, and an autopilot that already finished
  answers our resent last item with an error. The caller verifies in every case.
- On a reboot of the autopilot, or when it says it is not (or no longer) receiving from
  us, the upload starts over from MISSION_COUNT, at most `MAX_RESTARTS` times in all:
  MAV_MISSION_OPERATION_CANCELLED is ArduPilot giving up after 8 s without an item (a
  lossy link), MAV_MISSION_ERROR its answer to an item outside any upload (it rebooted,
  or gave up and the cancel was lost). After the last item was sent an ERROR means it
  had finished: the read-back decides (below). Cancelling sends MISSION_ACK
  OPERATION_CANCELLED, as the spec asks (ArduPilot ignores it and times the transfer out
  by itself after 8 s, or restarts it on our next MISSION_COUNT).
- Item 0 is home on ArduPilot: the caller puts a home placeholder there.

Download: MISSION_REQUEST_LIST, MISSION_COUNT, then MISSION_REQUEST_INT for each item in
turn (item timeout, retries), and a final MISSION_ACK ACCEPTED. Items that arrive out of
turn are ignored (counted).

`same_mission` compares what was uploaded with what was read back, skipping item 0
(ArduPilot reports its own home there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dialects import event

from .operation import Operation, Target, Timing
from .result import completed, failed, mission_result_name, rejected, timed_out

MAX_RESTARTS = 3
"""Times an upload starts over (autopilot rebooted or lost the transfer), before giving up."""

TRANSFER_LOST = frozenset({event.MAV_MISSION_OPERATION_CANCELLED, event.MAV_MISSION_ERROR})
"""MISSION_ACK results that mean the autopilot is not receiving our upload (any more)."""

ALT_TOLERANCE = 0.01
"""Metres: ArduPilot stores mission altitudes in whole centimetres."""
PARAM_TOLERANCE = 1e-3

KEPT_PARAMS: dict[int, tuple[int, ...]] = {
    event.MAV_CMD_NAV_WAYPOINT: (0,),
    event.MAV_CMD_NAV_TAKEOFF: (),
    event.MAV_CMD_NAV_LOITER_TIME: (0,),
    event.MAV_CMD_NAV_LAND: (),
    event.MAV_CMD_NAV_RETURN_TO_LAUNCH: (),
    event.MAV_CMD_DO_CHANGE_SPEED: (0, 1),
}
"""Parameters (0-based) ArduCopter stores and reports back, per command we upload."""
STORED_IN_LOCATION = frozenset(
    {
        event.MAV_CMD_NAV_WAYPOINT,
        event.MAV_CMD_NAV_LOITER_UNLIM,
        event.MAV_CMD_NAV_LOITER_TIME,
        event.MAV_CMD_NAV_LAND,
        event.MAV_CMD_NAV_TAKEOFF,
    }
)
"""Commands we upload that ArduPilot keeps a location for (`AP_Mission::stored_in_location`):
the others (RTL, DO items) read back with frame GLOBAL and no position, whatever was sent."""

_INT_FRAMES = {
    event.MAV_FRAME_GLOBAL_INT: event.MAV_FRAME_GLOBAL,
    event.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT: event.MAV_FRAME_GLOBAL_RELATIVE_ALT,
    event.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT: event.MAV_FRAME_GLOBAL_TERRAIN_ALT,
}


@dataclass(frozen=True, slots=True)
class MissionItem:
    """One mission item as MISSION_ITEM_INT carries it (without target and seq)."""

    command: int
    """MAV_CMD."""
    frame: int = event.MAV_FRAME_GLOBAL_RELATIVE_ALT
    x: int = 0
    """Latitude, degE7."""
    y: int = 0
    """Longitude, degE7."""
    z: float = 0.0
    """Altitude, metres (relative to home in MAV_FRAME_GLOBAL_RELATIVE_ALT)."""
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    autocontinue: int = 1

    def to_message(self, target: Target, seq: int) -> Any:
        return event.MAVLink_mission_item_int_message(
            target.system,
            target.component,
            seq,
            self.frame,
            self.command,
            0,
            self.autocontinue,
            self.param1,
            self.param2,
            self.param3,
            self.param4,
            self.x,
            self.y,
            self.z,
            event.MAV_MISSION_TYPE_MISSION,
        )

    @classmethod
    def from_message(cls, message: Any) -> MissionItem:
        """From MISSION_ITEM_INT, or MISSION_ITEM (float degrees, converted to degE7)."""
        if message.get_msgId() == event.MAVLINK_MSG_ID_MISSION_ITEM:
            x, y = round(message.x * 1e7), round(message.y * 1e7)
        else:
            x, y = message.x, message.y
        return cls(
            command=message.command,
            frame=message.frame,
            x=x,
            y=y,
            z=message.z,
            param1=message.param1,
            param2=message.param2,
            param3=message.param3,
            param4=message.param4,
            autocontinue=message.autocontinue,
        )

    def matches(self, stored: MissionItem) -> bool:
        """True if the autopilot's copy `stored` is this item as ArduPilot keeps it.

        ArduPilot packs items into 15 bytes (AP_Mission::mavlink_int_to_mission_cmd) and
        reports them back from that: the command always; latitude, longitude and
        altitude (whole cm) and a plain frame (no _INT variant) only for commands it
        keeps a location for (`STORED_IN_LOCATION`: not RTL);
        and only the parameters it stores for the command (`KEPT_PARAMS`; Copter keeps
        no acceptance radius, for one).
        """
        if self.command != stored.command:
            return False
        kept = KEPT_PARAMS.get(self.command, (0, 1, 2, 3))
        if not all(
            math.isclose(self.params[i], stored.params[i], abs_tol=PARAM_TOLERANCE) for i in kept
        ):
            return False
        if self.command not in STORED_IN_LOCATION:
            return True
        return (
            _plain_frame(self.frame) == _plain_frame(stored.frame)
            and (self.x, self.y) == (stored.x, stored.y)
            and math.isclose(self.z, stored.z, abs_tol=ALT_TOLERANCE)
        )

    @property
    def params(self) -> tuple[float, float, float, float]:
        return (self.param1, self.param2, self.param3, self.param4)


def _plain_frame(frame: int) -> int:
    return int(_INT_FRAMES.get(frame, frame))


def first_difference(sent: Sequence[MissionItem], stored: Sequence[MissionItem]) -> str | None:
    """None if `stored` (read back) holds `sent`, item 0 (home) aside; else what differs."""
    if len(sent) != len(stored):
        return f"read back {len(stored)} items, sent {len(sent)}"
    for seq in range(1, len(sent)):
        if not sent[seq].matches(stored[seq]):
            return f"read back differs at item {seq}"
    return None


_REQUESTS = frozenset(
    {event.MAVLINK_MSG_ID_MISSION_REQUEST_INT, event.MAVLINK_MSG_ID_MISSION_REQUEST}
)


class MissionUpload(Operation):
    """Upload `items` (item 0 is the home placeholder) to the autopilot."""

    label = "mission upload"

    def __init__(self, target: Target, timing: Timing, items: Sequence[MissionItem]) -> None:
        super().__init__(target, timing)
        if not items:
            raise ValueError("a mission upload needs at least the home item")
        self.items = list(items)
        self.restarts = 0
        self.duplicate_requests = 0
        self.ignored = 0
        """Requests out of range and stale ACKs."""
        self._last_sent: Any = None
        self._sent: set[int] = set()
        self.all_sent = False
        """The last item was sent at least once: the autopilot may hold the whole mission."""

    def start(self, now: float) -> list[Any]:
        self._sent.clear()
        self.all_sent = False
        count = event.MAVLink_mission_count_message(
            self.target.system,
            self.target.component,
            len(self.items),
            event.MAV_MISSION_TYPE_MISSION,
        )
        return self._send(count, now)

    def receive(self, message: Any, now: float) -> list[Any]:
        if self.done:
            return []
        msgid = message.get_msgId()
        if msgid in _REQUESTS and _is_mission(message):
            return self._on_request(message.seq, now)
        if msgid == event.MAVLINK_MSG_ID_MISSION_ACK and _is_mission(message):
            return self._on_ack(message.type, now)
        return []

    def on_timer(self, now: float) -> list[Any]:
        if not self.timer_due(now):
            return []
        waiting = "MISSION_COUNT answer" if not self._sent else "next request"
        return self.resend_or_fail(
            now,
            self.timing.response_timeout,
            lambda: self._last_sent,
            timed_out(f"mission upload: no {waiting}"),
        )

    def on_reboot(self, now: float) -> list[Any]:
        if self.done:
            return []
        if self.restarts >= MAX_RESTARTS:
            self.finish(failed("mission upload: autopilot kept rebooting"))
            return []
        self.restarts += 1
        return self.start(now)

    def cancel(self, now: float) -> list[Any]:
        if self.done:
            return []
        self.finish(failed("mission upload: cancelled"))
        return [self._ack(event.MAV_MISSION_OPERATION_CANCELLED)]

    def _on_request(self, seq: int, now: float) -> list[Any]:
        if not 0 <= seq < len(self.items):
            self.ignored += 1
            return []
        if seq in self._sent:
            self.duplicate_requests += 1
        if seq == len(self.items) - 1:
            self.all_sent = True
        self._sent.add(seq)
        return self._send(self.items[seq].to_message(self.target, seq), now)

    def _on_ack(self, result: int, now: float) -> list[Any]:
        if result == event.MAV_MISSION_ACCEPTED:
            if self.all_sent:
                self.finish(completed(f"{len(self.items) - 1} items uploaded"))
            else:
                self.ignored += 1
        elif result in TRANSFER_LOST and not self.all_sent and self.restarts < MAX_RESTARTS:
            self.restarts += 1
            return self.start(now)
        elif result != event.MAV_MISSION_INVALID_SEQUENCE:
            self.finish(rejected(mission_result_name(result)))
        return []

    def _send(self, message: Any, now: float) -> list[Any]:
        self._last_sent = message
        self.expect_answer(now, self.timing.response_timeout)
        return [message]

    def _ack(self, result: int) -> Any:
        return event.MAVLink_mission_ack_message(
            self.target.system, self.target.component, result, event.MAV_MISSION_TYPE_MISSION
        )


class MissionDownload(Operation):
    """Read the autopilot's mission back: `items` once `result` is COMPLETED."""

    label = "mission download"

    def __init__(self, target: Target, timing: Timing) -> None:
        super().__init__(target, timing)
        self.items: list[MissionItem] = []
        self.count: int | None = None
        self.ignored = 0
        """Items out of turn, repeated MISSION_COUNTs."""
        self._last_sent: Any = None

    def start(self, now: float) -> list[Any]:
        self.items.clear()
        self.count = None
        request = event.MAVLink_mission_request_list_message(
            self.target.system, self.target.component, event.MAV_MISSION_TYPE_MISSION
        )
        return self._send(request, now, self.timing.response_timeout)

    def receive(self, message: Any, now: float) -> list[Any]:
        if self.done:
            return []
        msgid = message.get_msgId()
        if not _is_mission(message):
            return []
        if msgid == event.MAVLINK_MSG_ID_MISSION_COUNT:
            return self._on_count(message.count, now)
        if msgid in (event.MAVLINK_MSG_ID_MISSION_ITEM_INT, event.MAVLINK_MSG_ID_MISSION_ITEM):
            return self._on_item(message, now)
        if msgid == event.MAVLINK_MSG_ID_MISSION_ACK and message.type != event.MAV_MISSION_ACCEPTED:
            self.finish(rejected(mission_result_name(message.type)))
        return []

    def on_timer(self, now: float) -> list[Any]:
        if not self.timer_due(now):
            return []
        if self.count is None:
            timeout, what = self.timing.response_timeout, "MISSION_COUNT"
        else:
            timeout, what = self.timing.item_timeout, f"item {len(self.items)}"
        return self.resend_or_fail(
            now, timeout, lambda: self._last_sent, timed_out(f"mission download: no {what}")
        )

    def on_reboot(self, now: float) -> list[Any]:
        """Start over: the list being read may not be the one the autopilot has now."""
        return [] if self.done else self.start(now)

    def _on_count(self, count: int, now: float) -> list[Any]:
        if self.count is not None:
            self.ignored += 1
            return []
        self.count = count
        return self._request_next(now)

    def _on_item(self, message: Any, now: float) -> list[Any]:
        if self.count is None or message.seq != len(self.items):
            self.ignored += 1
            return []
        self.items.append(MissionItem.from_message(message))
        return self._request_next(now)

    def _request_next(self, now: float) -> list[Any]:
        assert self.count is not None
        seq = len(self.items)
        if seq >= self.count:
            self.finish(completed(f"{self.count} items read back"))
            ack = event.MAVLink_mission_ack_message(
                self.target.system,
                self.target.component,
                event.MAV_MISSION_ACCEPTED,
                event.MAV_MISSION_TYPE_MISSION,
            )
            return [ack]
        request = event.MAVLink_mission_request_int_message(
            self.target.system, self.target.component, seq, event.MAV_MISSION_TYPE_MISSION
        )
        return self._send(request, now, self.timing.item_timeout)

    def _send(self, message: Any, now: float, timeout: float) -> list[Any]:
        self._last_sent = message
        self.expect_answer(now, timeout)
        return [message]


def _is_mission(message: Any) -> bool:
    """Mission-protocol messages about missions (not fences or rally points)."""
    return bool(getattr(message, "mission_type", 0) == event.MAV_MISSION_TYPE_MISSION)
