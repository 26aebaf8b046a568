"""Writing one ArduPilot parameter, sans-IO: read it, set it, see the new value come back.

https://mavlink.io/en/services/parameter.html, as ArduPilot does it:
- Values travel as a float in PARAM_SET / PARAM_VALUE whatever the type: ArduPilot
  converts by cast ("bytewise" encoding is not used), so an INT32 above 2^24 loses
  precision on the way; values are compared after the same float32 rounding.
- ArduPilot answers PARAM_REQUEST_READ and PARAM_SET for a name it has with PARAM_VALUE,
  and says nothing for a name it does not have.

Rules:
1. READ: PARAM_REQUEST_READ by name until a PARAM_VALUE for it arrives (response
   timeout, retries). None: INVALID "unknown parameter". The autopilot's type differs
   from the one asked for: INVALID (the sender's idea of the parameter is wrong).
2. SET: PARAM_SET until a PARAM_VALUE shows the new value (equal for integer types,
   within a relative 1e-6 for REAL32). A PARAM_VALUE with another value may be an old
   one still on its way, so it only counts after the retries: AUTOPILOT_REJECTED with
   the value the autopilot kept; nothing at all: TIMEOUT.
"""

from __future__ import annotations

import math
import struct
from enum import Enum
from typing import Any

from dialects import event

from .operation import Operation, Target, Timing
from .result import completed, invalid, rejected, timed_out
from .vehicle_state import text_of

INTEGER_RANGES: dict[int, tuple[int, int]] = {
    event.MAV_PARAM_TYPE_UINT8: (0, 2**8 - 1),
    event.MAV_PARAM_TYPE_INT8: (-(2**7), 2**7 - 1),
    event.MAV_PARAM_TYPE_UINT16: (0, 2**16 - 1),
    event.MAV_PARAM_TYPE_INT16: (-(2**15), 2**15 - 1),
    event.MAV_PARAM_TYPE_UINT32: (0, 2**32 - 1),
    event.MAV_PARAM_TYPE_INT32: (-(2**31), 2**31 - 1),
}
SUPPORTED_TYPES = frozenset({*INTEGER_RANGES, event.MAV_PARAM_TYPE_REAL32})
"""Types a parameter value can have on ArduPilot's side of PARAM_SET."""
NAME_BYTES = 16


def type_name(param_type: int) -> str:
    entry = event.enums["MAV_PARAM_TYPE"].get(param_type)
    return entry.name.removeprefix("MAV_PARAM_TYPE_") if entry else f"TYPE_{param_type}"


def as_float32(value: float) -> float:
    """`value` as the float32 that PARAM_SET carries."""
    result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return result


def value_problem(value: float, param_type: int) -> str | None:
    """Why `value` cannot be a value of `param_type`, or None if it can."""
    if param_type not in SUPPORTED_TYPES:
        return f"unsupported param type {param_type}"
    if not math.isfinite(value):
        return "value is not a finite number"
    bounds = INTEGER_RANGES.get(param_type)
    if bounds is not None:
        if value != int(value):
            return f"{value:g} is not an integer ({type_name(param_type)})"
        if not bounds[0] <= value <= bounds[1]:
            return f"{value:g} out of range for {type_name(param_type)}"
    elif abs(value) > 3.4028234663852886e38:
        return f"{value:g} out of range for REAL32"
    return None


def same_value(wanted: float, reported: float, param_type: int) -> bool:
    if param_type in INTEGER_RANGES:
        return round(as_float32(wanted)) == round(reported)
    return math.isclose(as_float32(wanted), reported, rel_tol=1e-6, abs_tol=1e-9)


class ParamPhase(Enum):
    READ = "reading"
    SET = "setting"


class ParamSet(Operation):
    """Set parameter `name` to `value` of `param_type`, confirmed by PARAM_VALUE."""

    def __init__(
        self, target: Target, timing: Timing, name: str, value: float, param_type: int
    ) -> None:
        super().__init__(target, timing)
        encoded = name.encode("ascii")
        if not 0 < len(encoded) <= NAME_BYTES:
            raise ValueError("a parameter name is 1-16 ASCII characters")
        self.name = name
        self.value = value
        self.param_type = param_type
        self.label = f"param {name}"
        self.phase = ParamPhase.READ
        self.previous: float | None = None
        """The value the autopilot had before, from the READ phase."""
        self._encoded = encoded
        self._kept: float | None = None

    def start(self, now: float) -> list[Any]:
        self.phase = ParamPhase.READ
        return self._send(now)

    def receive(self, message: Any, now: float) -> list[Any]:
        if self.done or message.get_msgId() != event.MAVLINK_MSG_ID_PARAM_VALUE:
            return []
        if text_of(message.param_id) != self.name:
            return []
        if self.phase is ParamPhase.READ:
            return self._on_read(message, now)
        if same_value(self.value, message.param_value, self.param_type):
            self.finish(completed(f"{self.name}={message.param_value:g}"))
        else:
            self._kept = message.param_value
        return []

    def on_timer(self, now: float) -> list[Any]:
        if not self.timer_due(now):
            return []
        if self.phase is ParamPhase.READ:
            failure = invalid(f"unknown parameter {self.name}")
        elif self._kept is not None:
            failure = rejected(f"{self.name} stayed {self._kept:g}")
        else:
            failure = timed_out(f"{self.label}: no PARAM_VALUE")
        return self.resend_or_fail(now, self.timing.response_timeout, self._message, failure)

    def _on_read(self, message: Any, now: float) -> list[Any]:
        if message.param_type != self.param_type:
            self.finish(
                invalid(
                    f"{self.name} is {type_name(message.param_type)},"
                    f" not {type_name(self.param_type)}"
                )
            )
            return []
        self.previous = message.param_value
        self.phase = ParamPhase.SET
        return self._send(now)

    def _send(self, now: float) -> list[Any]:
        self.expect_answer(now, self.timing.response_timeout)
        return [self._message()]

    def _message(self) -> Any:
        """The request of the current phase: PARAM_REQUEST_READ, then PARAM_SET."""
        t = self.target
        if self.phase is ParamPhase.READ:
            return event.MAVLink_param_request_read_message(
                t.system, t.component, self._encoded, -1
            )
        return event.MAVLink_param_set_message(
            t.system, t.component, self._encoded, self.value, self.param_type
        )
