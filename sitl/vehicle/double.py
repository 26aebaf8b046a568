"""A vehicle double: a sans-IO stand-in for ArduCopter that speaks the part of its MAVLink
a companion agent uses. It is a test double, not an autopilot: no physics, no RC, no
failsafes; a kinematic point that follows the protocol the way ArduPilot does.

`VehicleDouble` composes the parts, each in its module with its rules:

    downlink.py       the frames queued for the companion
    params.py         the parameter table and PARAM_* messages
    mission_items.py  what ArduPilot stores of a mission item, and what it refuses
    mission.py        the stored mission, item 0 home, the upload/download protocol
    kinematics.py     position and the legs flown (climb, go to, hold, descend)
    battery.py        the pack and its drain
    flight.py         readiness, arming, modes, the mission in AUTO
    streams.py        the periodic messages, their rates and content
    commands.py       COMMAND_LONG/INT, SET_MODE, GUIDED position targets

Rules of this module:

* Sans-IO. `receive(data, now)` takes raw bytes from the companion in any chunking;
  `step(now)` advances the flight to `now` and queues the periodic messages that fell due;
  `data_to_send()` hands over (and clears) the MAVLink 2 bytes queued for the companion.
  Time is always passed in (monotonic seconds); the first time seen is the boot.
  Nothing here sleeps, reads a clock or draws from the OS's randomness: the same inputs
  and `seed` give the same bytes.
* Bad input never raises. Bytes that are not MAVLink, frames with a bad CRC, unknown
  message ids, messages for another system: each is counted in `counters` and dropped.
* Time first, then the message: whatever arrives at `now` finds the flight advanced to
  `now`, and acts on it in the order the messages arrived.
* Behaviour follows ArduCopter (master, 2025) where the companion can see it; comments
  cite the ArduPilot code path. Where the double is simpler, docs/vehicle_double.md says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from dialects import event

from .commands import Commands
from .downlink import COMPONENT_ID, Downlink
from .flight import Flight
from .mission import MAX_MISSION_ITEMS, Mission
from .mission_items import MissionItem
from .params import PARAMS, Parameters
from .streams import Telemetry

__all__ = ["MAX_MISSION_ITEMS", "PARAMS", "MissionItem", "VehicleDouble"]


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
        kind: str = "copter",
    ) -> None:
        """`kind` "plane" or "rover" makes it answer as ArduPlane or ArduRover would, in
        HEARTBEAT.type, modes and how AUTO starts (flight.py says how far)."""
        if not 1 <= system_id <= 255:
            raise ValueError("system id must be 1-255")
        if speed <= 0 or ready_after < 0:
            raise ValueError("speed must be positive and ready_after not negative")
        self.system_id = system_id
        self.ready_after = ready_after
        self.counters: Counter[str] = Counter()
        self._parser = event.MAVLink(None)
        self._parser.robust_parsing = True
        self._downlink = Downlink(system_id, self.counters)
        self._params = Parameters(self._downlink, self.counters, system_id=system_id)
        self._params.set("WPNAV_SPEED", speed * 100)
        self._mission = Mission(self._downlink, self.counters, lambda: self._flight.airframe.home)
        self._flight = Flight(
            self._downlink,
            self.counters,
            self._params,
            self._mission,
            home=home,
            ready_after=ready_after,
            kind=kind,
        )
        self._telemetry = Telemetry(
            self._downlink, self.counters, self._flight, self._mission, self._params, seed=seed
        )
        self._commands = Commands(self._downlink, self.counters, self._flight, self._telemetry)
        self._handlers: dict[int, Callable[[Any, float], None]] = {
            event.MAVLINK_MSG_ID_HEARTBEAT: self._on_heartbeat,
            event.MAVLINK_MSG_ID_COMMAND_LONG: self._commands.on_command_long,
            event.MAVLINK_MSG_ID_COMMAND_INT: self._commands.on_command_int,
            event.MAVLINK_MSG_ID_SET_MODE: self._commands.on_set_mode,
            event.MAVLINK_MSG_ID_SET_POSITION_TARGET_GLOBAL_INT: (
                self._commands.on_set_position_target
            ),
            event.MAVLINK_MSG_ID_REQUEST_DATA_STREAM: self._telemetry.on_request_data_stream,
            event.MAVLINK_MSG_ID_PARAM_REQUEST_LIST: self._params.on_request_list,
            event.MAVLINK_MSG_ID_PARAM_REQUEST_READ: self._params.on_request_read,
            event.MAVLINK_MSG_ID_PARAM_SET: self._params.on_set,
            event.MAVLINK_MSG_ID_MISSION_COUNT: self._mission.on_count,
            event.MAVLINK_MSG_ID_MISSION_ITEM_INT: self._mission.on_item_int,
            event.MAVLINK_MSG_ID_MISSION_ITEM: self._mission.on_item,
            event.MAVLINK_MSG_ID_MISSION_REQUEST_LIST: self._mission.on_request_list,
            event.MAVLINK_MSG_ID_MISSION_REQUEST_INT: self._mission.on_request_int,
            event.MAVLINK_MSG_ID_MISSION_REQUEST: self._mission.on_request,
            event.MAVLINK_MSG_ID_MISSION_CLEAR_ALL: self._on_mission_clear_all,
            event.MAVLINK_MSG_ID_MISSION_SET_CURRENT: self._on_mission_set_current,
            event.MAVLINK_MSG_ID_MISSION_ACK: self._on_mission_ack,
        }

    # -- read-only introspection -------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._flight.mode

    @property
    def armed(self) -> bool:
        return self._flight.armed

    @property
    def landed(self) -> bool:
        return self._flight.airframe.on_ground

    @property
    def kind(self) -> str:
        """ "copter", "plane" or "rover"."""
        return self._flight.kind

    @property
    def position(self) -> tuple[float, float, float]:
        """Latitude, longitude (degrees) and altitude above home (metres), the truth."""
        airframe = self._flight.airframe
        return (airframe.lat, airframe.lon, airframe.alt_above_home())

    @property
    def mission(self) -> list[MissionItem]:
        """Stored items as a download would return them; item 0 is home."""
        return self._mission.stored()

    @property
    def current_seq(self) -> int:
        return self._mission.current_seq

    @property
    def params(self) -> dict[str, float]:
        return self._params.values()

    @property
    def ready(self) -> bool:
        """GPS and EKF position good: arming in GUIDED is possible."""
        return self._flight.ready

    # -- sans-IO interface -------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> None:
        """Take bytes from the companion; messages in them are acted on at `now`."""
        self._flight.advance(now)
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
        self._flight.advance(now)
        self._mission.check_upload(now)
        self._telemetry.send_due(now)

    def data_to_send(self) -> bytes:
        """The MAVLink bytes queued for the companion, clearing the queue."""
        return self._downlink.data_to_send()

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
        handler = self._handlers.get(msgid)
        if handler is None:
            self.counters["ignored"] += 1
            return
        handler(message, now)

    def _on_heartbeat(self, m: Any, now: float) -> None:
        self.counters["heartbeats_received"] += 1

    def _on_mission_clear_all(self, m: Any, now: float) -> None:
        self._mission.on_clear_all(m, flown=self._flight.mode == "AUTO")

    def _on_mission_set_current(self, m: Any, now: float) -> None:
        self._flight.jump_to(m.seq, now)

    def _on_mission_ack(self, m: Any, now: float) -> None:
        self.counters["mission_acks_received"] += 1
