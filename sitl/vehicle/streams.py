"""What the vehicle double says unasked: the periodic messages, their rates, their content.

Rules of this module:

* Each streamed message has its own interval (`DEFAULT_INTERVALS` at boot).
  REQUEST_DATA_STREAM sets a whole group (ArduPilot's SRx_ streams: `STREAM_GROUPS`),
  SET_MESSAGE_INTERVAL one message; a stopped message has the interval None.
* A message goes out when its time is due (within `DUE_SLACK`), then is due one interval
  later; an advance that comes late sends it once, not a burst of the missed ones.
* The content follows the vehicle's state as ArduPilot reports it: zeros for the
  position until the EKF has an origin, no GPS fix (and an unhealthy GPS in SYS_STATUS)
  until readiness, MAV_STATE_ACTIVE while armed. GPS accuracy, satellites and EKF
  variances carry noise from the double's seeded random generator, and from nothing else.
* Only the messages `Telemetry` builds can be streamed (SET_MESSAGE_INTERVAL) or
  requested (REQUEST_MESSAGE). HOME_POSITION, not streamed at boot, says nothing before
  the position is good.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dialects import event

from .downlink import Downlink
from .flight import Flight
from .kinematics import Climb, Descend
from .mission import Mission
from .params import Parameters

DEFAULT_INTERVALS: dict[int, float] = {
    event.MAVLINK_MSG_ID_HEARTBEAT: 1.0,
    event.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 0.25,
    event.MAVLINK_MSG_ID_SYS_STATUS: 1.0,
    event.MAVLINK_MSG_ID_GPS_RAW_INT: 1.0,
    event.MAVLINK_MSG_ID_MISSION_CURRENT: 1.0,
    event.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 1.0,
    event.MAVLINK_MSG_ID_EKF_STATUS_REPORT: 1.0,
    event.MAVLINK_MSG_ID_SYSTEM_TIME: 1.0,
}
"""Message id -> interval (s) at boot."""
STREAM_GROUPS: dict[int, tuple[int, ...]] = {
    event.MAV_DATA_STREAM_EXTENDED_STATUS: (
        event.MAVLINK_MSG_ID_SYS_STATUS,
        event.MAVLINK_MSG_ID_GPS_RAW_INT,
        event.MAVLINK_MSG_ID_MISSION_CURRENT,
        event.MAVLINK_MSG_ID_EXTENDED_SYS_STATE,
    ),
    event.MAV_DATA_STREAM_POSITION: (event.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,),
    event.MAV_DATA_STREAM_EXTRA3: (
        event.MAVLINK_MSG_ID_EKF_STATUS_REPORT,
        event.MAVLINK_MSG_ID_SYSTEM_TIME,
    ),
}
"""The message ids each REQUEST_DATA_STREAM group sets."""
HEARTBEAT_TYPES: dict[str, int] = {
    "copter": event.MAV_TYPE_QUADROTOR,
    "plane": event.MAV_TYPE_FIXED_WING,
    "rover": event.MAV_TYPE_GROUND_ROVER,
}
"""HEARTBEAT.type for each kind the double plays (what ArduCopter, ArduPlane and ArduRover
SITL send with their default frames)."""
STREAM_GROUPS[event.MAV_DATA_STREAM_ALL] = tuple(
    msgid for group in STREAM_GROUPS.values() for msgid in group
)

EKF_GOOD = (
    event.EKF_ATTITUDE
    | event.EKF_VELOCITY_HORIZ
    | event.EKF_VELOCITY_VERT
    | event.EKF_POS_HORIZ_REL
    | event.EKF_POS_HORIZ_ABS
    | event.EKF_POS_VERT_ABS
    | event.EKF_PRED_POS_HORIZ_REL
    | event.EKF_PRED_POS_HORIZ_ABS
)
EKF_NO_ORIGIN = event.EKF_ATTITUDE | event.EKF_CONST_POS_MODE
EKF_ORIGIN_ONLY = (
    event.EKF_ATTITUDE
    | event.EKF_VELOCITY_VERT
    | event.EKF_POS_VERT_ABS
    | event.EKF_POS_HORIZ_REL
    | event.EKF_CONST_POS_MODE
)
SENSORS = (
    event.MAV_SYS_STATUS_SENSOR_3D_GYRO
    | event.MAV_SYS_STATUS_SENSOR_3D_ACCEL
    | event.MAV_SYS_STATUS_SENSOR_3D_MAG
    | event.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
    | event.MAV_SYS_STATUS_SENSOR_GPS
    | event.MAV_SYS_STATUS_SENSOR_BATTERY
)

DUE_SLACK = 1e-6
"""A message due within this many seconds goes out now: ticks computed in floating point
land a hair before a whole second."""


@dataclass(slots=True)
class Streams:
    """Which periodic messages go out how often, and when each is next due."""

    intervals: dict[int, float | None] = field(default_factory=lambda: dict(DEFAULT_INTERVALS))
    due: dict[int, float] = field(default_factory=dict)

    def set_interval(self, msgid: int, seconds: float | None) -> None:
        self.intervals[msgid] = seconds
        self.due.pop(msgid, None)

    def falling_due(self, now: float) -> list[int]:
        """Message ids due at `now`; each is rescheduled one interval later."""
        out = []
        for msgid, interval in self.intervals.items():
            if interval is None:
                continue
            due = self.due.get(msgid, now)
            if now >= due - DUE_SLACK:
                out.append(msgid)
                # A late step sends once, not a burst of the missed ones.
                self.due[msgid] = max(due + interval, now)
        return out


class Telemetry:
    """The messages the double builds from its state, and the schedule that sends them."""

    def __init__(
        self,
        downlink: Downlink,
        counters: Counter[str],
        flight: Flight,
        mission: Mission,
        params: Parameters,
        *,
        seed: int,
    ) -> None:
        self._downlink = downlink
        self._mav = downlink.mav
        self._counters = counters
        self._flight = flight
        self._airframe = flight.airframe
        self._mission = mission
        self._params = params
        self._random = random.Random(seed)
        self.streams = Streams()
        self._builders: dict[int, Callable[[float], Any]] = {
            event.MAVLINK_MSG_ID_HEARTBEAT: self._heartbeat,
            event.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: self._global_position,
            event.MAVLINK_MSG_ID_SYS_STATUS: self._sys_status,
            event.MAVLINK_MSG_ID_GPS_RAW_INT: self._gps_raw,
            event.MAVLINK_MSG_ID_EKF_STATUS_REPORT: self._ekf_status,
            event.MAVLINK_MSG_ID_MISSION_CURRENT: self._mission_current,
            event.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: self._extended_sys_state,
            event.MAVLINK_MSG_ID_SYSTEM_TIME: self._system_time,
            event.MAVLINK_MSG_ID_HOME_POSITION: self._home_position,
        }

    def send_due(self, now: float) -> None:
        """Queue the periodic messages that fell due by `now`."""
        for msgid in self.streams.falling_due(now):
            message = self.build(msgid, now)
            if message is not None:
                self._downlink.send(message)

    def builds(self, msgid: int) -> bool:
        """Whether message `msgid` can be streamed or requested."""
        return msgid in self._builders

    def build(self, msgid: int, now: float) -> Any:
        """Message `msgid` as of `now`, or None when the vehicle has nothing to say yet."""
        return self._builders[msgid](now)

    def on_request_data_stream(self, m: Any, now: float) -> None:
        """REQUEST_DATA_STREAM: a rate for a group of messages (ArduPilot's SRx_ streams)."""
        group = STREAM_GROUPS.get(m.req_stream_id)
        if group is None:
            self._counters["ignored"] += 1
            return
        if m.start_stop == 0 or m.req_message_rate == 0:
            interval = None
        else:
            interval = 1.0 / m.req_message_rate
        for msgid in group:
            self.streams.set_interval(msgid, interval)

    def _boot_ms(self, now: float) -> int:
        boot = self._flight.boot
        assert boot is not None
        return int((now - boot) * 1000)

    def _heartbeat(self, now: float) -> Any:
        flight = self._flight
        base_mode = (
            event.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
            | event.MAV_MODE_FLAG_STABILIZE_ENABLED
            | event.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED
        )
        if flight.mode not in ("STABILIZE", "MANUAL"):
            base_mode |= event.MAV_MODE_FLAG_GUIDED_ENABLED
        if flight.armed:
            base_mode |= event.MAV_MODE_FLAG_SAFETY_ARMED
        status = event.MAV_STATE_ACTIVE if flight.armed else event.MAV_STATE_STANDBY
        return self._mav.heartbeat_encode(
            HEARTBEAT_TYPES[flight.kind],
            event.MAV_AUTOPILOT_ARDUPILOTMEGA,
            base_mode,
            flight.modes[flight.mode],
            status,
        )

    def _global_position(self, now: float) -> Any:
        airframe = self._airframe
        vn, ve, vd = airframe.velocity
        if not self._flight.origin_set:
            # ArduPilot sends zeros until the EKF has an origin.
            lat = lon = alt = relative = 0
        else:
            lat, lon = round(airframe.lat * 1e7), round(airframe.lon * 1e7)
            alt = round((airframe.ground_alt + airframe.alt) * 1000)
            relative = round(airframe.alt_above_home() * 1000)
        return self._mav.global_position_int_encode(
            self._boot_ms(now),
            lat,
            lon,
            alt,
            relative,
            _cm_s(vn),
            _cm_s(ve),
            _cm_s(vd),
            round(airframe.heading * 100) % 36000,
        )

    def _sys_status(self, now: float) -> Any:
        battery = self._flight.battery
        remaining = battery.remaining(self._params["BATT_CAPACITY"])
        current = self._flight.current()
        volts = battery.volts(remaining, current)
        healthy = SENSORS if self._flight.ready else SENSORS & ~event.MAV_SYS_STATUS_SENSOR_GPS
        return self._mav.sys_status_encode(
            SENSORS,
            SENSORS,
            healthy,
            150,
            round(volts * 1000),
            round(current * 100),
            round(remaining * 100),
            0,
            0,
            0,
            0,
            0,
            0,
        )

    def _gps_raw(self, now: float) -> Any:
        airframe = self._airframe
        ready = self._flight.ready
        fix = event.GPS_FIX_TYPE_3D_FIX if ready else event.GPS_FIX_TYPE_NO_FIX
        lat = round(airframe.lat * 1e7) if ready else 0
        lon = round(airframe.lon * 1e7) if ready else 0
        vn, ve, _ = airframe.velocity
        return self._mav.gps_raw_int_encode(
            self._boot_ms(now) * 1000,
            fix,
            lat,
            lon,
            round((airframe.ground_alt + airframe.alt) * 1000) if ready else 0,
            self._random.randint(110, 130) if ready else 65535,
            self._random.randint(180, 220) if ready else 65535,
            round(math.hypot(vn, ve) * 100),
            round(airframe.heading * 100) % 36000,
            self._random.randint(10, 13) if ready else 0,
        )

    def _ekf_status(self, now: float) -> Any:
        if self._flight.ready:
            flags = EKF_GOOD
        elif self._flight.origin_set:
            flags = EKF_ORIGIN_ONLY
        else:
            flags = EKF_NO_ORIGIN
        jitter = self._random.uniform(0.0, 0.02)
        return self._mav.ekf_status_report_encode(
            flags, 0.02 + jitter, 0.03 + jitter, 0.02 + jitter, 0.04 + jitter, 0.0
        )

    def _mission_current(self, now: float) -> Any:
        return self._mission.current_message()

    def _extended_sys_state(self, now: float) -> Any:
        airframe = self._airframe
        plan = airframe.plan
        if airframe.on_ground:
            state = event.MAV_LANDED_STATE_ON_GROUND
        elif plan and isinstance(plan[0], Descend):
            state = event.MAV_LANDED_STATE_LANDING
        elif plan and isinstance(plan[0], Climb) and airframe.alt < 1.0:
            state = event.MAV_LANDED_STATE_TAKEOFF
        else:
            state = event.MAV_LANDED_STATE_IN_AIR
        return self._mav.extended_sys_state_encode(event.MAV_VTOL_STATE_UNDEFINED, state)

    def _system_time(self, now: float) -> Any:
        return self._mav.system_time_encode(0, self._boot_ms(now))

    def _home_position(self, now: float) -> Any:
        return self._flight.home_position()


def _cm_s(metres_per_second: float) -> int:
    """A velocity as an int16 of cm/s (clamped: a forced disarm drops in one step)."""
    return max(-32767, min(32767, round(metres_per_second * 100)))
