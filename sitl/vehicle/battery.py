"""The vehicle double's battery: a 3S pack drained by a fixed current in each state.

Rules of this module:

* The current is a constant per state: disarmed, armed on the ground, flying.
* Consumption is charge (mAh) integrated over simulated time; the charge left is the
  fraction of BATT_CAPACITY (at least 1 mAh) not consumed, never below zero.
* Voltage falls linearly from 4.2 V to 3.5 V a cell with the charge left, and sags
  20 mV an ampere drawn. There is no failsafe: an empty pack flies on.
"""

from __future__ import annotations

CELL_FULL, CELL_EMPTY, CELLS = 4.2, 3.5, 3
CURRENT_IDLE, CURRENT_ARMED, CURRENT_FLYING = 0.5, 4.0, 14.0
"""Amperes drawn disarmed, armed on the ground, and flying."""


def current(*, armed: bool, on_ground: bool) -> float:
    """Amperes drawn in a state."""
    if not armed:
        return CURRENT_IDLE
    return CURRENT_ARMED if on_ground else CURRENT_FLYING


class Battery:
    """The charge consumed so far, and what it leaves."""

    def __init__(self) -> None:
        self.consumed_mah = 0.0

    def drain(self, amperes: float, seconds: float) -> None:
        self.consumed_mah += amperes * seconds / 3.6

    def remaining(self, capacity_mah: float) -> float:
        """The fraction of a `capacity_mah` pack left (0 to 1)."""
        capacity = max(capacity_mah, 1.0)
        return max(0.0, 1 - self.consumed_mah / capacity)

    def volts(self, remaining: float, amperes: float) -> float:
        """The pack's voltage with `remaining` charge left while drawing `amperes`."""
        return CELLS * (CELL_EMPTY + (CELL_FULL - CELL_EMPTY) * remaining) - 0.02 * amperes
