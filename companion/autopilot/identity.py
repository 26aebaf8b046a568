"""The autopilot's MAVLink system id, as its HEARTBEAT gives it, against the one expected.

Rules:
- A UAV is one MAVLink system: its node id is its companion's system id and must be its
  autopilot's too (docs/deploy.md). ArduPilot keeps the id in `MAV_SYSID` from 4.7 on
  (the MAV_ parameter series moved it out of each vehicle's parameters) and in
  `SYSID_THISMAV` before (`sysid_parameter`); both default to 1, so two UAVs left at the
  default are one vehicle to a GCS, a router or a flight log, and nothing else tells.
- The id is read from the autopilot's HEARTBEAT (`vehicle_state.py` learns it), never
  from the parameter: the HEARTBEAT is what the rest of the network sees, and ArduPilot
  applies a new value only at reboot.
- `observe` reports the first id heard and every change after it, once each, with
  whether it matches. On a mismatch the agent warns, or, with `Mismatch.REFUSE`, answers
  every command AUTOPILOT_UNAVAILABLE naming both ids (`refusal`): an autopilot that is
  not this UAV's (a UDP link can reach another vehicle's) is not commanded. An id not
  heard yet refuses nothing; the command waits for a HEARTBEAT as any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from .result import Result, unavailable

MAV_SYSID_SINCE = (4, 7)
"""The first ArduPilot release whose system id parameter is MAV_SYSID."""


def sysid_parameter(version: tuple[int, int]) -> str:
    """The name of the system id parameter in ArduPilot `version` (major, minor)."""
    return "MAV_SYSID" if version >= MAV_SYSID_SINCE else "SYSID_THISMAV"


class Mismatch(Enum):
    """What the agent does with an autopilot whose system id is not the expected one."""

    WARN = "warn"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class IdentityChange:
    """The autopilot's system id was heard for the first time, or changed."""

    system_id: int
    previous: int | None
    expected: int

    @property
    def matches(self) -> bool:
        return self.system_id == self.expected

    @property
    def advice(self) -> str:
        """What the operator does about a mismatch (the autopilot's version is unknown)."""
        new, old = sysid_parameter(MAV_SYSID_SINCE), sysid_parameter((4, 6))
        return f"set {new} (ArduPilot 4.7+; {old} before) to {self.expected}, then reboot it"


class AutopilotIdentity:
    """The expected system id, the one heard, and what a mismatch means for commands."""

    def __init__(self, expected: int, on_mismatch: Mismatch = Mismatch.WARN) -> None:
        self.expected = expected
        self.on_mismatch = on_mismatch
        self.system_id: int | None = None
        """The autopilot's system id from its HEARTBEAT; None until heard."""

    @property
    def matches(self) -> bool | None:
        """Whether the id heard is the expected one; None until one is heard."""
        return None if self.system_id is None else self.system_id == self.expected

    def observe(self, system_id: int | None) -> IdentityChange | None:
        """Take the id the autopilot's HEARTBEAT carries; the change, if it is one."""
        if system_id is None or system_id == self.system_id:
            return None
        change = IdentityChange(system_id, self.system_id, self.expected)
        self.system_id = system_id
        return change

    def refusal(self) -> Result | None:
        """The answer to every command while a mismatched autopilot is refused, else None."""
        if self.on_mismatch is not Mismatch.REFUSE or self.matches is not False:
            return None
        return unavailable(f"autopilot is system {self.system_id}, not {self.expected}")

    def status(self) -> dict[str, Any]:
        """For status.json: the id heard (None until then), the expected one, the policy."""
        return {
            "system_id": self.system_id,
            "expected": self.expected,
            "matches": self.matches,
            "on_mismatch": self.on_mismatch.value,
        }
