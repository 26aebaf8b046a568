"""What an autopilot command came to: an EVENT outcome code and a short reason.

Rules:
- The outcome is one of the dialect's `EVENT_OUTCOME_*` values; it goes unchanged into
  EVENT_ACK.outcome. COMPLETED means the autopilot confirmed the effect (a mode seen in
  HEARTBEAT, a value read back in PARAM_VALUE, a mission read back identical), never
  merely that a command was sent.
- The reason goes into EVENT_ACK.reason, a 50-byte field: it is cut to 50 bytes of UTF-8
  here (never mid-character), so whoever builds the ACK cannot overflow it.
- Reasons quote the autopilot where it said something (its STATUSTEXT, the
  MAV_RESULT / MAV_MISSION_RESULT name), so the operator reads ArduPilot's own words.
"""

from __future__ import annotations

from dataclasses import dataclass

from dialects import event

REASON_BYTES = 50
"""Size of EVENT_ACK.reason."""


def clip_reason(text: str) -> str:
    """`text` cut to at most `REASON_BYTES` bytes of UTF-8, on a character boundary."""
    return text.encode("utf-8")[:REASON_BYTES].decode("utf-8", errors="ignore")


def outcome_name(outcome: int) -> str:
    """`COMPLETED` for `EVENT_OUTCOME_COMPLETED`, and so on."""
    entry = event.enums["EVENT_OUTCOME"].get(outcome)
    return entry.name.removeprefix("EVENT_OUTCOME_") if entry else f"OUTCOME_{outcome}"


def mav_result_name(result: int) -> str:
    """The MAV_RESULT name of a COMMAND_ACK result, e.g. `MAV_RESULT_FAILED`."""
    entry = event.enums["MAV_RESULT"].get(result)
    return entry.name if entry else f"MAV_RESULT_{result}"


def mission_result_name(result: int) -> str:
    """The MAV_MISSION_RESULT name of a MISSION_ACK type, e.g. `MAV_MISSION_NO_SPACE`."""
    entry = event.enums["MAV_MISSION_RESULT"].get(result)
    return entry.name if entry else f"MAV_MISSION_RESULT_{result}"


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one command on the autopilot."""

    outcome: int
    """An `event.EVENT_OUTCOME_*` value."""
    reason: str = ""
    """Short human-readable detail, at most 50 bytes of UTF-8 (cut if longer)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", clip_reason(self.reason))

    @property
    def ok(self) -> bool:
        """True when the autopilot confirmed the command's effect."""
        return bool(self.outcome == event.EVENT_OUTCOME_COMPLETED)

    def __str__(self) -> str:
        name = outcome_name(self.outcome)
        return f"{name}: {self.reason}" if self.reason else name


def completed(reason: str = "") -> Result:
    return Result(event.EVENT_OUTCOME_COMPLETED, reason)


def invalid(reason: str) -> Result:
    return Result(event.EVENT_OUTCOME_INVALID, reason)


def rejected(reason: str) -> Result:
    return Result(event.EVENT_OUTCOME_AUTOPILOT_REJECTED, reason)


def timed_out(reason: str) -> Result:
    return Result(event.EVENT_OUTCOME_TIMEOUT, reason)


def failed(reason: str) -> Result:
    return Result(event.EVENT_OUTCOME_FAILED, reason)


def unavailable(reason: str) -> Result:
    return Result(event.EVENT_OUTCOME_AUTOPILOT_UNAVAILABLE, reason)
