"""What one real ArduPilot SITL instance says about itself, read from its MAVLink: the
world's view of a SITL vehicle, as it has a double's state to read. Sans-IO.

Rules:
- `observe` takes any parsed message; only the autopilot's own (component 1) count.
- Position: GLOBAL_POSITION_INT's lat/lon and alt (metres above sea level) as
  `position`; None until the autopilot reports a position other than 0, 0 (SITL sends
  zeros until its EKF has an origin). relative_alt is not kept: ArduRover 4.7 SITL
  fills it with its altitude above sea level, so heights come from alt and the
  ground's altitude.
- Mode: HEARTBEAT's custom_mode by ArduPilot's name for that vehicle type (`modes.py`);
  armed: HEARTBEAT's SAFETY_ARMED flag.
- Landed: EXTENDED_SYS_STATE's landed_state ON_GROUND once the autopilot has sent one
  (copter, plane); a vehicle that sends none (a rover) is landed while disarmed.
- Ready: SYS_STATUS says the pre-arm checks pass (MAV_SYS_STATUS_PREARM_CHECK healthy)
  and EKF_STATUS_REPORT has an absolute position (horizontal and vertical, not in
  constant-position mode). Both: the pre-arm checks pass in STABILIZE before the EKF
  has a position, and arming in GUIDED then fails "Need Position Estimate" (SITL 4.7).
  A vehicle that reports neither is never ready.
- Version: AUTOPILOT_VERSION's flight_sw_version and flight_custom_version (the git
  hash) as one line, e.g. "ArduCopter 4.7.0-dev (df83545f)".
"""

from __future__ import annotations

from typing import Any

from companion.autopilot.modes import VehicleKind, kind_of, mode_name
from dialects import event

FIRMWARE = {
    VehicleKind.COPTER: "ArduCopter",
    VehicleKind.PLANE: "ArduPlane",
    VehicleKind.ROVER: "ArduRover",
}
RELEASE_TYPES = {0: "-dev", 64: "-alpha", 128: "-beta", 192: "-rc", 255: ""}
"""FIRMWARE_VERSION_TYPE (the low byte of flight_sw_version) as ArduPilot names it."""
PREARM = event.MAV_SYS_STATUS_PREARM_CHECK
EKF_POSITION = event.EKF_POS_HORIZ_ABS | event.EKF_POS_VERT_ABS
CONST_POS = event.EKF_CONST_POS_MODE


class SitlView:
    """The latest of what a SITL autopilot has said."""

    def __init__(self) -> None:
        self.position: tuple[float, float, float] | None = None
        """Latitude, longitude (degrees) and altitude above sea level (metres)."""
        self.vehicle_type: int | None = None
        self.custom_mode: int | None = None
        self.armed = False
        self._landed_state: int | None = None
        self._prearm_ok = False
        self._ekf_position = False
        self._version_fields: tuple[int, Any] | None = None

    def observe(self, message: Any) -> None:
        if message.get_srcComponent() != 1:
            return
        handler = _HANDLERS.get(message.get_type())
        if handler is not None:
            handler(self, message)

    @property
    def mode(self) -> str:
        if self.vehicle_type is None or self.custom_mode is None:
            return "UNKNOWN"
        return mode_name(self.vehicle_type, self.custom_mode)

    @property
    def ready(self) -> bool:
        return self._prearm_ok and self._ekf_position

    @property
    def version(self) -> str | None:
        """The version line, once AUTOPILOT_VERSION came (named by the latest HEARTBEAT)."""
        if self._version_fields is None:
            return None
        return version_line(self.vehicle_type, *self._version_fields)

    @property
    def landed(self) -> bool:
        if self._landed_state is None:
            return not self.armed
        return bool(self._landed_state == event.MAV_LANDED_STATE_ON_GROUND)

    def _heartbeat(self, m: Any) -> None:
        if m.type == event.MAV_TYPE_GCS:
            return
        self.vehicle_type = m.type
        self.custom_mode = m.custom_mode
        self.armed = bool(m.base_mode & event.MAV_MODE_FLAG_SAFETY_ARMED)

    def _position(self, m: Any) -> None:
        if m.lat or m.lon:
            self.position = (m.lat / 1e7, m.lon / 1e7, m.alt / 1000)

    def _extended(self, m: Any) -> None:
        if m.landed_state != event.MAV_LANDED_STATE_UNDEFINED:
            self._landed_state = m.landed_state

    def _sys_status(self, m: Any) -> None:
        if m.onboard_control_sensors_present & PREARM:
            self._prearm_ok = bool(m.onboard_control_sensors_health & PREARM)

    def _ekf(self, m: Any) -> None:
        flags = int(m.flags)
        self._ekf_position = flags & EKF_POSITION == EKF_POSITION and not flags & CONST_POS

    def _version(self, m: Any) -> None:
        self._version_fields = (m.flight_sw_version, m.flight_custom_version)


def version_line(vehicle_type: int | None, sw_version: int, custom: Any) -> str:
    """ "ArduCopter 4.7.0-dev (df83545f)" from AUTOPILOT_VERSION's fields."""
    kind = kind_of(vehicle_type)
    firmware = FIRMWARE.get(kind, "ArduPilot") if kind is not None else "ArduPilot"
    major, minor, patch, release_type = (sw_version >> shift & 0xFF for shift in (24, 16, 8, 0))
    release = RELEASE_TYPES.get(release_type, f"-type{release_type}")
    text = f"{firmware} {major}.{minor}.{patch}{release}"
    git = bytes(custom).rstrip(b"\0").decode("ascii", "replace") if custom else ""
    return f"{text} ({git})" if git else text


_HANDLERS = {
    "HEARTBEAT": SitlView._heartbeat,
    "GLOBAL_POSITION_INT": SitlView._position,
    "EXTENDED_SYS_STATE": SitlView._extended,
    "SYS_STATUS": SitlView._sys_status,
    "EKF_STATUS_REPORT": SitlView._ekf,
    "AUTOPILOT_VERSION": SitlView._version,
}
