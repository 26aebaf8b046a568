"""The flight controller as the companion knows it: state from its stream, and link liveness.

Rules:
- Only the flight controller's own messages count: its system id (configured, or learned
  from the first autopilot HEARTBEAT: an autopilot that is not MAV_AUTOPILOT_INVALID) and
  the component that sent that HEARTBEAT. ArduPilot forwards other systems' traffic (a
  GCS's heartbeats on another port), which must not be taken for the vehicle's.
- A learned id is learned again from an autopilot HEARTBEAT of another system while the
  link is lost: the autopilot rebooted with a new system id (ArduPilot applies MAV_SYSID,
  SYSID_THISMAV before 4.7, at boot) or was replaced. A configured id never changes.
- The link is up from the first HEARTBEAT and lost when none arrived for `link_timeout`
  seconds (ArduPilot sends one a second); each change is one `LinkEvent`.
- A reboot is seen when the boot clock (time_boot_ms of GLOBAL_POSITION_INT or
  SYSTEM_TIME) runs backwards by more than `REBOOT_BACKSTEP_MS` and the next boot-clock
  message agrees: it is nearer the new clock than the old one. One message alone is no
  reboot (issue 17: each of 76 hostile positions with an old time_boot_ms counted as one,
  and each made the agent forget its mission); a step either way that the next message
  does not follow is counted (`clock_outliers`) and otherwise ignored. A forward step of
  more than REBOOT_BACKSTEP_MS (after a silence) is taken once the next message follows
  it too. MAVLink sequence numbers are no evidence: they wrap every 256 frames and every
  component has its own.
- Latitude/longitude of 0/0 are "unknown": ArduPilot sends zeros until the EKF has an
  origin (about 20 s after boot in SITL).
- Nothing here sends or sleeps; `now` is monotonic seconds.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from dialects import event

from .modes import mode_name

REBOOT_BACKSTEP_MS = 5000
"""A boot clock that falls back by more than this (ms), and stays back, means the autopilot
restarted; a step of more than this either way waits for the next message to agree."""

EKF_POSITION_FLAGS = event.EKF_ATTITUDE | event.EKF_POS_HORIZ_ABS | event.EKF_POS_VERT_ABS
"""EKF_STATUS_REPORT flags that must all be set for a usable absolute position."""
EKF_NOT_READY_FLAGS = event.EKF_CONST_POS_MODE | event.EKF_UNINITIALIZED

NOT_AUTOPILOT_TYPES = frozenset(
    {event.MAV_TYPE_GCS, event.MAV_TYPE_ONBOARD_CONTROLLER, event.MAV_TYPE_GIMBAL}
)


class LinkEventKind(Enum):
    CONNECTED = "connected"
    """First HEARTBEAT from the flight controller."""
    LOST = "lost"
    """No HEARTBEAT for `link_timeout` seconds."""
    RESTORED = "restored"
    """HEARTBEAT again after a loss."""
    REBOOTED = "rebooted"
    """The flight controller's boot clock went back: it restarted."""


@dataclass(frozen=True, slots=True)
class LinkEvent:
    kind: LinkEventKind
    at: float
    """Monotonic time it was noticed."""


def text_of(value: Any) -> str:
    """A char[] field as text (the link layer gives bytes, pymavlink's parser gives str)."""
    if isinstance(value, bytes):
        return value.rstrip(b"\x00").decode("utf-8", errors="replace")
    return str(value).rstrip("\x00")


@dataclass(slots=True)
class VehicleState:
    """What the flight controller last said about itself. None: not heard yet."""

    connected: bool = False
    last_heard: float | None = None
    """Monotonic time of the last HEARTBEAT."""
    system_id: int | None = None
    component_id: int | None = None
    vehicle_type: int | None = None
    """HEARTBEAT.type (MAV_TYPE)."""
    custom_mode: int | None = None
    mode: str = ""
    armed: bool = False
    system_status: int | None = None
    lat: float | None = None
    """Degrees; None until the EKF has an origin."""
    lon: float | None = None
    alt_rel: float | None = None
    """Metres above home."""
    alt_amsl: float | None = None
    groundspeed: float | None = None
    """m/s."""
    heading: float | None = None
    """Degrees 0-360."""
    battery_voltage: float | None = None
    """Volts."""
    battery_remaining: int | None = None
    """Percent."""
    gps_fix: int = 0
    """GPS_RAW_INT.fix_type (GPS_FIX_TYPE; 3 is a 3D fix)."""
    satellites: int | None = None
    ekf_flags: int = 0
    landed_state: int = event.MAV_LANDED_STATE_UNDEFINED
    home: tuple[float, float, float] | None = None
    """HOME_POSITION: latitude, longitude (degrees), altitude AMSL (m)."""
    mission_current: int | None = None
    """MISSION_CURRENT.seq: the item being flown (0 is home)."""
    mission_total: int | None = None
    mission_reached: int | None = None
    """MISSION_ITEM_REACHED.seq of the last item reached."""
    items_reached: list[int] = field(default_factory=list)
    """Every MISSION_ITEM_REACHED seq, in order (cleared by `clear_progress`)."""
    last_statustext: str = ""
    reboots: int = 0
    links_lost: int = 0

    @property
    def position_ready(self) -> bool:
        """The EKF reports an absolute position (what arming in GUIDED/AUTO needs)."""
        flags = self.ekf_flags
        return (flags & EKF_POSITION_FLAGS) == EKF_POSITION_FLAGS and not (
            flags & EKF_NOT_READY_FLAGS
        )

    @property
    def gps_ok(self) -> bool:
        """A 3D GPS fix and an EKF position: EVENT_STATUS_FLAGS_GPS_OK."""
        return self.gps_fix >= event.GPS_FIX_TYPE_3D_FIX and self.position_ready

    @property
    def airborne(self) -> bool:
        """Armed and flying, by EXTENDED_SYS_STATE if sent, else more than 1 m up."""
        if not self.armed:
            return False
        if self.landed_state != event.MAV_LANDED_STATE_UNDEFINED:
            return bool(self.landed_state != event.MAV_LANDED_STATE_ON_GROUND)
        return self.alt_rel is not None and self.alt_rel > 1.0

    def clear_progress(self) -> None:
        """Forget the items reached: a new mission starts."""
        self.mission_reached = None
        self.items_reached.clear()


class StateTracker:
    """Sans-IO: feed it the flight controller's messages and time; read `state`."""

    def __init__(self, *, system_id: int | None = None, link_timeout: float = 5.0) -> None:
        self.state = VehicleState(system_id=system_id)
        self._learned = system_id is None
        self.link_timeout = link_timeout
        self._events: deque[LinkEvent] = deque()
        self._boot_ms: int | None = None
        self._step_ms: int | None = None
        """A boot clock far from `_boot_ms` that the next message has yet to agree with."""
        self.ignored = 0
        """Messages from other systems or components that were not taken as the vehicle's."""
        self.out_of_range = 0
        """Positions (GLOBAL_POSITION_INT, HOME_POSITION) off the globe, dropped: a home
        latitude of 214 degrees would go back out in the mission's home item."""
        self.clock_outliers = 0
        """Boot clocks far from the vehicle's that the next message did not agree with."""

    def next_event(self) -> LinkEvent | None:
        return self._events.popleft() if self._events else None

    def next_deadline(self) -> float | None:
        state = self.state
        if not state.connected or state.last_heard is None:
            return None
        return state.last_heard + self.link_timeout

    def on_timer(self, now: float) -> None:
        deadline = self.next_deadline()
        if deadline is not None and now >= deadline:
            self.state.connected = False
            self.state.links_lost += 1
            self._events.append(LinkEvent(LinkEventKind.LOST, now))

    def is_from_vehicle(self, message: Any) -> bool:
        """True if `message` comes from the flight controller (learning it from HEARTBEAT)."""
        state = self.state
        source = message.get_srcSystem()
        if message.get_msgId() == event.MAVLINK_MSG_ID_HEARTBEAT:
            if not self._is_autopilot_heartbeat(message):
                return False
            if state.system_id is None or self._learns_again(source):
                state.system_id, state.component_id = source, None
            if state.component_id is None and source == state.system_id:
                state.component_id = message.get_srcComponent()
        return bool(source == state.system_id and message.get_srcComponent() == state.component_id)

    def receive(self, message: Any, now: float) -> bool:
        """Take in one message; False if it is not the vehicle's (and was ignored)."""
        if not self.is_from_vehicle(message):
            self.ignored += 1
            return False
        handler = _HANDLERS.get(message.get_msgId())
        if handler is not None:
            handler(self, message, now)
        return True

    def _learns_again(self, source: int) -> bool:
        state = self.state
        return self._learned and not state.connected and source != state.system_id

    @staticmethod
    def _is_autopilot_heartbeat(message: Any) -> bool:
        return (
            message.autopilot != event.MAV_AUTOPILOT_INVALID
            and message.type not in NOT_AUTOPILOT_TYPES
        )

    # -- handlers ------------------------------------------------------------------------

    def _heartbeat(self, m: Any, now: float) -> None:
        state = self.state
        if not state.connected:
            kind = LinkEventKind.CONNECTED if state.last_heard is None else LinkEventKind.RESTORED
            self._events.append(LinkEvent(kind, now))
        state.connected = True
        state.last_heard = now
        state.vehicle_type = m.type
        state.custom_mode = m.custom_mode
        state.mode = mode_name(m.type, m.custom_mode)
        state.armed = bool(m.base_mode & event.MAV_MODE_FLAG_SAFETY_ARMED)
        state.system_status = m.system_status

    def _boot_clock(self, time_boot_ms: int, now: float) -> None:
        """Follow the boot clock; a step far from it is taken (a reboot, if it went back)
        only once the next message agrees (module rules)."""
        last, step = self._boot_ms, self._step_ms
        self._step_ms = None
        if last is None:
            self._boot_ms = time_boot_ms
        elif step is not None and abs(time_boot_ms - step) < abs(time_boot_ms - last):
            if time_boot_ms + REBOOT_BACKSTEP_MS < last:
                self.state.reboots += 1
                self._events.append(LinkEvent(LinkEventKind.REBOOTED, now))
            self._boot_ms = time_boot_ms
        else:
            self.clock_outliers += step is not None
            if abs(time_boot_ms - last) <= REBOOT_BACKSTEP_MS:
                self._boot_ms = time_boot_ms
            else:
                self._step_ms = time_boot_ms

    def _global_position(self, m: Any, now: float) -> None:
        self._boot_clock(m.time_boot_ms, now)
        state = self.state
        if not _on_earth(m.lat, m.lon):
            self.out_of_range += 1
            return
        known = m.lat != 0 or m.lon != 0
        state.lat = m.lat / 1e7 if known else None
        state.lon = m.lon / 1e7 if known else None
        state.alt_amsl = m.alt / 1000
        state.alt_rel = m.relative_alt / 1000
        state.groundspeed = math.hypot(m.vx, m.vy) / 100
        state.heading = None if m.hdg == 65535 else m.hdg / 100

    def _system_time(self, m: Any, now: float) -> None:
        self._boot_clock(m.time_boot_ms, now)

    def _sys_status(self, m: Any, now: float) -> None:
        state = self.state
        state.battery_voltage = None if m.voltage_battery == 65535 else m.voltage_battery / 1000
        state.battery_remaining = None if m.battery_remaining < 0 else m.battery_remaining

    def _gps_raw(self, m: Any, now: float) -> None:
        self.state.gps_fix = m.fix_type
        self.state.satellites = None if m.satellites_visible == 255 else m.satellites_visible

    def _ekf_status(self, m: Any, now: float) -> None:
        self.state.ekf_flags = m.flags

    def _extended_sys_state(self, m: Any, now: float) -> None:
        self.state.landed_state = m.landed_state

    def _home_position(self, m: Any, now: float) -> None:
        if not _on_earth(m.latitude, m.longitude):
            self.out_of_range += 1
            return
        self.state.home = (m.latitude / 1e7, m.longitude / 1e7, m.altitude / 1000)

    def _mission_current(self, m: Any, now: float) -> None:
        self.state.mission_current = m.seq
        self.state.mission_total = m.total if m.total != 65535 else None

    def _mission_item_reached(self, m: Any, now: float) -> None:
        self.state.mission_reached = m.seq
        self.state.items_reached.append(m.seq)

    def _statustext(self, m: Any, now: float) -> None:
        self.state.last_statustext = text_of(m.text)


def _on_earth(lat_e7: int, lon_e7: int) -> bool:
    return abs(lat_e7) <= 90 * 10**7 and abs(lon_e7) <= 180 * 10**7


_HANDLERS = {
    event.MAVLINK_MSG_ID_HEARTBEAT: StateTracker._heartbeat,
    event.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: StateTracker._global_position,
    event.MAVLINK_MSG_ID_SYSTEM_TIME: StateTracker._system_time,
    event.MAVLINK_MSG_ID_SYS_STATUS: StateTracker._sys_status,
    event.MAVLINK_MSG_ID_GPS_RAW_INT: StateTracker._gps_raw,
    event.MAVLINK_MSG_ID_EKF_STATUS_REPORT: StateTracker._ekf_status,
    event.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: StateTracker._extended_sys_state,
    event.MAVLINK_MSG_ID_HOME_POSITION: StateTracker._home_position,
    event.MAVLINK_MSG_ID_MISSION_CURRENT: StateTracker._mission_current,
    event.MAVLINK_MSG_ID_MISSION_ITEM_REACHED: StateTracker._mission_item_reached,
    event.MAVLINK_MSG_ID_STATUSTEXT: StateTracker._statustext,
}
