"""How the vehicle double flies: readiness, arming, modes and the mission in AUTO.

Rules of this module:

* Readiness: the EKF origin is set `ready_after / 2` seconds after boot, GPS fix and EKF
  position are good at `ready_after` (ArduPilot SITL: about 20 s and 40 s). Home is set
  where the vehicle is when the position becomes good, and again where it arms after
  that (`AP_Arming_Copter::arm`), each time with a HOME_POSITION.
* Arming follows `AP_Arming_Copter`: only in an armable mode (AUTO only with AUTO_OPTIONS
  bit 0), never before the origin, and in a position mode not before readiness, unless
  forced. An armed copter left on the ground DISARM_DELAY seconds disarms; a disarm in
  the air (only forced) drops it to the ground at once.
* Modes follow `Copter::set_mode`: requirements are checked only when armed (a position
  mode needs readiness; AUTO needs a mission, and a takeoff first when on the ground).
  Each mode replaces the plan on entry: STABILIZE, GUIDED and LOITER hold, AUTO starts or
  resumes the mission, RTL flies home and lands (or hovers at RTL_ALT_FINAL), LAND
  descends; RTL and LAND disarm once the land detector (`LAND_DETECT` seconds on the
  ground) is done.
* Motors on the ground wait for a reason to spin (`Copter::update_auto_armed`): a takeoff
  command, MISSION_START, or AUTO with AUTO_OPTIONS bit 1. A position target alone does
  not take off.
* The mission in AUTO runs item by item: DO items at once, each NAV item flown as legs;
  MISSION_ITEM_REACHED at the simulated instant the item's legs end; at the end the
  copter loiters (in the air) or disarms (on the ground), as `ModeAuto::exit_mission`.
  A copter's NAV_LAND item ends otherwise (`ModeAuto::verify_land`, seen in SITL 4.7):
  landed, it disarms with no MISSION_ITEM_REACHED, and the mission goes back to item 1.
* `kind` plane or rover (ArduPlane, ArduRover, simplified): their modes, arming in any
  mode, AUTO allowed on the ground; armed in AUTO the mission runs at once (a plane
  climbs for its NAV_TAKEOFF, a rover keeps to the ground). No LAND mode; RTL flies home
  and circles (plane) or stops (rover); a finished mission holds, armed; no auto-disarm.
* Cruise speed: RTL_SPEED in RTL when set, else the speed a command or a DO_CHANGE_SPEED
  item gave (forgotten on each mode change), else WPNAV_SPEED (at least 20 cm/s).
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any

from dialects import event

from . import battery
from .battery import Battery
from .downlink import Downlink
from .kinematics import Airframe, Climb, Descend, Goto, Hold, Leg
from .mission import Mission
from .mission_items import (
    DO_CHANGE_SPEED,
    MISSION_TEXT,
    NAV_LAND,
    NAV_LOITER_UNLIM,
    NAV_RETURN_TO_LAUNCH,
    NAV_TAKEOFF,
    NAV_WAYPOINT,
    MissionItem,
)
from .params import Parameters

MODES: dict[str, int] = {
    "STABILIZE": 0,
    "AUTO": 3,
    "GUIDED": 4,
    "LOITER": 5,
    "RTL": 6,
    "LAND": 9,
}
"""The ArduCopter modes the double flies, with their HEARTBEAT.custom_mode numbers."""
KIND_MODES: dict[str, dict[str, int]] = {
    "copter": MODES,
    "plane": {"MANUAL": 0, "AUTO": 10, "RTL": 11, "LOITER": 12, "GUIDED": 15},
    "rover": {"MANUAL": 0, "HOLD": 4, "AUTO": 10, "RTL": 11, "GUIDED": 15},
}
"""The modes the double flies as each kind (PLANE_MODE, ROVER_MODE); the first is the mode
at boot (ArduPlane and ArduRover leave INITIALISING for MANUAL)."""
POSITION_MODES = frozenset({"AUTO", "GUIDED", "LOITER", "RTL"})
"""Modes that need a position estimate (ArduCopter `Mode::requires_GPS`)."""
ARMABLE_MODES = frozenset({"STABILIZE", "GUIDED", "LOITER"})
"""AUTO, RTL and LAND refuse arming (`Mode::allows_arming`; AUTO unless AUTO_OPTIONS bit 0)."""

LAND_DETECT = 1.0
"""Seconds on the ground before ArduCopter's land detector declares the landing complete."""
MAX_FLIGHT_ALT = 10_000.0
MAX_FLIGHT_SPEED = 100.0
"""Targets beyond these (metres above home, m/s) are refused: they would only overflow
the telemetry fields."""


class Flight:
    """The flight controller's state: readiness, arming, mode, and the airframe it flies."""

    def __init__(
        self,
        downlink: Downlink,
        counters: Counter[str],
        params: Parameters,
        mission: Mission,
        *,
        home: tuple[float, float, float],
        ready_after: float,
        kind: str = "copter",
    ) -> None:
        if kind not in KIND_MODES:
            raise ValueError(f"kind must be one of {sorted(KIND_MODES)}")
        self.kind = kind
        self.modes = KIND_MODES[kind]
        """Mode name -> HEARTBEAT.custom_mode for this kind."""
        self._downlink = downlink
        self._counters = counters
        self._params = params
        self._mission = mission
        self._ready_after = ready_after
        self.airframe = Airframe(params, home, self._cruise_speed)
        self.battery = Battery()
        self.boot: float | None = None
        """The time first seen: the boot."""
        self.origin_set = False
        self.ready = False
        """GPS and EKF position good."""
        self.mode = next(iter(self.modes))
        self.armed = False
        self._auto_armed = False
        self._speed_override: float | None = None

    # -- time and readiness ------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Boot at the first `now`; bring readiness, battery and the flight up to `now`."""
        airframe = self.airframe
        if self.boot is None:
            self.boot = now
            airframe.clock = now
            self._downlink.text(event.MAV_SEVERITY_INFO, "EVENT vehicle double (not ArduPilot)")
        self._update_readiness(now)
        if now <= airframe.clock:
            return
        self.battery.drain(self.current(), now - airframe.clock)
        airframe.advance(now)
        self._auto_disarm(now)

    def current(self) -> float:
        """Amperes drawn now."""
        return battery.current(armed=self.armed, on_ground=self.airframe.on_ground)

    def home_position(self) -> Any:
        """HOME_POSITION, or None before the position is good."""
        if not self.ready:
            return None
        lat, lon, alt = self.airframe.home
        return self._downlink.mav.home_position_encode(
            round(lat * 1e7), round(lon * 1e7), round(alt * 1000), 0, 0, 0, [1, 0, 0, 0], 0, 0, 0
        )

    def _update_readiness(self, now: float) -> None:
        assert self.boot is not None
        age = now - self.boot
        if not self.origin_set and age >= self._ready_after / 2:
            self.origin_set = True
            self._downlink.text(event.MAV_SEVERITY_INFO, "EKF3 IMU0 origin set")
        if not self.ready and age >= self._ready_after:
            self.ready = True
            self._downlink.text(event.MAV_SEVERITY_INFO, "EKF3 IMU0 is using GPS")
            self._set_home()

    def _set_home(self) -> None:
        airframe = self.airframe
        airframe.home = (airframe.lat, airframe.lon, airframe.ground_alt + airframe.alt)
        self._downlink.send(self.home_position())

    def _auto_disarm(self, now: float) -> None:
        """ArduCopter disarms a copter left armed on the ground for DISARM_DELAY seconds
        (`Copter::auto_disarm_check`)."""
        airframe = self.airframe
        delay = self._params["DISARM_DELAY"]
        if self.kind != "copter":
            return
        if not self.armed or not airframe.on_ground or delay <= 0 or airframe.ground_since is None:
            return
        if airframe.plan and not isinstance(airframe.plan[0], Hold):
            return
        if now - airframe.ground_since >= delay:
            self.disarm()

    def _cruise_speed(self) -> float:
        if self.mode == "RTL" and self._params["RTL_SPEED"] > 0:
            return self._params["RTL_SPEED"] / 100
        if self._speed_override is not None:
            return self._speed_override
        return max(self._params["WPNAV_SPEED"], 20.0) / 100

    # -- arming ------------------------------------------------------------------------

    def arm(self, force: bool, now: float) -> str | None:
        """Arm, or say why not (the reason ArduPilot sends as STATUSTEXT)."""
        if self.armed:
            return None
        armable = (
            self.kind != "copter"
            or self.mode in ARMABLE_MODES
            or (self.mode == "AUTO" and int(self._params["AUTO_OPTIONS"]) & 1)
        )
        if not armable:
            return "Arm: Mode not armable"
        if not force and not self.origin_set:
            return "Arm: Need Alt Estimate"
        if not force and not self.ready and self.mode in POSITION_MODES:
            return "Arm: Need Position Estimate"
        self.armed = True
        # ArduPlane and ArduRover run AUTO as soon as they are armed in it.
        self._auto_armed = self.kind != "copter"
        self.airframe.ground_since = now
        self._downlink.text(event.MAV_SEVERITY_INFO, "Arming motors")
        if self.ready:
            # ArduCopter moves home to where it arms (AP_Arming_Copter::arm).
            self._set_home()
        return None

    def disarm(self) -> None:
        if not self.armed:
            return
        airframe = self.airframe
        self.armed = False
        self._auto_armed = False
        airframe.ground_since = None
        self._downlink.text(event.MAV_SEVERITY_INFO, "Disarming motors")
        if not airframe.on_ground:
            # Forced disarm in the air: the double drops to the ground at once.
            self._counters["forced_disarm_in_air"] += 1
            airframe.touch_down(airframe.clock)
        airframe.start_plan([])

    def _landed_and_disarm(self, now: float) -> None:
        self.disarm()

    # -- modes -------------------------------------------------------------------------

    def set_mode(self, name: str, now: float) -> bool:
        """Switch mode as `Copter::set_mode` does; False (with a STATUSTEXT) if refused."""
        if name == self.mode:
            return True
        # ArduCopter checks a mode's requirements only when armed (ignore_checks = !armed).
        if self.armed and name in POSITION_MODES and not self.ready:
            self._downlink.text(
                event.MAV_SEVERITY_WARNING, f"Mode change to {name} failed: requires position"
            )
            return False
        if name == "AUTO" and self.armed and not self._auto_can_start():
            return False
        self.mode = name
        self._speed_override = None
        if name == "AUTO":
            self._enter_auto(now)
        elif name == "RTL":
            self._enter_rtl()
        elif name == "LAND":
            self._enter_land()
        else:
            self.airframe.hold_here()
        return True

    def _auto_can_start(self) -> bool:
        items = self._mission.items
        if len(items) < 1:
            self._downlink.text(
                event.MAV_SEVERITY_WARNING, "Mode change to AUTO failed: init failed"
            )
            return False
        if self.kind == "copter" and self.airframe.on_ground and items[0].command != NAV_TAKEOFF:
            self._downlink.text(event.MAV_SEVERITY_CRITICAL, "Auto: Missing Takeoff Cmd")
            return False
        return True

    def _enter_auto(self, now: float) -> None:
        if int(self._params["AUTO_OPTIONS"]) & 2:
            self._auto_armed = self.armed
        self._mission_start_or_resume(now)

    def _enter_rtl(self) -> None:
        if self.kind != "copter":
            self.airframe.start_plan(self._home_legs() if self.armed else [])
            return
        if self.airframe.on_ground:
            self.airframe.start_plan([])
            return
        self.airframe.start_plan(self._rtl_legs(), self._landed_and_disarm)

    def _enter_land(self) -> None:
        if not self.armed:
            self.airframe.start_plan([])
            return
        # On the ground already, the land detector alone runs before the disarm.
        legs: list[Leg] = (
            [Hold(LAND_DETECT)] if self.airframe.on_ground else [Descend(), Hold(LAND_DETECT)]
        )
        self.airframe.start_plan(legs, self._landed_and_disarm)

    def _home_legs(self) -> list[Leg]:
        """ArduPlane RTL: home at RTL_ALT (or higher), then circle; ArduRover: drive home,
        stop."""
        airframe = self.airframe
        home_lat, home_lon, _ = airframe.home
        here = airframe.alt_above_home()
        alt = here if self.kind == "rover" else max(here, self._params["RTL_ALT"] / 100)
        return [Goto(home_lat, home_lon, airframe.local_alt(alt)), Hold(None)]

    def _rtl_legs(self) -> list[Leg]:
        """ArduCopter RTL: climb to RTL_ALT (or stay higher), fly home, loiter RTL_LOIT_TIME,
        then land (or hold at RTL_ALT_FINAL)."""
        airframe = self.airframe
        home_lat, home_lon, _ = airframe.home
        here = airframe.alt_above_home()
        rtl_alt = max(here, min(self._params["RTL_ALT"] / 100, MAX_FLIGHT_ALT))
        legs: list[Leg] = []
        if rtl_alt > here:
            legs.append(Climb(airframe.local_alt(rtl_alt)))
        legs.append(Goto(home_lat, home_lon, airframe.local_alt(rtl_alt)))
        legs.append(Hold(self._params["RTL_LOIT_TIME"] / 1000))
        final = self._params["RTL_ALT_FINAL"] / 100
        if final > 0:
            legs += [Goto(home_lat, home_lon, airframe.local_alt(final)), Hold(None)]
        else:
            legs += [Descend(), Hold(LAND_DETECT)]
        return legs

    # -- GUIDED ------------------------------------------------------------------------

    def takeoff(self, alt_above_home: float) -> bool:
        """NAV_TAKEOFF: GUIDED only, armed, on the ground (`Mode::do_user_takeoff`)."""
        airframe = self.airframe
        if self.kind != "copter" or self.mode != "GUIDED":
            return False
        if not self.armed or not airframe.on_ground:
            return False
        if not 0 < alt_above_home < MAX_FLIGHT_ALT:
            return False
        self._auto_armed = True
        airframe.start_plan([Climb(airframe.local_alt(alt_above_home)), Hold(None)])
        return True

    def guided_goto(self, lat: float, lon: float, alt_above_home: float) -> None:
        airframe = self.airframe
        target = Goto(lat, lon, airframe.local_alt(alt_above_home))
        if airframe.on_ground and not self._auto_armed:
            # ArduCopter does not take off for a position target (`ModeGuided::pos_control_run`);
            # once a takeoff has started, a new target replaces it.
            return
        airframe.start_plan([target, Hold(None)])

    def change_speed(self, metres_per_second: float) -> None:
        """The cruise speed until the next mode change."""
        self._speed_override = metres_per_second

    # -- the mission in AUTO -----------------------------------------------------------

    def start_mission(self, now: float) -> bool:
        """MISSION_START: switch to AUTO, let the motors go, run the mission
        (`GCS_MAVLINK_Copter` MAV_CMD_MISSION_START)."""
        if not self.set_mode("AUTO", now):
            return False
        self._auto_armed = self.armed
        if self._mission.state != event.MISSION_STATE_ACTIVE:
            self._mission_start_or_resume(now)
        elif self.airframe.on_ground and not self.airframe.plan and self.armed:
            # The mission was waiting on the ground for the motors.
            self._fly_item(self._mission.current_seq)
        return True

    def jump_to(self, seq: int, now: float) -> bool:
        """`AP_Mission::set_current_cmd`: make `seq` current; if the mission runs, fly it.
        False if there is no item `seq`. Either way, a MISSION_CURRENT tells where it is."""
        mission = self._mission
        valid = 1 <= seq <= len(mission.items)
        if valid:
            mission.current_seq = seq
            if self.mode == "AUTO" and mission.state == event.MISSION_STATE_ACTIVE:
                self._run_item(seq, now)
        mission.send_current()
        return valid

    def _mission_start_or_resume(self, now: float) -> None:
        """`AP_Mission::start_or_resume`: restart when complete or MIS_RESTART=1, else go on
        from the current item."""
        mission = self._mission
        if not mission.items:
            mission.state = event.MISSION_STATE_NO_MISSION
            self.airframe.hold_here()
            return
        if (
            mission.current_seq < 1
            or mission.state == event.MISSION_STATE_COMPLETE
            or self._params["MIS_RESTART"] >= 1
        ):
            mission.current_seq = 1
        mission.state = event.MISSION_STATE_ACTIVE
        self._run_item(mission.current_seq, now)

    def _run_item(self, seq: int, now: float) -> None:
        """Start item `seq` (running DO items on the way), or finish the mission."""
        items = self._mission.items
        while seq <= len(items):
            item = items[seq - 1]
            self._set_current(seq)
            self._downlink.text(
                event.MAV_SEVERITY_INFO, f"Mission: {seq} {MISSION_TEXT[item.command]}"
            )
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
        if self.airframe.on_ground and not self._auto_armed:
            self.airframe.start_plan([])
            return
        item = self._mission.items[seq - 1]
        self.airframe.start_plan(self._item_legs(item), partial(self._item_done, seq))

    def _item_legs(self, item: MissionItem) -> list[Leg]:
        if item.command == NAV_RETURN_TO_LAUNCH:
            return self._rtl_legs() if self.kind == "copter" else self._home_legs()
        airframe = self.airframe
        lat, lon = (
            (item.x / 1e7, item.y / 1e7) if (item.x or item.y) else (airframe.lat, airframe.lon)
        )
        alt = airframe.local_alt(airframe.alt_of(item.relative_alt, item.z))
        if self.kind == "rover":
            alt = airframe.alt  # a rover keeps to the ground whatever the item says
        if item.command == NAV_TAKEOFF:
            return [Climb(alt)] if alt > airframe.alt else []
        if item.command == NAV_LAND:
            return [Goto(lat, lon, airframe.alt), Descend(), Hold(LAND_DETECT)]
        hold = None if item.command == NAV_LOITER_UNLIM else item.param1
        return [Goto(lat, lon, alt), Hold(hold)]

    def _item_done(self, seq: int, now: float) -> None:
        if self.mode != "AUTO":
            return
        items = self._mission.items
        if seq > len(items):
            # The mission was cut short by an upload while this item flew.
            self._mission_complete(now)
            return
        if self.kind == "copter" and items[seq - 1].command == NAV_LAND:
            # `ModeAuto::verify_land`: landed, it disarms without MISSION_ITEM_REACHED,
            # and the disarm resets the mission, which loads its first item again.
            self.disarm()
            self._run_item(1, now)
            return
        if items[seq - 1].command == NAV_WAYPOINT:
            self._downlink.text(event.MAV_SEVERITY_INFO, f"Reached command #{seq}")
        self._downlink.send(self._downlink.mav.mission_item_reached_encode(seq))
        self._run_item(seq + 1, now)

    def _mission_complete(self, now: float) -> None:
        """`ModeAuto::exit_mission`: disarm if landed, else loiter (still in AUTO)."""
        self._mission.state = event.MISSION_STATE_COMPLETE
        self._mission.send_current()
        if self.airframe.on_ground and self.kind == "copter":
            self.disarm()
        else:
            self.airframe.hold_here()

    def _set_current(self, seq: int) -> None:
        if seq != self._mission.current_seq:
            self._mission.current_seq = seq
            self._mission.send_current()
