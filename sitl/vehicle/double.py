"""A vehicle double: a sans-IO stand-in for ArduCopter that speaks the part of its MAVLink
a companion agent uses. It is a test double, not an autopilot: no physics, no RC, no
failsafes; a kinematic point that follows the protocol the way ArduPilot does.

Rules of this module:

* Sans-IO. `receive(data, now)` takes raw bytes from the companion in any chunking;
  `step(now)` advances the flight to `now` and queues the periodic messages that fell due;
  `data_to_send()` hands over (and clears) the MAVLink 2 bytes queued for the companion.
  Time is always passed in (monotonic seconds); the first time seen is the boot.
  Nothing here sleeps, reads a clock or draws from the OS's randomness: the same inputs
  and `seed` give the same bytes.
* Bad input never raises. Bytes that are not MAVLink, frames with a bad CRC, unknown
  message ids, messages for another system: each is counted in `counters` and dropped.
* Behaviour follows ArduCopter (master, 2025) where the companion can see it; comments
  cite the ArduPilot code path. Where the double is simpler, docs/vehicle_double.md says so.
* Readiness: the EKF origin is set `ready_after / 2` seconds after boot, GPS fix and EKF
  position are good at `ready_after` (ArduPilot SITL: about 20 s and 40 s). Before the
  origin GLOBAL_POSITION_INT carries lat/lon 0; before readiness arming is refused.
* The mission holds ArduPilot's normalised form of each item, as `AP_Mission` stores and
  returns it (`mission_cmd_to_mavlink_int`): frames without `_INT`, altitude truncated to
  centimetres, only the parameters ArduPilot keeps. Item 0 is always home; an uploaded
  item 0 is validated, then ignored.
* Flight is a queue of legs (climb, go to, hold, descend) flown at the WPNAV_* speeds;
  when the queue empties, whoever planned it (a mode, a mission item) is called back at
  the exact simulated instant, so MISSION_ITEM_REACHED times follow from the speeds.
"""

from __future__ import annotations

import math
import random
import struct
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from dialects import event

COMPONENT_ID = 1
"""MAV_COMP_ID_AUTOPILOT1: ArduPilot's flight controller."""

ACCEPTED: int = event.MAV_RESULT_ACCEPTED
DENIED: int = event.MAV_RESULT_DENIED
FAILED: int = event.MAV_RESULT_FAILED
UNSUPPORTED: int = event.MAV_RESULT_UNSUPPORTED
"""COMMAND_ACK results (MAV_RESULT)."""

MODES: dict[str, int] = {
    "STABILIZE": 0,
    "AUTO": 3,
    "GUIDED": 4,
    "LOITER": 5,
    "RTL": 6,
    "LAND": 9,
}
"""The ArduCopter modes the double flies, with their HEARTBEAT.custom_mode numbers."""
MODE_NAMES = {number: name for name, number in MODES.items()}
POSITION_MODES = frozenset({"AUTO", "GUIDED", "LOITER", "RTL"})
"""Modes that need a position estimate (ArduCopter `Mode::requires_GPS`)."""
ARMABLE_MODES = frozenset({"STABILIZE", "GUIDED", "LOITER"})
"""AUTO, RTL and LAND refuse arming (`Mode::allows_arming`; AUTO unless AUTO_OPTIONS bit 0)."""

FORCE_ARM = 2989.0
FORCE_DISARM = 21196.0
"""COMPONENT_ARM_DISARM param2 magic numbers that skip ArduPilot's checks."""

MAX_MISSION_ITEMS = 700
UPLOAD_TIMEOUT = 8.0
"""ArduPilot gives up an upload after 8 s without an item (`MissionItemProtocol::update`)."""
REQUEST_RESEND = 1.0
"""... and repeats its item request after 1 s without an answer."""
LAND_DETECT = 1.0
"""Seconds on the ground before ArduCopter's land detector declares the landing complete."""
LOCATION_ALT_MAX_M = 83000.0
"""ArduPilot refuses mission altitudes beyond this (`AP_Mission`)."""
MAX_FLIGHT_ALT = 10_000.0
MAX_FLIGHT_SPEED = 100.0
"""Targets beyond these (metres above home, m/s) are refused: they would only overflow
the telemetry fields."""
FLOAT32_MAX = 3.4028234663852886e38
EARTH_RADIUS = 6378137.0
METRES_PER_DEGREE = EARTH_RADIUS * math.pi / 180

# Battery model: a 3S pack; current drawn in each state (amperes).
CELL_FULL, CELL_EMPTY, CELLS = 4.2, 3.5, 3
CURRENT_IDLE, CURRENT_ARMED, CURRENT_FLYING = 0.5, 4.0, 14.0

# Mission item commands the double executes; others are NACKed MAV_MISSION_UNSUPPORTED.
NAV_WAYPOINT = event.MAV_CMD_NAV_WAYPOINT
NAV_LOITER_UNLIM = event.MAV_CMD_NAV_LOITER_UNLIM
NAV_LOITER_TIME = event.MAV_CMD_NAV_LOITER_TIME
NAV_RETURN_TO_LAUNCH = event.MAV_CMD_NAV_RETURN_TO_LAUNCH
NAV_LAND = event.MAV_CMD_NAV_LAND
NAV_TAKEOFF = event.MAV_CMD_NAV_TAKEOFF
DO_CHANGE_SPEED = event.MAV_CMD_DO_CHANGE_SPEED
LOCATION_COMMANDS = frozenset(
    {NAV_WAYPOINT, NAV_LOITER_UNLIM, NAV_LOITER_TIME, NAV_RETURN_TO_LAUNCH, NAV_LAND, NAV_TAKEOFF}
)
MISSION_COMMANDS = LOCATION_COMMANDS | {DO_CHANGE_SPEED}
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

# Telemetry: message id -> default interval (s). Groups answer REQUEST_DATA_STREAM.
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


# -- parameters -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One ArduCopter parameter: its MAV_PARAM_TYPE and default."""

    type: int
    default: float

    def coerce(self, value: float) -> float:
        """`value` as the parameter's type stores it (ArduPilot rounds and clamps integers)."""
        bounds = _INT_BOUNDS.get(self.type)
        if bounds is None:
            return _f32(max(-FLOAT32_MAX, min(FLOAT32_MAX, value)))
        low, high = bounds
        return float(min(high, max(low, math.floor(value + 0.5))))


_INT_BOUNDS = {
    event.MAV_PARAM_TYPE_INT8: (-128, 127),
    event.MAV_PARAM_TYPE_INT16: (-32768, 32767),
    event.MAV_PARAM_TYPE_INT32: (-(2**31), 2**31 - 1),
}
_I8, _I16, _I32, _F = (
    event.MAV_PARAM_TYPE_INT8,
    event.MAV_PARAM_TYPE_INT16,
    event.MAV_PARAM_TYPE_INT32,
    event.MAV_PARAM_TYPE_REAL32,
)
PARAMS: dict[str, ParamSpec] = {
    "ARMING_CHECK": ParamSpec(_I32, 1),
    "AUTO_OPTIONS": ParamSpec(_I32, 0),
    "BATT_CAPACITY": ParamSpec(_I32, 3300),
    "DISARM_DELAY": ParamSpec(_I8, 10),
    "FENCE_ENABLE": ParamSpec(_I8, 0),
    "FS_GCS_ENABLE": ParamSpec(_I8, 0),
    "LAND_ALT_LOW": ParamSpec(_I16, 1000),
    "LAND_SPEED": ParamSpec(_I16, 50),
    "LAND_SPEED_HIGH": ParamSpec(_I16, 0),
    "MIS_RESTART": ParamSpec(_I8, 0),
    "RTL_ALT": ParamSpec(_I32, 1500),
    "RTL_ALT_FINAL": ParamSpec(_I16, 0),
    "RTL_LOIT_TIME": ParamSpec(_I32, 5000),
    "RTL_SPEED": ParamSpec(_I16, 0),
    "SYSID_MYGCS": ParamSpec(_I16, 255),
    "SYSID_THISMAV": ParamSpec(_I16, 1),
    "WPNAV_SPEED": ParamSpec(_F, 1000),
    "WPNAV_SPEED_DN": ParamSpec(_F, 150),
    "WPNAV_SPEED_UP": ParamSpec(_F, 250),
}
"""The parameters the double keeps (units as ArduCopter: cm, cm/s, ms, mAh). ARMING_CHECK,
FENCE_ENABLE, FS_GCS_ENABLE and SYSID_MYGCS are stored and reported but change nothing."""
PARAM_ORDER = tuple(sorted(PARAMS))


# -- mission items ----------------------------------------------------------------------


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


def _f32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def _u16(value: float) -> int:
    return min(65535, max(0, int(value)))


Params = tuple[float, float, float, float]


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
        kept = (min(255, max(0, int(p[0]))), _f32(p[1]), min(127, max(-128, int(p[2]))), 0)
    else:
        kept = (0, 0, 0, 0)
    return (float(kept[0]), float(kept[1]), float(kept[2]), float(kept[3]))


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
    z = _f32(int(_f32(_f32(m.z) * 100.0)) * _f32(0.01))
    return MissionItem(m.seq, frame, m.command, *kept, x=m.x, y=m.y, z=z)


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


# -- flight legs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Climb:
    """Vertical climb (or descent) to `alt` metres above home."""

    alt: float


@dataclass(frozen=True, slots=True)
class Goto:
    """Straight flight to (lat, lon) degrees and `alt` metres above home."""

    lat: float
    lon: float
    alt: float


@dataclass(frozen=True, slots=True)
class Hold:
    """Stay where the vehicle is for `seconds` (None: until told otherwise)."""

    seconds: float | None


@dataclass(frozen=True, slots=True)
class Descend:
    """Land where the vehicle is: ArduCopter's LAND descent profile down to the ground."""


Leg = Climb | Goto | Hold | Descend
PlanDone = Callable[[float], None]


@dataclass(slots=True)
class Upload:
    """A mission upload in progress: who sends it, which item is expected next."""

    peer: tuple[int, int]
    count: int
    expected: int = 0
    last_item: float = 0.0
    last_request: float = 0.0


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
    sender: tuple[int, int]


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


class VehicleDouble:
    """Sans-IO ArduCopter double: feed it bytes and time, send what it queues."""

    def __init__(
        self,
        *,
        system_id: int = 1,
        home: tuple[float, float, float] = (-35.363261, 149.165230, 584.0),
        speed: float = 10.0,
        ready_after: float = 40.0,
        seed: int = 0,
    ) -> None:
        if not 1 <= system_id <= 255:
            raise ValueError("system id must be 1-255")
        if speed <= 0 or ready_after < 0:
            raise ValueError("speed must be positive and ready_after not negative")
        self.system_id = system_id
        self.ready_after = ready_after
        self.counters: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._mav = event.MAVLink(None, system_id, COMPONENT_ID)
        self._parser = event.MAVLink(None)
        self._parser.robust_parsing = True
        self._out = bytearray()
        self._params = {name: spec.default for name, spec in PARAMS.items()}
        self._params["SYSID_THISMAV"] = float(system_id)
        self._params["WPNAV_SPEED"] = PARAMS["WPNAV_SPEED"].coerce(speed * 100)
        self._streams = Streams()
        self._boot: float | None = None
        self._clock = 0.0
        """Simulated time the flight has been advanced to."""
        self._origin_set = False
        self._ready = False
        self._ground_alt = home[2]
        self._home = home
        self._lat, self._lon, self._alt = home[0], home[1], 0.0
        """Current position: degrees, and metres above the ground level at the first home."""
        self._velocity = (0.0, 0.0, 0.0)
        """North, east, down in m/s over the last advance."""
        self._heading = 0.0
        self._on_ground = True
        self._mode = "STABILIZE"
        self._armed = False
        self._auto_armed = False
        self._ground_since: float | None = None
        self._consumed_mah = 0.0
        self._plan: deque[Leg] = deque()
        self._plan_done: PlanDone | None = None
        self._leg_elapsed = 0.0
        self._speed_override: float | None = None
        self._mission: list[MissionItem] = []
        self._current_seq = 0
        self._mission_state = event.MISSION_STATE_NO_MISSION
        self._upload: Upload | None = None

    # -- read-only introspection -------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def armed(self) -> bool:
        return self._armed

    @property
    def landed(self) -> bool:
        return self._on_ground

    @property
    def position(self) -> tuple[float, float, float]:
        """Latitude, longitude (degrees) and altitude above home (metres), the truth."""
        return (self._lat, self._lon, self._alt_above_home())

    @property
    def mission(self) -> list[MissionItem]:
        """Stored items as a download would return them; item 0 is home."""
        return [self._home_item(), *self._mission]

    @property
    def current_seq(self) -> int:
        return self._current_seq

    @property
    def params(self) -> dict[str, float]:
        return dict(self._params)

    @property
    def ready(self) -> bool:
        """GPS and EKF position good: arming in GUIDED is possible."""
        return self._ready

    # -- sans-IO interface -------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> None:
        """Take bytes from the companion; messages in them are acted on at `now`."""
        self._advance(now)
        try:
            messages = self._parser.parse_buffer(data) or []
        except event.MAVError:
            # robust_parsing turns bad frames into BAD_DATA; this is a last resort.
            self.counters["bad_data"] += 1
            self.counters["bad_bytes"] += len(data)
            return
        for message in messages:
            self._dispatch(message, now)

    def step(self, now: float) -> None:
        """Advance the flight to `now` and queue the periodic messages that fell due."""
        self._advance(now)
        self._check_upload(now)
        for msgid in self._streams.falling_due(now):
            message = self._build(msgid, now)
            if message is not None:
                self._send(message)

    def data_to_send(self) -> bytes:
        """The MAVLink bytes queued for the companion, clearing the queue."""
        data = bytes(self._out)
        self._out.clear()
        return data

    # -- sending -----------------------------------------------------------------------

    def _send(self, message: Any) -> None:
        self._out += message.pack(self._mav)
        self._mav.seq = (self._mav.seq + 1) % 256
        self.counters["sent"] += 1

    def _text(self, severity: int, text: str) -> None:
        self._send(self._mav.statustext_encode(severity, text.encode()[:50]))

    def _ack(self, command: int, result: int, sender: tuple[int, int]) -> None:
        self._send(self._mav.command_ack_encode(command, result, 0, 0, *sender))

    def _mission_ack(self, result: int, peer: tuple[int, int], mission_type: int = 0) -> None:
        if result != event.MAV_MISSION_ACCEPTED:
            self.counters["mission_nacks"] += 1
        self._send(self._mav.mission_ack_encode(*peer, result, mission_type))

    # -- receiving ---------------------------------------------------------------------

    def _dispatch(self, message: Any, now: float) -> None:
        msgid = message.get_msgId()
        if msgid == event.MAVLINK_MSG_ID_BAD_DATA:
            self.counters["bad_data"] += 1
            self.counters["bad_bytes"] += len(message.data)
            return
        if msgid == event.MAVLINK_MSG_ID_UNKNOWN:
            self.counters["unknown_messages"] += 1
            return
        self.counters["received"] += 1
        target = getattr(message, "target_system", 0)
        component = getattr(message, "target_component", 0)
        if target not in (0, self.system_id) or component not in (0, COMPONENT_ID):
            # ArduPilot routes these on to other links; the vehicle itself ignores them.
            self.counters["not_for_us"] += 1
            return
        handler = _HANDLERS.get(msgid)
        if handler is None:
            self.counters["ignored"] += 1
            return
        handler(self, message, now)

    @staticmethod
    def _sender(message: Any) -> tuple[int, int]:
        return (message.get_srcSystem(), message.get_srcComponent())

    # -- time, readiness and the flight ------------------------------------------------

    def _advance(self, now: float) -> None:
        if self._boot is None:
            self._boot = now
            self._clock = now
            self._text(event.MAV_SEVERITY_INFO, "EVENT vehicle double (not ArduPilot)")
        self._update_readiness(now)
        if now <= self._clock:
            return
        dt = now - self._clock
        self._drain_battery(dt)
        start = (self._lat, self._lon, self._alt)
        self._fly(now)
        self._velocity = self._velocity_between(start, dt)
        self._auto_disarm(now)

    def _update_readiness(self, now: float) -> None:
        assert self._boot is not None
        age = now - self._boot
        if not self._origin_set and age >= self.ready_after / 2:
            self._origin_set = True
            self._text(event.MAV_SEVERITY_INFO, "EKF3 IMU0 origin set")
        if not self._ready and age >= self.ready_after:
            self._ready = True
            self._text(event.MAV_SEVERITY_INFO, "EKF3 IMU0 is using GPS")
            self._set_home(now)

    def _set_home(self, now: float) -> None:
        self._home = (self._lat, self._lon, self._ground_alt + self._alt)
        self._send(self._home_position(now))

    def _drain_battery(self, dt: float) -> None:
        self._consumed_mah += self._current() * dt / 3.6

    def _current(self) -> float:
        if not self._armed:
            return CURRENT_IDLE
        return CURRENT_ARMED if self._on_ground else CURRENT_FLYING

    def _fly(self, now: float) -> None:
        """Fly the plan from `_clock` to `now`, calling back when it runs out. Every pass
        finishes a leg or reaches `now`; callbacks end in a never-ending Hold or no plan."""
        while self._clock < now:
            if not self._plan:
                self._clock = now
                return
            used, finished = self._fly_leg(self._plan[0], now - self._clock)
            self._clock += used
            self._leg_elapsed += used
            if finished:
                self._plan.popleft()
                self._leg_elapsed = 0.0
                if not self._plan and self._plan_done is not None:
                    done, self._plan_done = self._plan_done, None
                    done(self._clock)

    def _fly_leg(self, leg: Leg, dt: float) -> tuple[float, bool]:
        """Move along `leg` for at most `dt` seconds: (seconds used, leg finished)."""
        if isinstance(leg, Hold):
            if leg.seconds is None:
                return dt, False
            left = leg.seconds - self._leg_elapsed
            return (left, True) if left <= dt else (dt, False)
        if isinstance(leg, Descend):
            return self._descend(dt)
        target = (
            (self._lat, self._lon, leg.alt)
            if isinstance(leg, Climb)
            else (leg.lat, leg.lon, leg.alt)
        )
        return self._move_towards(target, dt)

    def _move_towards(self, target: tuple[float, float, float], dt: float) -> tuple[float, bool]:
        north, east = self._offset_to(target[0], target[1])
        distance = math.hypot(north, east)
        climb = target[2] - self._alt
        if climb > 0:
            self._take_off()
        horizontal = self._horizontal_speed()
        vertical = self._climb_speed() if climb > 0 else self._sink_speed()
        need = max(distance / horizontal, abs(climb) / vertical)
        if need <= dt:
            self._lat, self._lon, self._alt = target
            return need, True
        if distance > 0:
            step = min(distance, horizontal * dt) / distance
            self._move_by(north * step, east * step)
            self._heading = math.degrees(math.atan2(east, north)) % 360
        self._alt += math.copysign(min(abs(climb), vertical * dt), climb)
        return dt, False

    def _descend(self, dt: float) -> tuple[float, bool]:
        used = 0.0
        while used < dt and self._alt > 0:
            low = self._params["LAND_ALT_LOW"] / 100
            rate = self._land_speed(self._alt > low)
            floor = low if self._alt > low else 0.0
            need = (self._alt - floor) / rate
            if need > dt - used:
                self._alt -= rate * (dt - used)
                return dt, False
            self._alt = floor
            used += need
        self._touch_down(self._clock + used)
        return used, True

    def _take_off(self) -> None:
        if self._on_ground:
            self._on_ground = False
            self._ground_since = None

    def _touch_down(self, at: float) -> None:
        self._alt = 0.0
        if not self._on_ground:
            self._on_ground = True
            self._ground_since = at

    def _auto_disarm(self, now: float) -> None:
        """ArduCopter disarms a copter left armed on the ground for DISARM_DELAY seconds
        (`Copter::auto_disarm_check`)."""
        delay = self._params["DISARM_DELAY"]
        if not self._armed or not self._on_ground or delay <= 0 or self._ground_since is None:
            return
        if self._plan and not isinstance(self._plan[0], Hold):
            return
        if now - self._ground_since >= delay:
            self._disarm()

    def _horizontal_speed(self) -> float:
        if self._mode == "RTL" and self._params["RTL_SPEED"] > 0:
            return self._params["RTL_SPEED"] / 100
        if self._speed_override is not None:
            return self._speed_override
        return max(self._params["WPNAV_SPEED"], 20.0) / 100

    def _climb_speed(self) -> float:
        return max(self._params["WPNAV_SPEED_UP"], 10.0) / 100

    def _sink_speed(self) -> float:
        return max(self._params["WPNAV_SPEED_DN"], 10.0) / 100

    def _land_speed(self, high: bool) -> float:
        """ArduCopter's landing descent: LAND_SPEED_HIGH (or WPNAV_SPEED_DN) above
        LAND_ALT_LOW, LAND_SPEED below it."""
        if high:
            fast = self._params["LAND_SPEED_HIGH"]
            return (fast if fast > 0 else max(self._params["WPNAV_SPEED_DN"], 10.0)) / 100
        return max(self._params["LAND_SPEED"], 10.0) / 100

    def _alt_above_home(self) -> float:
        return self._ground_alt + self._alt - self._home[2]

    def _offset_to(self, lat: float, lon: float) -> tuple[float, float]:
        north = (lat - self._lat) * METRES_PER_DEGREE
        east = (lon - self._lon) * METRES_PER_DEGREE * math.cos(math.radians(self._lat))
        return north, east

    def _move_by(self, north: float, east: float) -> None:
        self._lat += north / METRES_PER_DEGREE
        self._lon += east / (METRES_PER_DEGREE * math.cos(math.radians(self._lat)))

    def _velocity_between(
        self, start: tuple[float, float, float], dt: float
    ) -> tuple[float, float, float]:
        north = (self._lat - start[0]) * METRES_PER_DEGREE
        east = (self._lon - start[1]) * METRES_PER_DEGREE * math.cos(math.radians(self._lat))
        return (north / dt, east / dt, (start[2] - self._alt) / dt)

    def _start_plan(self, legs: list[Leg], done: PlanDone | None = None) -> None:
        if not legs and done is not None:
            # Nothing to fly: finish at the next advance, from the flight loop (no recursion).
            legs = [Hold(0.0)]
        self._plan = deque(legs)
        self._plan_done = done
        self._leg_elapsed = 0.0

    def _hold_here(self) -> None:
        self._start_plan([] if self._on_ground else [Hold(None)])

    def _alt_of(self, relative: bool, z: float) -> float:
        """An altitude from a frame (relative to home, or AMSL) as metres above home."""
        return z if relative else z - self._home[2]

    def _local_alt(self, above_home: float) -> float:
        """Metres above home -> metres above the ground level the double flies over."""
        return above_home + self._home[2] - self._ground_alt

    # -- modes and arming --------------------------------------------------------------

    def _set_mode(self, name: str, now: float) -> bool:
        """Switch mode as `Copter::set_mode` does; False (with a STATUSTEXT) if refused."""
        if name == self._mode:
            return True
        # ArduCopter checks a mode's requirements only when armed (ignore_checks = !armed).
        if self._armed and name in POSITION_MODES and not self._ready:
            self._text(
                event.MAV_SEVERITY_WARNING, f"Mode change to {name} failed: requires position"
            )
            return False
        if name == "AUTO" and self._armed and not self._auto_can_start():
            return False
        self._mode = name
        self._speed_override = None
        _MODE_ENTRY[name](self, now)
        return True

    def _auto_can_start(self) -> bool:
        if len(self._mission) < 1:
            self._text(event.MAV_SEVERITY_WARNING, "Mode change to AUTO failed: init failed")
            return False
        if self._on_ground and self._mission[0].command != NAV_TAKEOFF:
            self._text(event.MAV_SEVERITY_CRITICAL, "Auto: Missing Takeoff Cmd")
            return False
        return True

    def _enter_hold(self, now: float) -> None:
        self._hold_here()

    def _enter_auto(self, now: float) -> None:
        if int(self._params["AUTO_OPTIONS"]) & 2:
            self._auto_armed = self._armed
        self._mission_start_or_resume(now)

    def _enter_rtl(self, now: float) -> None:
        if self._on_ground:
            self._start_plan([])
            return
        self._start_plan(self._rtl_legs(), self._landed_and_disarm)

    def _enter_land(self, now: float) -> None:
        if not self._armed:
            self._start_plan([])
            return
        # On the ground already, the land detector alone runs before the disarm.
        legs: list[Leg] = [Hold(LAND_DETECT)] if self._on_ground else [Descend(), Hold(LAND_DETECT)]
        self._start_plan(legs, self._landed_and_disarm)

    def _rtl_legs(self) -> list[Leg]:
        """ArduCopter RTL: climb to RTL_ALT (or stay higher), fly home, loiter RTL_LOIT_TIME,
        then land (or hold at RTL_ALT_FINAL)."""
        home_lat, home_lon, _ = self._home
        here = self._alt_above_home()
        rtl_alt = max(here, min(self._params["RTL_ALT"] / 100, MAX_FLIGHT_ALT))
        legs: list[Leg] = []
        if rtl_alt > here:
            legs.append(Climb(self._local_alt(rtl_alt)))
        legs.append(Goto(home_lat, home_lon, self._local_alt(rtl_alt)))
        legs.append(Hold(self._params["RTL_LOIT_TIME"] / 1000))
        final = self._params["RTL_ALT_FINAL"] / 100
        if final > 0:
            legs += [Goto(home_lat, home_lon, self._local_alt(final)), Hold(None)]
        else:
            legs += [Descend(), Hold(LAND_DETECT)]
        return legs

    def _landed_and_disarm(self, now: float) -> None:
        self._disarm()

    def _arm(self, force: bool, now: float) -> tuple[int, str | None]:
        """(MAV_RESULT, reason sent as STATUSTEXT) for an arming request."""
        if self._armed:
            return ACCEPTED, None
        armable = self._mode in ARMABLE_MODES or (
            self._mode == "AUTO" and int(self._params["AUTO_OPTIONS"]) & 1
        )
        if not armable:
            return FAILED, "Arm: Mode not armable"
        if not force and not self._origin_set:
            return FAILED, "Arm: Need Alt Estimate"
        if not force and not self._ready and self._mode in POSITION_MODES:
            return FAILED, "Arm: Need Position Estimate"
        self._armed = True
        self._auto_armed = False
        self._ground_since = now
        self._text(event.MAV_SEVERITY_INFO, "Arming motors")
        if self._ready:
            # ArduCopter moves home to where it arms (AP_Arming_Copter::arm).
            self._set_home(now)
        return ACCEPTED, None

    def _disarm(self) -> None:
        if not self._armed:
            return
        self._armed = False
        self._auto_armed = False
        self._ground_since = None
        self._text(event.MAV_SEVERITY_INFO, "Disarming motors")
        if not self._on_ground:
            # Forced disarm in the air: the double drops to the ground at once.
            self.counters["forced_disarm_in_air"] += 1
            self._touch_down(self._clock)
        self._start_plan([])

    # -- the mission in AUTO -----------------------------------------------------------

    def _mission_start_or_resume(self, now: float) -> None:
        """`AP_Mission::start_or_resume`: restart when complete or MIS_RESTART=1, else go on
        from the current item."""
        if not self._mission:
            self._mission_state = event.MISSION_STATE_NO_MISSION
            self._hold_here()
            return
        if (
            self._current_seq < 1
            or self._mission_state == event.MISSION_STATE_COMPLETE
            or self._params["MIS_RESTART"] >= 1
        ):
            self._current_seq = 1
        self._mission_state = event.MISSION_STATE_ACTIVE
        self._run_item(self._current_seq, now)

    def _run_item(self, seq: int, now: float) -> None:
        """Start item `seq` (running DO items on the way), or finish the mission."""
        while seq <= len(self._mission):
            item = self._mission[seq - 1]
            self._set_current(seq)
            self._text(event.MAV_SEVERITY_INFO, f"Mission: {seq} {MISSION_TEXT[item.command]}")
            if item.command == DO_CHANGE_SPEED:
                if item.param2 > 0:
                    self._speed_override = item.param2
                seq += 1
                continue
            self._fly_item(seq)
            return
        self._mission_complete(now)

    def _fly_item(self, seq: int) -> None:
        """Fly nav item `seq`, unless the motors wait on the ground for MISSION_START or
        throttle (`Copter::update_auto_armed`)."""
        if self._on_ground and not self._auto_armed:
            self._start_plan([])
            return
        item = self._mission[seq - 1]
        self._start_plan(self._item_legs(item), partial(self._item_done, seq))

    def _item_legs(self, item: MissionItem) -> list[Leg]:
        if item.command == NAV_RETURN_TO_LAUNCH:
            return self._rtl_legs()
        lat, lon = (item.x / 1e7, item.y / 1e7) if (item.x or item.y) else (self._lat, self._lon)
        alt = self._local_alt(self._alt_of(item.relative_alt, item.z))
        if item.command == NAV_TAKEOFF:
            return [Climb(alt)] if alt > self._alt else []
        if item.command == NAV_LAND:
            return [Goto(lat, lon, self._alt), Descend(), Hold(LAND_DETECT)]
        hold = None if item.command == NAV_LOITER_UNLIM else item.param1
        return [Goto(lat, lon, alt), Hold(hold)]

    def _item_done(self, seq: int, now: float) -> None:
        if self._mode != "AUTO":
            return
        if seq > len(self._mission):
            # The mission was cut short by an upload while this item flew.
            self._mission_complete(now)
            return
        item = self._mission[seq - 1]
        if item.command == NAV_WAYPOINT:
            self._text(event.MAV_SEVERITY_INFO, f"Reached command #{seq}")
        self._send(self._mav.mission_item_reached_encode(seq))
        self._run_item(seq + 1, now)

    def _mission_complete(self, now: float) -> None:
        """`ModeAuto::exit_mission`: disarm if landed, else loiter (still in AUTO)."""
        self._mission_state = event.MISSION_STATE_COMPLETE
        self._send(self._mission_current())
        if self._on_ground:
            self._disarm()
        else:
            self._hold_here()

    def _set_current(self, seq: int) -> None:
        if seq != self._current_seq:
            self._current_seq = seq
            self._send(self._mission_current())

    # -- message handlers --------------------------------------------------------------

    def _on_heartbeat(self, m: Any, now: float) -> None:
        self.counters["heartbeats_received"] += 1

    def _on_command_long(self, m: Any, now: float) -> None:
        command = Command(
            m.command,
            (m.param1, m.param2, m.param3, m.param4),
            m.param5,
            m.param6,
            m.param7,
            event.MAV_FRAME_GLOBAL_RELATIVE_ALT,
            self._sender(m),
        )
        self._run_command(command, now)

    def _on_command_int(self, m: Any, now: float) -> None:
        command = Command(
            m.command,
            (m.param1, m.param2, m.param3, m.param4),
            m.x / 1e7,
            m.y / 1e7,
            m.z,
            m.frame,
            self._sender(m),
        )
        self._run_command(command, now)

    def _run_command(self, command: Command, now: float) -> None:
        self.counters["commands"] += 1
        handler = _COMMANDS.get(command.command)
        if handler is None:
            self.counters["unsupported_commands"] += 1
            result = UNSUPPORTED
        else:
            try:
                result = handler(self, command, now)
            except (ValueError, OverflowError):
                # A NaN or infinite parameter where a number is needed.
                self.counters["invalid_commands"] += 1
                result = DENIED
        self._ack(command.command, result, command.sender)

    def _on_set_mode(self, m: Any, now: float) -> None:
        """The deprecated SET_MODE message, answered like DO_SET_MODE."""
        result = self._mode_result(m.base_mode, m.custom_mode, now)
        self._ack(event.MAV_CMD_DO_SET_MODE, result, self._sender(m))

    def _on_set_position_target(self, m: Any, now: float) -> None:
        """SET_POSITION_TARGET_GLOBAL_INT: a position target in GUIDED, no ACK (ArduPilot
        sends none). Velocity-only targets and other modes are ignored."""
        position_ignored = m.type_mask & 0b111 == 0b111
        if self._mode != "GUIDED" or position_ignored:
            self.counters["position_targets_ignored"] += 1
            return
        if m.coordinate_frame in (
            event.MAV_FRAME_GLOBAL_INT,
            event.MAV_FRAME_GLOBAL,
        ):
            relative = False
        elif m.coordinate_frame in RELATIVE_FRAMES:
            relative = True
        else:
            self.counters["position_targets_ignored"] += 1
            return
        alt = self._alt_of(relative, m.alt)
        if not (abs(m.lat_int) <= 900_000_000 and abs(m.lon_int) <= 1_800_000_000):
            self.counters["position_targets_ignored"] += 1
            return
        if not abs(alt) < MAX_FLIGHT_ALT:
            self.counters["position_targets_ignored"] += 1
            return
        self._guided_goto(m.lat_int / 1e7, m.lon_int / 1e7, alt)

    def _on_request_data_stream(self, m: Any, now: float) -> None:
        """REQUEST_DATA_STREAM: a rate for a group of messages (ArduPilot's SRx_ streams)."""
        group = STREAM_GROUPS.get(m.req_stream_id)
        if group is None:
            self.counters["ignored"] += 1
            return
        if m.start_stop == 0 or m.req_message_rate == 0:
            interval = None
        else:
            interval = 1.0 / m.req_message_rate
        for msgid in group:
            self._streams.set_interval(msgid, interval)

    # parameters

    def _on_param_request_list(self, m: Any, now: float) -> None:
        for index in range(len(PARAM_ORDER)):
            self._send(self._param_value(index))

    def _on_param_request_read(self, m: Any, now: float) -> None:
        if m.param_index >= 0:
            index = m.param_index
        else:
            name = _text_field(m.param_id)
            index = PARAM_ORDER.index(name) if name in PARAMS else len(PARAM_ORDER)
        if index >= len(PARAM_ORDER):
            self.counters["param_unknown"] += 1
            return
        self._send(self._param_value(index))

    def _on_param_set(self, m: Any, now: float) -> None:
        """PARAM_SET: ArduPilot silently ignores an unknown name or a NaN/inf value, and
        answers a set with the stored value (`GCS_MAVLINK::handle_param_set`)."""
        name = _text_field(m.param_id)
        spec = PARAMS.get(name)
        if spec is None:
            self.counters["param_unknown"] += 1
            return
        if not math.isfinite(m.param_value):
            self.counters["param_invalid"] += 1
            return
        self._params[name] = spec.coerce(m.param_value)
        self._send(self._param_value(PARAM_ORDER.index(name)))

    def _param_value(self, index: int) -> Any:
        name = PARAM_ORDER[index]
        return self._mav.param_value_encode(
            name.encode(), self._params[name], PARAMS[name].type, len(PARAM_ORDER), index
        )

    # mission protocol

    def _on_mission_count(self, m: Any, now: float) -> None:
        peer = self._sender(m)
        if m.mission_type != event.MAV_MISSION_TYPE_MISSION:
            self._mission_ack(event.MAV_MISSION_UNSUPPORTED, peer, m.mission_type)
            return
        if self._upload is not None and self._upload.peer != peer:
            self._mission_ack(event.MAV_MISSION_DENIED, peer)
            return
        if m.count > MAX_MISSION_ITEMS:
            self._mission_ack(event.MAV_MISSION_NO_SPACE, peer)
            self._text(event.MAV_SEVERITY_WARNING, f"Only {MAX_MISSION_ITEMS} items are supported")
            return
        # Not atomic: ArduPilot truncates to the new count now and overwrites item by item.
        del self._mission[max(0, m.count - 1) :]
        if m.count == 0:
            self._upload = None
            self._upload_complete(peer)
            return
        self._upload = Upload(peer, m.count, 0, now, now)
        self._request_item(now)

    def _request_item(self, now: float) -> None:
        upload = self._upload
        assert upload is not None
        upload.last_request = now
        self._send(self._mav.mission_request_int_encode(*upload.peer, upload.expected, 0))

    def _on_mission_item_int(self, m: Any, now: float) -> None:
        self._store_item(m, m, now)

    def _on_mission_item(self, m: Any, now: float) -> None:
        """MISSION_ITEM (float lat/lon): converted to the INT form as ArduPilot does."""
        if m.mission_type == event.MAV_MISSION_TYPE_MISSION and (
            abs(m.x) > 90 or abs(m.y) > 180 or math.isnan(m.x) or math.isnan(m.y)
        ):
            code = (
                event.MAV_MISSION_INVALID_PARAM5_X
                if abs(m.x) > 90 or math.isnan(m.x)
                else event.MAV_MISSION_INVALID_PARAM6_Y
            )
            # A conversion failure NACKs the item; the upload goes on (GCS_Common).
            self._mission_ack(code, self._sender(m))
            return
        converted = _ItemInt(m)
        self._store_item(m, converted, now)

    def _store_item(self, m: Any, item: Any, now: float) -> None:
        """One uploaded item (`MissionItemProtocol::handle_mission_item`)."""
        peer = self._sender(m)
        upload = self._upload
        if m.mission_type != event.MAV_MISSION_TYPE_MISSION:
            self._mission_ack(event.MAV_MISSION_UNSUPPORTED, peer, m.mission_type)
            return
        if upload is None:
            self._mission_ack(event.MAV_MISSION_ERROR, peer)
            return
        if item.seq != upload.expected:
            # A NACK that does not end the upload: the request is repeated on timeout.
            self._mission_ack(event.MAV_MISSION_INVALID_SEQUENCE, peer)
            return
        if peer != upload.peer:
            self._mission_ack(event.MAV_MISSION_DENIED, peer)
            return
        stored = normalise_item(item)
        if isinstance(stored, int):
            self._reject_item(stored, peer)
            return
        if item.seq > 0:
            index = item.seq - 1
            if index < len(self._mission):
                self._mission[index] = stored
            else:
                self._mission.append(stored)
        upload.expected += 1
        upload.last_item = now
        if upload.expected >= upload.count:
            self._upload = None
            self._upload_complete(peer)
        else:
            self._request_item(now)

    def _reject_item(self, code: int, peer: tuple[int, int]) -> None:
        """A refused item ends the upload; items already stored stay (not atomic)."""
        self._mission_ack(code, peer)
        self._upload = None

    def _upload_complete(self, peer: tuple[int, int]) -> None:
        if not self._mission:
            self._mission_state = event.MISSION_STATE_NO_MISSION
        elif self._mission_state != event.MISSION_STATE_ACTIVE:
            self._mission_state = event.MISSION_STATE_NOT_STARTED
        if self._current_seq > len(self._mission):
            self._current_seq = 0
        self._text(event.MAV_SEVERITY_INFO, "Flight plan received")
        self._mission_ack(event.MAV_MISSION_ACCEPTED, peer)

    def _check_upload(self, now: float) -> None:
        upload = self._upload
        if upload is None:
            return
        if now - upload.last_item > UPLOAD_TIMEOUT:
            self._upload = None
            self.counters["upload_timeouts"] += 1
            self._text(event.MAV_SEVERITY_WARNING, "Mission upload timeout")
            self._send(
                self._mav.mission_ack_encode(*upload.peer, event.MAV_MISSION_OPERATION_CANCELLED, 0)
            )
        elif now - upload.last_request > REQUEST_RESEND:
            self._request_item(now)

    def _on_mission_request_list(self, m: Any, now: float) -> None:
        peer = self._sender(m)
        if m.mission_type != event.MAV_MISSION_TYPE_MISSION:
            self._mission_ack(event.MAV_MISSION_UNSUPPORTED, peer, m.mission_type)
        elif self._upload is not None:
            self._mission_ack(event.MAV_MISSION_DENIED, peer)
        else:
            self._send(self._mav.mission_count_encode(*peer, len(self._mission) + 1, 0))

    def _on_mission_request_int(self, m: Any, now: float) -> None:
        item = self._requested_item(m)
        if item is not None:
            x, y = item.x, item.y
            self._send(
                self._mav.mission_item_int_encode(*self._sender(m), *item.head(), x, y, item.z)
            )

    def _on_mission_request(self, m: Any, now: float) -> None:
        """The deprecated MISSION_REQUEST, answered with a float MISSION_ITEM."""
        item = self._requested_item(m)
        if item is not None:
            x, y = item.x / 1e7, item.y / 1e7
            self._send(self._mav.mission_item_encode(*self._sender(m), *item.head(), x, y, item.z))

    def _requested_item(self, m: Any) -> MissionItem | None:
        peer = self._sender(m)
        if m.mission_type != event.MAV_MISSION_TYPE_MISSION:
            self._mission_ack(event.MAV_MISSION_UNSUPPORTED, peer, m.mission_type)
            return None
        if self._upload is not None:
            self._mission_ack(event.MAV_MISSION_DENIED, peer)
            return None
        if m.seq > len(self._mission):
            self._mission_ack(event.MAV_MISSION_INVALID_SEQUENCE, peer)
            return None
        return self.mission[int(m.seq)]

    def _on_mission_clear_all(self, m: Any, now: float) -> None:
        peer = self._sender(m)
        if m.mission_type != event.MAV_MISSION_TYPE_MISSION:
            self._mission_ack(event.MAV_MISSION_UNSUPPORTED, peer, m.mission_type)
            return
        running = self._mode == "AUTO" and self._mission_state == event.MISSION_STATE_ACTIVE
        if self._upload is not None or running:
            # AP_Mission::clear refuses while the mission runs.
            self._mission_ack(event.MAV_MISSION_ERROR, peer)
            return
        self._mission.clear()
        self._current_seq = 0
        self._mission_state = event.MISSION_STATE_NO_MISSION
        self._mission_ack(event.MAV_MISSION_ACCEPTED, peer)

    def _on_mission_set_current(self, m: Any, now: float) -> None:
        self._jump_to(m.seq, now)
        self._send(self._mission_current())

    def _on_mission_ack(self, m: Any, now: float) -> None:
        self.counters["mission_acks_received"] += 1

    def _jump_to(self, seq: int, now: float) -> bool:
        """`AP_Mission::set_current_cmd`: make `seq` current; if the mission runs, fly it."""
        if not 1 <= seq <= len(self._mission):
            return False
        self._current_seq = seq
        if self._mode == "AUTO" and self._mission_state == event.MISSION_STATE_ACTIVE:
            self._run_item(seq, now)
        return True

    # -- commands ----------------------------------------------------------------------

    def _cmd_set_mode(self, c: Command, now: float) -> int:
        return self._mode_result(int(c.params[0]), int(c.params[1]), now)

    def _mode_result(self, base_mode: int, custom_mode: int, now: float) -> int:
        """`GCS_MAVLINK::_set_mode_common`: only custom modes; FAILED when the mode refuses."""
        if not base_mode & event.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            return DENIED
        name = MODE_NAMES.get(custom_mode)
        if name is None:
            self._text(event.MAV_SEVERITY_WARNING, f"No such mode {custom_mode}")
            return FAILED
        return ACCEPTED if self._set_mode(name, now) else FAILED

    def _cmd_arm_disarm(self, c: Command, now: float) -> int:
        if c.params[0] == 1:
            result, reason = self._arm(c.params[1] == FORCE_ARM, now)
            if reason is not None:
                self._text(event.MAV_SEVERITY_CRITICAL, reason)
            return result
        if c.params[0] != 0:
            return UNSUPPORTED
        if not self._on_ground and c.params[1] != FORCE_DISARM:
            # Copter refuses a MAVLink disarm in flight unless forced.
            return FAILED
        self._disarm()
        return ACCEPTED

    def _cmd_takeoff(self, c: Command, now: float) -> int:
        """NAV_TAKEOFF: GUIDED only, armed, on the ground (`Mode::do_user_takeoff`)."""
        alt = c.alt
        if self._mode != "GUIDED" or not self._armed or not self._on_ground:
            return FAILED
        if not 0 < alt < MAX_FLIGHT_ALT:
            return FAILED
        self._auto_armed = True
        self._start_plan([Climb(self._local_alt(alt)), Hold(None)])
        return ACCEPTED

    def _cmd_mission_start(self, c: Command, now: float) -> int:
        """MISSION_START: switch to AUTO, let the motors go, run the mission
        (`GCS_MAVLINK_Copter` MAV_CMD_MISSION_START)."""
        if not self._set_mode("AUTO", now):
            return FAILED
        self._auto_armed = self._armed
        if self._mission_state != event.MISSION_STATE_ACTIVE:
            self._mission_start_or_resume(now)
        elif self._on_ground and not self._plan and self._armed:
            # The mission was waiting on the ground for the motors.
            self._fly_item(self._current_seq)
        return ACCEPTED

    def _cmd_reposition(self, c: Command, now: float) -> int:
        """DO_REPOSITION (`GCS_MAVLINK_Copter::handle_command_int_do_reposition`)."""
        change_mode = int(c.params[1]) & event.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE
        if self._mode != "GUIDED" and not change_mode:
            return DENIED
        if c.frame not in ABSOLUTE_FRAMES | RELATIVE_FRAMES:
            return DENIED
        alt = self._alt_of(c.frame in RELATIVE_FRAMES, c.alt)
        if not (abs(c.lat) <= 90 and abs(c.lon) <= 180 and abs(alt) < MAX_FLIGHT_ALT):
            return DENIED
        if self._mode != "GUIDED" and not self._set_mode("GUIDED", now):
            return FAILED
        self._guided_goto(c.lat, c.lon, alt)
        return ACCEPTED

    def _guided_goto(self, lat: float, lon: float, alt_above_home: float) -> None:
        target = Goto(lat, lon, self._local_alt(alt_above_home))
        if self._on_ground and not self._auto_armed:
            # ArduCopter does not take off for a position target (`ModeGuided::pos_control_run`);
            # once a takeoff has started, a new target replaces it.
            return
        self._start_plan([target, Hold(None)])

    def _cmd_rtl(self, c: Command, now: float) -> int:
        return ACCEPTED if self._set_mode("RTL", now) else FAILED

    def _cmd_land(self, c: Command, now: float) -> int:
        return ACCEPTED if self._set_mode("LAND", now) else FAILED

    def _cmd_change_speed(self, c: Command, now: float) -> int:
        if not 0 < c.params[1] < MAX_FLIGHT_SPEED:
            return FAILED
        self._speed_override = c.params[1]
        return ACCEPTED

    def _cmd_set_mission_current(self, c: Command, now: float) -> int:
        ok = self._jump_to(int(c.params[0]), now)
        self._send(self._mission_current())
        return ACCEPTED if ok else DENIED

    def _cmd_set_message_interval(self, c: Command, now: float) -> int:
        msgid, interval_us = int(c.params[0]), c.params[1]
        if msgid not in _BUILDERS:
            return DENIED
        if interval_us == 0:
            seconds: float | None = DEFAULT_INTERVALS.get(msgid)
        elif interval_us < 0:
            seconds = None
        else:
            seconds = interval_us / 1e6
        self._streams.set_interval(msgid, seconds)
        return ACCEPTED

    def _cmd_get_message_interval(self, c: Command, now: float) -> int:
        msgid = int(c.params[0])
        if msgid not in _BUILDERS:
            return DENIED
        seconds = self._streams.intervals.get(msgid)
        interval_us = -1 if seconds is None else round(seconds * 1e6)
        self._send(self._mav.message_interval_encode(msgid, interval_us))
        return ACCEPTED

    def _cmd_request_message(self, c: Command, now: float) -> int:
        msgid = int(c.params[0])
        if msgid not in _BUILDERS:
            return DENIED
        message = self._build(msgid, now)
        if message is not None:
            self._send(message)
        return ACCEPTED

    # -- telemetry ---------------------------------------------------------------------

    def _build(self, msgid: int, now: float) -> Any:
        return _BUILDERS[msgid](self, now)

    def _boot_ms(self, now: float) -> int:
        assert self._boot is not None
        return int((now - self._boot) * 1000)

    def _heartbeat(self, now: float) -> Any:
        base_mode = (
            event.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
            | event.MAV_MODE_FLAG_STABILIZE_ENABLED
            | event.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED
        )
        if self._mode != "STABILIZE":
            base_mode |= event.MAV_MODE_FLAG_GUIDED_ENABLED
        if self._armed:
            base_mode |= event.MAV_MODE_FLAG_SAFETY_ARMED
        status = event.MAV_STATE_ACTIVE if self._armed else event.MAV_STATE_STANDBY
        return self._mav.heartbeat_encode(
            event.MAV_TYPE_QUADROTOR,
            event.MAV_AUTOPILOT_ARDUPILOTMEGA,
            base_mode,
            MODES[self._mode],
            status,
        )

    def _global_position(self, now: float) -> Any:
        vn, ve, vd = self._velocity
        if not self._origin_set:
            # ArduPilot sends zeros until the EKF has an origin.
            lat = lon = alt = relative = 0
        else:
            lat, lon = round(self._lat * 1e7), round(self._lon * 1e7)
            alt = round((self._ground_alt + self._alt) * 1000)
            relative = round(self._alt_above_home() * 1000)
        return self._mav.global_position_int_encode(
            self._boot_ms(now),
            lat,
            lon,
            alt,
            relative,
            _cm_s(vn),
            _cm_s(ve),
            _cm_s(vd),
            round(self._heading * 100) % 36000,
        )

    def _sys_status(self, now: float) -> Any:
        capacity = max(self._params["BATT_CAPACITY"], 1.0)
        remaining = max(0.0, 1 - self._consumed_mah / capacity)
        current = self._current()
        volts = CELLS * (CELL_EMPTY + (CELL_FULL - CELL_EMPTY) * remaining) - 0.02 * current
        healthy = SENSORS if self._ready else SENSORS & ~event.MAV_SYS_STATUS_SENSOR_GPS
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
        fix = event.GPS_FIX_TYPE_3D_FIX if self._ready else event.GPS_FIX_TYPE_NO_FIX
        lat = round(self._lat * 1e7) if self._ready else 0
        lon = round(self._lon * 1e7) if self._ready else 0
        vn, ve, _ = self._velocity
        return self._mav.gps_raw_int_encode(
            self._boot_ms(now) * 1000,
            fix,
            lat,
            lon,
            round((self._ground_alt + self._alt) * 1000) if self._ready else 0,
            self._random.randint(110, 130) if self._ready else 65535,
            self._random.randint(180, 220) if self._ready else 65535,
            round(math.hypot(vn, ve) * 100),
            round(self._heading * 100) % 36000,
            self._random.randint(10, 13) if self._ready else 0,
        )

    def _ekf_status(self, now: float) -> Any:
        if self._ready:
            flags = EKF_GOOD
        elif self._origin_set:
            flags = EKF_ORIGIN_ONLY
        else:
            flags = EKF_NO_ORIGIN
        jitter = self._random.uniform(0.0, 0.02)
        return self._mav.ekf_status_report_encode(
            flags, 0.02 + jitter, 0.03 + jitter, 0.02 + jitter, 0.04 + jitter, 0.0
        )

    def _mission_current(self, now: float = 0.0) -> Any:
        return self._mav.mission_current_encode(
            self._current_seq, len(self._mission), self._mission_state, 0
        )

    def _extended_sys_state(self, now: float) -> Any:
        if self._on_ground:
            state = event.MAV_LANDED_STATE_ON_GROUND
        elif self._plan and isinstance(self._plan[0], Descend):
            state = event.MAV_LANDED_STATE_LANDING
        elif self._plan and isinstance(self._plan[0], Climb) and self._alt < 1.0:
            state = event.MAV_LANDED_STATE_TAKEOFF
        else:
            state = event.MAV_LANDED_STATE_IN_AIR
        return self._mav.extended_sys_state_encode(event.MAV_VTOL_STATE_UNDEFINED, state)

    def _system_time(self, now: float) -> Any:
        return self._mav.system_time_encode(0, self._boot_ms(now))

    def _home_position(self, now: float) -> Any:
        if not self._ready:
            return None
        lat, lon, alt = self._home
        return self._mav.home_position_encode(
            round(lat * 1e7), round(lon * 1e7), round(alt * 1000), 0, 0, 0, [1, 0, 0, 0], 0, 0, 0
        )

    def _home_item(self) -> MissionItem:
        lat, lon, alt = self._home
        return MissionItem(
            0,
            event.MAV_FRAME_GLOBAL,
            NAV_WAYPOINT,
            x=round(lat * 1e7),
            y=round(lon * 1e7),
            z=_f32(int(alt * 100) * _f32(0.01)),
        )


class _ItemInt:
    """A MISSION_ITEM seen as MISSION_ITEM_INT (`convert_MISSION_ITEM_to_MISSION_ITEM_INT`)."""

    def __init__(self, m: Any) -> None:
        self.seq, self.frame, self.command = m.seq, m.frame, m.command
        self.param1, self.param2, self.param3, self.param4 = m.param1, m.param2, m.param3, m.param4
        self.x, self.y, self.z = round(m.x * 1e7), round(m.y * 1e7), m.z


def _cm_s(metres_per_second: float) -> int:
    """A velocity as an int16 of cm/s (clamped: a forced disarm drops in one step)."""
    return max(-32767, min(32767, round(metres_per_second * 100)))


def _text_field(value: Any) -> str:
    if isinstance(value, bytes):
        return value.rstrip(b"\x00").decode("ascii", errors="replace")
    return str(value).rstrip("\x00")


_Handler = Callable[[VehicleDouble, Any, float], None]
_HANDLERS: dict[int, _Handler] = {
    event.MAVLINK_MSG_ID_HEARTBEAT: VehicleDouble._on_heartbeat,
    event.MAVLINK_MSG_ID_COMMAND_LONG: VehicleDouble._on_command_long,
    event.MAVLINK_MSG_ID_COMMAND_INT: VehicleDouble._on_command_int,
    event.MAVLINK_MSG_ID_SET_MODE: VehicleDouble._on_set_mode,
    event.MAVLINK_MSG_ID_SET_POSITION_TARGET_GLOBAL_INT: VehicleDouble._on_set_position_target,
    event.MAVLINK_MSG_ID_REQUEST_DATA_STREAM: VehicleDouble._on_request_data_stream,
    event.MAVLINK_MSG_ID_PARAM_REQUEST_LIST: VehicleDouble._on_param_request_list,
    event.MAVLINK_MSG_ID_PARAM_REQUEST_READ: VehicleDouble._on_param_request_read,
    event.MAVLINK_MSG_ID_PARAM_SET: VehicleDouble._on_param_set,
    event.MAVLINK_MSG_ID_MISSION_COUNT: VehicleDouble._on_mission_count,
    event.MAVLINK_MSG_ID_MISSION_ITEM_INT: VehicleDouble._on_mission_item_int,
    event.MAVLINK_MSG_ID_MISSION_ITEM: VehicleDouble._on_mission_item,
    event.MAVLINK_MSG_ID_MISSION_REQUEST_LIST: VehicleDouble._on_mission_request_list,
    event.MAVLINK_MSG_ID_MISSION_REQUEST_INT: VehicleDouble._on_mission_request_int,
    event.MAVLINK_MSG_ID_MISSION_REQUEST: VehicleDouble._on_mission_request,
    event.MAVLINK_MSG_ID_MISSION_CLEAR_ALL: VehicleDouble._on_mission_clear_all,
    event.MAVLINK_MSG_ID_MISSION_SET_CURRENT: VehicleDouble._on_mission_set_current,
    event.MAVLINK_MSG_ID_MISSION_ACK: VehicleDouble._on_mission_ack,
}

_CommandHandler = Callable[[VehicleDouble, Command, float], int]
_COMMANDS: dict[int, _CommandHandler] = {
    event.MAV_CMD_DO_SET_MODE: VehicleDouble._cmd_set_mode,
    event.MAV_CMD_COMPONENT_ARM_DISARM: VehicleDouble._cmd_arm_disarm,
    event.MAV_CMD_NAV_TAKEOFF: VehicleDouble._cmd_takeoff,
    event.MAV_CMD_MISSION_START: VehicleDouble._cmd_mission_start,
    event.MAV_CMD_DO_REPOSITION: VehicleDouble._cmd_reposition,
    event.MAV_CMD_NAV_RETURN_TO_LAUNCH: VehicleDouble._cmd_rtl,
    event.MAV_CMD_NAV_LAND: VehicleDouble._cmd_land,
    event.MAV_CMD_DO_CHANGE_SPEED: VehicleDouble._cmd_change_speed,
    event.MAV_CMD_DO_SET_MISSION_CURRENT: VehicleDouble._cmd_set_mission_current,
    event.MAV_CMD_SET_MESSAGE_INTERVAL: VehicleDouble._cmd_set_message_interval,
    event.MAV_CMD_GET_MESSAGE_INTERVAL: VehicleDouble._cmd_get_message_interval,
    event.MAV_CMD_REQUEST_MESSAGE: VehicleDouble._cmd_request_message,
}

_BUILDERS: dict[int, Callable[[VehicleDouble, float], Any]] = {
    event.MAVLINK_MSG_ID_HEARTBEAT: VehicleDouble._heartbeat,
    event.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: VehicleDouble._global_position,
    event.MAVLINK_MSG_ID_SYS_STATUS: VehicleDouble._sys_status,
    event.MAVLINK_MSG_ID_GPS_RAW_INT: VehicleDouble._gps_raw,
    event.MAVLINK_MSG_ID_EKF_STATUS_REPORT: VehicleDouble._ekf_status,
    event.MAVLINK_MSG_ID_MISSION_CURRENT: VehicleDouble._mission_current,
    event.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: VehicleDouble._extended_sys_state,
    event.MAVLINK_MSG_ID_SYSTEM_TIME: VehicleDouble._system_time,
    event.MAVLINK_MSG_ID_HOME_POSITION: VehicleDouble._home_position,
}

_MODE_ENTRY: dict[str, Callable[[VehicleDouble, float], None]] = {
    "STABILIZE": VehicleDouble._enter_hold,
    "LOITER": VehicleDouble._enter_hold,
    "GUIDED": VehicleDouble._enter_hold,
    "AUTO": VehicleDouble._enter_auto,
    "RTL": VehicleDouble._enter_rtl,
    "LAND": VehicleDouble._enter_land,
}
