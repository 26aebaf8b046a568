"""What the companion tells the vehicle double to do: commands, mode changes, GUIDED targets.

Rules of this module:

* COMMAND_LONG and COMMAND_INT are one `Command`; COMMAND_LONG positions count as relative
  to home, as ArduPilot converts them (`GCS_MAVLINK::try_command_long_as_command_int`).
* Every command is answered with exactly one COMMAND_ACK to its sender: ACCEPTED, DENIED
  (not now, or a bad target), FAILED (the vehicle refused, often with a STATUSTEXT
  saying why) or UNSUPPORTED (a command the double does not know, counted in
  `unsupported_commands`). A NaN or infinite parameter where a number is needed is
  DENIED and counted in `invalid_commands`; nothing here raises on what the peer sent.
* Mode changes take custom modes only (`GCS_MAVLINK::_set_mode_common`); the deprecated
  SET_MODE message is answered like DO_SET_MODE.
* SET_POSITION_TARGET_GLOBAL_INT moves the vehicle in GUIDED only and is never ACKed, as
  in ArduPilot; a target it cannot fly is counted in `position_targets_ignored`.
* Arming and disarming take ArduPilot's magic param2 numbers that skip the checks; a
  disarm in the air needs it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dialects import event

from .downlink import Downlink, Peer, sender_of
from .flight import MAX_FLIGHT_ALT, MAX_FLIGHT_SPEED, Flight
from .mission_items import ABSOLUTE_FRAMES, RELATIVE_FRAMES
from .streams import DEFAULT_INTERVALS, Telemetry

ACCEPTED: int = event.MAV_RESULT_ACCEPTED
DENIED: int = event.MAV_RESULT_DENIED
FAILED: int = event.MAV_RESULT_FAILED
UNSUPPORTED: int = event.MAV_RESULT_UNSUPPORTED
"""COMMAND_ACK results (MAV_RESULT)."""

INT32_MAX = 2**31 - 1

FORCE_ARM = 2989.0
FORCE_DISARM = 21196.0
"""COMPONENT_ARM_DISARM param2 magic numbers that skip ArduPilot's checks."""


@dataclass(frozen=True, slots=True)
class Command:
    """COMMAND_LONG and COMMAND_INT in one shape (lat/lon in degrees, alt in metres)."""

    command: int
    params: tuple[float, float, float, float]
    lat: float
    lon: float
    alt: float
    frame: int
    """COMMAND_INT's frame; COMMAND_LONG positions count as relative to home, as ArduPilot
    converts them (`GCS_MAVLINK::try_command_long_as_command_int`)."""
    sender: Peer


class Commands:
    """The MAV_CMDs the double carries out, and the messages that move it without one."""

    def __init__(
        self,
        downlink: Downlink,
        counters: Counter[str],
        flight: Flight,
        telemetry: Telemetry,
    ) -> None:
        self._downlink = downlink
        self._counters = counters
        self._flight = flight
        self._telemetry = telemetry
        self._commands: dict[int, Callable[[Command, float], int]] = {
            event.MAV_CMD_DO_SET_MODE: self._set_mode,
            event.MAV_CMD_COMPONENT_ARM_DISARM: self._arm_disarm,
            event.MAV_CMD_NAV_TAKEOFF: self._takeoff,
            event.MAV_CMD_MISSION_START: self._mission_start,
            event.MAV_CMD_DO_REPOSITION: self._reposition,
            event.MAV_CMD_NAV_RETURN_TO_LAUNCH: self._rtl,
            event.MAV_CMD_NAV_LAND: self._land,
            event.MAV_CMD_DO_CHANGE_SPEED: self._change_speed,
            event.MAV_CMD_DO_SET_MISSION_CURRENT: self._set_mission_current,
            event.MAV_CMD_SET_MESSAGE_INTERVAL: self._set_message_interval,
            event.MAV_CMD_GET_MESSAGE_INTERVAL: self._get_message_interval,
            event.MAV_CMD_REQUEST_MESSAGE: self._request_message,
        }

    # -- messages ----------------------------------------------------------------------

    def on_command_long(self, m: Any, now: float) -> None:
        command = Command(
            m.command,
            (m.param1, m.param2, m.param3, m.param4),
            m.param5,
            m.param6,
            m.param7,
            event.MAV_FRAME_GLOBAL_RELATIVE_ALT,
            sender_of(m),
        )
        self._run(command, now)

    def on_command_int(self, m: Any, now: float) -> None:
        command = Command(
            m.command,
            (m.param1, m.param2, m.param3, m.param4),
            m.x / 1e7,
            m.y / 1e7,
            m.z,
            m.frame,
            sender_of(m),
        )
        self._run(command, now)

    def on_set_mode(self, m: Any, now: float) -> None:
        """The deprecated SET_MODE message, answered like DO_SET_MODE."""
        result = self._mode_result(m.base_mode, m.custom_mode, now)
        self._downlink.ack(event.MAV_CMD_DO_SET_MODE, result, sender_of(m))

    def on_set_position_target(self, m: Any, now: float) -> None:
        """SET_POSITION_TARGET_GLOBAL_INT: a position target in GUIDED, no ACK (ArduPilot
        sends none). Velocity-only targets and other modes are ignored."""
        position_ignored = m.type_mask & 0b111 == 0b111
        if self._flight.mode != "GUIDED" or position_ignored:
            self._counters["position_targets_ignored"] += 1
            return
        if m.coordinate_frame in (
            event.MAV_FRAME_GLOBAL_INT,
            event.MAV_FRAME_GLOBAL,
        ):
            relative = False
        elif m.coordinate_frame in RELATIVE_FRAMES:
            relative = True
        else:
            self._counters["position_targets_ignored"] += 1
            return
        alt = self._flight.airframe.alt_of(relative, m.alt)
        if not (abs(m.lat_int) <= 900_000_000 and abs(m.lon_int) <= 1_800_000_000):
            self._counters["position_targets_ignored"] += 1
            return
        if not abs(alt) < MAX_FLIGHT_ALT:
            self._counters["position_targets_ignored"] += 1
            return
        self._flight.guided_goto(m.lat_int / 1e7, m.lon_int / 1e7, alt)

    def _run(self, command: Command, now: float) -> None:
        self._counters["commands"] += 1
        handler = self._commands.get(command.command)
        if handler is None:
            self._counters["unsupported_commands"] += 1
            result = UNSUPPORTED
        else:
            try:
                result = handler(command, now)
            except (ValueError, OverflowError):
                # A NaN or infinite parameter where a number is needed.
                self._counters["invalid_commands"] += 1
                result = DENIED
        self._downlink.ack(command.command, result, command.sender)

    # -- modes and arming --------------------------------------------------------------

    def _set_mode(self, c: Command, now: float) -> int:
        return self._mode_result(int(c.params[0]), int(c.params[1]), now)

    def _mode_result(self, base_mode: int, custom_mode: int, now: float) -> int:
        """`GCS_MAVLINK::_set_mode_common`: only custom modes; FAILED when the mode refuses."""
        if not base_mode & event.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            return DENIED
        name = next((n for n, number in self._flight.modes.items() if number == custom_mode), None)
        if name is None:
            self._downlink.text(event.MAV_SEVERITY_WARNING, f"No such mode {custom_mode}")
            return FAILED
        return ACCEPTED if self._flight.set_mode(name, now) else FAILED

    def _arm_disarm(self, c: Command, now: float) -> int:
        if c.params[0] == 1:
            reason = self._flight.arm(c.params[1] == FORCE_ARM, now)
            if reason is not None:
                self._downlink.text(event.MAV_SEVERITY_CRITICAL, reason)
                return FAILED
            return ACCEPTED
        if c.params[0] != 0:
            return UNSUPPORTED
        if not self._flight.airframe.on_ground and c.params[1] != FORCE_DISARM:
            # Copter refuses a MAVLink disarm in flight unless forced.
            return FAILED
        self._flight.disarm()
        return ACCEPTED

    def _rtl(self, c: Command, now: float) -> int:
        return ACCEPTED if self._flight.set_mode("RTL", now) else FAILED

    def _land(self, c: Command, now: float) -> int:
        return ACCEPTED if self._flight.set_mode("LAND", now) else FAILED

    # -- flying ------------------------------------------------------------------------

    def _takeoff(self, c: Command, now: float) -> int:
        return ACCEPTED if self._flight.takeoff(c.alt) else FAILED

    def _mission_start(self, c: Command, now: float) -> int:
        return ACCEPTED if self._flight.start_mission(now) else FAILED

    def _reposition(self, c: Command, now: float) -> int:
        """DO_REPOSITION (`GCS_MAVLINK_Copter::handle_command_int_do_reposition`)."""
        flight = self._flight
        change_mode = int(c.params[1]) & event.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE
        if flight.mode != "GUIDED" and not change_mode:
            return DENIED
        if c.frame not in ABSOLUTE_FRAMES | RELATIVE_FRAMES:
            return DENIED
        alt = flight.airframe.alt_of(c.frame in RELATIVE_FRAMES, c.alt)
        if not (abs(c.lat) <= 90 and abs(c.lon) <= 180 and abs(alt) < MAX_FLIGHT_ALT):
            return DENIED
        if flight.mode != "GUIDED" and not flight.set_mode("GUIDED", now):
            return FAILED
        flight.guided_goto(c.lat, c.lon, alt)
        return ACCEPTED

    def _change_speed(self, c: Command, now: float) -> int:
        if not 0 < c.params[1] < MAX_FLIGHT_SPEED:
            return FAILED
        self._flight.change_speed(c.params[1])
        return ACCEPTED

    def _set_mission_current(self, c: Command, now: float) -> int:
        return ACCEPTED if self._flight.jump_to(int(c.params[0]), now) else DENIED

    # -- telemetry ---------------------------------------------------------------------

    def _set_message_interval(self, c: Command, now: float) -> int:
        msgid, interval_us = int(c.params[0]), c.params[1]
        if not self._telemetry.builds(msgid):
            return DENIED
        if interval_us == 0:
            seconds: float | None = DEFAULT_INTERVALS.get(msgid)
        elif interval_us < 0:
            seconds = None
        else:
            seconds = interval_us / 1e6
        self._telemetry.streams.set_interval(msgid, seconds)
        return ACCEPTED

    def _get_message_interval(self, c: Command, now: float) -> int:
        msgid = int(c.params[0])
        if not self._telemetry.builds(msgid):
            return DENIED
        seconds = self._telemetry.streams.intervals.get(msgid)
        # MESSAGE_INTERVAL.interval_us is an int32: a longer interval reports its largest value.
        interval_us = -1 if seconds is None else min(round(seconds * 1e6), INT32_MAX)
        self._downlink.send(self._downlink.mav.message_interval_encode(msgid, interval_us))
        return ACCEPTED

    def _request_message(self, c: Command, now: float) -> int:
        msgid = int(c.params[0])
        if not self._telemetry.builds(msgid):
            return DENIED
        message = self._telemetry.build(msgid, now)
        if message is not None:
            self._downlink.send(message)
        return ACCEPTED
