"""Where the vehicle double is, and the legs it flies: a kinematic point, no physics.

Rules of this module:

* Position is degrees of latitude and longitude on a sphere of the WGS-84 equatorial
  radius, and metres above the ground level under the first home (`alt`); home is
  degrees and metres AMSL. The ground is flat: touching down means `alt` 0.
* Flight is a queue of legs (`Climb`, `Goto`, `Hold`, `Descend`) flown in straight lines
  at constant speeds: the cruise speed the caller gives, WPNAV_SPEED_UP/DN for climbs and
  sinks, and ArduCopter's LAND descent profile (LAND_SPEED_HIGH or WPNAV_SPEED_DN above
  LAND_ALT_LOW, LAND_SPEED below it) for `Descend`.
* When the queue empties, whoever planned it (a mode, a mission item) is called back with
  the exact simulated instant the last leg ended, so arrival times follow from the speeds
  and not from how often the caller advances time.
* Velocity is the average over the last advance; a late advance moves the point by the
  whole interval at once.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .params import Parameters

EARTH_RADIUS = 6378137.0
METRES_PER_DEGREE = EARTH_RADIUS * math.pi / 180


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


class Airframe:
    """The point the double flies: position, velocity, the plan of legs and its clock."""

    def __init__(
        self,
        params: Parameters,
        home: tuple[float, float, float],
        cruise_speed: Callable[[], float],
    ) -> None:
        """`cruise_speed` gives the horizontal speed (m/s) to fly at, asked at each leg."""
        self._params = params
        self._cruise_speed = cruise_speed
        self.clock = 0.0
        """Simulated time the flight has been advanced to."""
        self.ground_alt = home[2]
        self.home = home
        self.lat, self.lon, self.alt = home[0], home[1], 0.0
        """Current position: degrees, and metres above the ground level at the first home."""
        self.velocity = (0.0, 0.0, 0.0)
        """North, east, down in m/s over the last advance."""
        self.heading = 0.0
        self.on_ground = True
        self.ground_since: float | None = None
        """When the armed vehicle was last put on the ground (touch-down or arming)."""
        self.plan: deque[Leg] = deque()
        self._plan_done: PlanDone | None = None
        self._leg_elapsed = 0.0

    def advance(self, now: float) -> None:
        """Fly the plan from `clock` to `now` (later than `clock`)."""
        dt = now - self.clock
        start = (self.lat, self.lon, self.alt)
        self._fly(now)
        self.velocity = self._velocity_between(start, dt)

    def start_plan(self, legs: list[Leg], done: PlanDone | None = None) -> None:
        """Fly `legs` from now on, then call `done` (with the simulated time)."""
        if not legs and done is not None:
            # Nothing to fly: finish at the next advance, from the flight loop (no recursion).
            legs = [Hold(0.0)]
        self.plan = deque(legs)
        self._plan_done = done
        self._leg_elapsed = 0.0

    def hold_here(self) -> None:
        self.start_plan([] if self.on_ground else [Hold(None)])

    def touch_down(self, at: float) -> None:
        self.alt = 0.0
        if not self.on_ground:
            self.on_ground = True
            self.ground_since = at

    def alt_above_home(self) -> float:
        return self.ground_alt + self.alt - self.home[2]

    def alt_of(self, relative: bool, z: float) -> float:
        """An altitude from a frame (relative to home, or AMSL) as metres above home."""
        return z if relative else z - self.home[2]

    def local_alt(self, above_home: float) -> float:
        """Metres above home -> metres above the ground level the double flies over."""
        return above_home + self.home[2] - self.ground_alt

    def _fly(self, now: float) -> None:
        """Fly the plan from `clock` to `now`, calling back when it runs out. Every pass
        finishes a leg or reaches `now`; callbacks end in a never-ending Hold or no plan."""
        while self.clock < now:
            if not self.plan:
                self.clock = now
                return
            used, finished = self._fly_leg(self.plan[0], now - self.clock)
            self.clock += used
            self._leg_elapsed += used
            if finished:
                self.plan.popleft()
                self._leg_elapsed = 0.0
                if not self.plan and self._plan_done is not None:
                    done, self._plan_done = self._plan_done, None
                    done(self.clock)

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
            (self.lat, self.lon, leg.alt) if isinstance(leg, Climb) else (leg.lat, leg.lon, leg.alt)
        )
        return self._move_towards(target, dt)

    def _move_towards(self, target: tuple[float, float, float], dt: float) -> tuple[float, bool]:
        north, east = self._offset_to(target[0], target[1])
        distance = math.hypot(north, east)
        climb = target[2] - self.alt
        if climb > 0:
            self._take_off()
        horizontal = self._cruise_speed()
        vertical = self._climb_speed() if climb > 0 else self._sink_speed()
        need = max(distance / horizontal, abs(climb) / vertical)
        if need <= dt:
            self.lat, self.lon, self.alt = target
            return need, True
        if distance > 0:
            step = min(distance, horizontal * dt) / distance
            self._move_by(north * step, east * step)
            self.heading = math.degrees(math.atan2(east, north)) % 360
        self.alt += math.copysign(min(abs(climb), vertical * dt), climb)
        return dt, False

    def _descend(self, dt: float) -> tuple[float, bool]:
        used = 0.0
        while used < dt and self.alt > 0:
            low = self._params["LAND_ALT_LOW"] / 100
            rate = self._land_speed(self.alt > low)
            floor = low if self.alt > low else 0.0
            need = (self.alt - floor) / rate
            if need > dt - used:
                self.alt -= rate * (dt - used)
                return dt, False
            self.alt = floor
            used += need
        self.touch_down(self.clock + used)
        return used, True

    def _take_off(self) -> None:
        if self.on_ground:
            self.on_ground = False
            self.ground_since = None

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

    def _offset_to(self, lat: float, lon: float) -> tuple[float, float]:
        north = (lat - self.lat) * METRES_PER_DEGREE
        east = (lon - self.lon) * METRES_PER_DEGREE * math.cos(math.radians(self.lat))
        return north, east

    def _move_by(self, north: float, east: float) -> None:
        self.lat += north / METRES_PER_DEGREE
        self.lon += east / (METRES_PER_DEGREE * math.cos(math.radians(self.lat)))

    def _velocity_between(
        self, start: tuple[float, float, float], dt: float
    ) -> tuple[float, float, float]:
        north, east = self._offset_to(start[0], start[1])  # from here back to the start
        return (-north / dt, -east / dt, (start[2] - self.alt) / dt)
