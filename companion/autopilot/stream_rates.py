"""Asking the flight controller for the messages the companion needs, at the rates it needs.

Rules:
- MAV_CMD_SET_MESSAGE_INTERVAL, one message id at a time, each confirmed by its
  COMMAND_ACK (https://mavlink.io/en/services/telemetry.html... "Message Interval").
- If the autopilot does not know the command (MAV_RESULT_UNSUPPORTED) or never answers
  the first one, fall back to the older REQUEST_DATA_STREAM for the stream groups that
  carry these messages (ArduPilot's SRx_ parameters); it has no ACK, so it is sent once
  per run.
- A refusal for one message id (the vehicle cannot send it) skips that id only.
- ArduPilot forgets intervals set this way when it reboots: the connection runs this
  again after every reboot and every restored link.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dialects import event

from .commands import CommandRequest
from .operation import Operation, Target, Timing
from .result import completed

DEFAULT_RATES: Mapping[int, float] = {
    event.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 4.0,
    event.MAVLINK_MSG_ID_SYS_STATUS: 1.0,
    event.MAVLINK_MSG_ID_GPS_RAW_INT: 1.0,
    event.MAVLINK_MSG_ID_EKF_STATUS_REPORT: 1.0,
    event.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 1.0,
    event.MAVLINK_MSG_ID_MISSION_CURRENT: 1.0,
    event.MAVLINK_MSG_ID_SYSTEM_TIME: 1.0,
    event.MAVLINK_MSG_ID_HOME_POSITION: 0.2,
}
"""Hz per message id: position for telemetry, the rest for readiness and progress."""

FALLBACK_STREAMS: Mapping[int, int] = {
    event.MAV_DATA_STREAM_POSITION: 4,
    event.MAV_DATA_STREAM_EXTENDED_STATUS: 1,
    event.MAV_DATA_STREAM_EXTRA3: 1,
}
"""REQUEST_DATA_STREAM groups (Hz) holding the messages above on ArduPilot."""


class StreamRates(Operation):
    """Set each message interval in `rates` (Hz), or fall back to REQUEST_DATA_STREAM."""

    label = "message rates"

    def __init__(
        self, target: Target, timing: Timing, rates: Mapping[int, float] = DEFAULT_RATES
    ) -> None:
        super().__init__(target, timing)
        self._pending = list(rates.items())
        self._current: CommandRequest | None = None
        self.confirmed: list[int] = []
        self.refused: list[int] = []
        self.fell_back = False

    def start(self, now: float) -> list[Any]:
        return self._next(now)

    def receive(self, message: Any, now: float) -> list[Any]:
        if self.done or self._current is None:
            return []
        out = self._current.receive(message, now)
        return out + self._settle(now)

    def on_timer(self, now: float) -> list[Any]:
        if self.done or self._current is None:
            return []
        out = self._current.on_timer(now)
        return out + self._settle(now)

    def next_deadline(self) -> float | None:
        if self.done or self._current is None:
            return None
        return self._current.next_deadline()

    def _settle(self, now: float) -> list[Any]:
        current = self._current
        if current is None or current.result is None:
            return []
        msgid = int(current.params[0])
        if current.result.ok:
            self.confirmed.append(msgid)
            return self._next(now)
        unknown_command = current.ack_result in (None, event.MAV_RESULT_UNSUPPORTED)
        if unknown_command and not self.confirmed:
            return self._fall_back()
        self.refused.append(msgid)
        return self._next(now)

    def _next(self, now: float) -> list[Any]:
        if not self._pending:
            self._current = None
            self.finish(completed(f"{len(self.confirmed)} message intervals set"))
            return []
        msgid, hertz = self._pending.pop(0)
        interval_us = 1e6 / hertz
        self._current = CommandRequest(
            self.target,
            self.timing,
            event.MAV_CMD_SET_MESSAGE_INTERVAL,
            [msgid, interval_us, 0, 0, 0, 0, 0],
            label=f"interval of message {msgid}",
        )
        return self._current.start(now)

    def _fall_back(self) -> list[Any]:
        self.fell_back = True
        self._current = None
        self.finish(completed("REQUEST_DATA_STREAM"))
        t = self.target
        return [
            event.MAVLink_request_data_stream_message(t.system, t.component, stream, hertz, 1)
            for stream, hertz in FALLBACK_STREAMS.items()
        ]
