"""Where a simulated node is: motion models evaluated at the simulation's time.

Rules of this module:

* Positions are (x, y, z) in metres on a local flat plane; time is the simulation's
  clock in seconds (trio's clock under the radio driver). A model is a pure function of
  time: asking twice for the same instant gives the same answer, so the radio can
  evaluate a node's position whenever it needs to, in any order.
* Models are frozen values. A node changes course by being given a new model (see
  `Channel.set_motion`), never by mutating the one it has.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

Position = tuple[float, float, float]
"""Metres east, north and up from the scenario's origin."""


def distance(a: Position, b: Position) -> float:
    """Straight-line distance between two positions, in metres."""
    return math.dist(a, b)


class Motion(Protocol):
    """Anything that can say where a node is at a given time."""

    def position(self, t: float) -> Position:
        """The node's position at time `t` (seconds)."""
        ...


@dataclass(frozen=True, slots=True)
class Stationary:
    """A node that stays where it is (a ground station, a hovering UAV)."""

    at: Position

    def position(self, t: float) -> Position:
        """Always `at`."""
        return self.at


@dataclass(frozen=True, slots=True)
class Line:
    """Straight flight at constant velocity: at `start` at time `t0`, moving `velocity` m/s.

    Before `t0` the node is extrapolated backwards along the same line, so a model made
    mid-flight needs no special case for earlier questions.
    """

    start: Position
    velocity: tuple[float, float, float]
    t0: float = 0.0

    def position(self, t: float) -> Position:
        """`start + velocity * (t - t0)`."""
        dt = t - self.t0
        x, y, z = self.start
        vx, vy, vz = self.velocity
        return (x + vx * dt, y + vy * dt, z + vz * dt)


@dataclass(frozen=True, slots=True, init=False)
class Waypoints:
    """A timed track: at each (time, position) the node is there; in between it moves
    in a straight line at constant speed. Before the first point it waits at the first,
    after the last it stays at the last (landed, or holding)."""

    points: tuple[tuple[float, Position], ...]

    def __init__(self, points: Sequence[tuple[float, Position]]) -> None:
        if not points:
            raise ValueError("a track needs at least one waypoint")
        times = [t for t, _ in points]
        if any(later <= earlier for earlier, later in itertools.pairwise(times)):
            raise ValueError("waypoint times must increase strictly")
        object.__setattr__(self, "points", tuple(points))

    def position(self, t: float) -> Position:
        """Linear interpolation between the two waypoints around `t`."""
        first_t, first = self.points[0]
        if t <= first_t:
            return first
        for (t0, p0), (t1, p1) in itertools.pairwise(self.points):
            if t <= t1:
                f = (t - t0) / (t1 - t0)
                return (
                    p0[0] + (p1[0] - p0[0]) * f,
                    p0[1] + (p1[1] - p0[1]) * f,
                    p0[2] + (p1[2] - p0[2]) * f,
                )
        return self.points[-1][1]
