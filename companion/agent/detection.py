"""One detection from the onboard detector: its JSON line checked, or refused with a reason.

A line is one JSON object (the fields are in `intake.py`). Everything in it is hostile
until checked, and the checks come in an order that keeps each step safe for the next
(h11's invariant, `fuzz/afl-server.py`: parse it, or raise the peer's error, never
anything else):

1. Bounds, before parsing (companion/json_bounds.py): at most MAX_LINE bytes, UTF-8,
   nesting at most MAX_DEPTH deep and no number of more than MAX_DIGITS digits.
2. `json.loads`, then an object, then each field's type.
3. Range: `DetectionReport`'s constructor checks every value against the field of
   EVENT_DETECTION (dialects/event.xml) it becomes: class_id uint8, confidence 0..1
   (sent as uint8 percent), bbox uint16[4], track_id uint16, time finite Unix seconds
   whose ms fit exactly in the uint64 `time`. So a report built in Python passes the same
   checks as one parsed from a datagram, and nothing out of range reaches MAVLink packing.

Every refusal is an IntakeError whose `reason` is one of REASONS (a fixed set, so the
counters keyed by it stay small) and whose message says what was wrong.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Any

from ..errors import RemoteProtocolError
from ..json_bounds import JsonBoundsError, JsonLimits
from ..reliability.priority import Priority

MAX_CHIP = 64 * 1024
MAX_LINE = 128 * 1024
MAX_DEPTH = 16
"""Deepest nesting of arrays and objects in a line (a detection needs 2; room is left for
a detector's own metadata)."""
MAX_DIGITS = 32
"""Longest run of digits in a number: far past any field (uint64 has 20 digits)."""
MAX_TIME = 2**53 / 1000
"""Seconds: beyond it a time in ms is no longer exact as a JSON number (a double); far
inside EVENT_DETECTION's uint64 ms, which a larger time would overflow."""
_UINT8, _UINT16 = 255, 65535

REASONS = (
    "oversize",
    "empty",
    "not_utf8",
    "too_deep",
    "number_too_long",
    "not_json",
    "not_object",
    "missing_field",
    "wrong_type",
    "not_finite",
    "out_of_range",
    "bad_chip",
    "outbox_full",
    "unexpected",
)
"""Why a line was refused. `empty` and `outbox_full` are the intake's own (a datagram with
no line; a detection the durable outbox had no room for); `unexpected` is an exception
no check foresaw, counted so that even a bug here never ends the agent."""

_PRIORITIES = {p.name.lower(): p for p in Priority}
_LIMITS = JsonLimits(max_bytes=MAX_LINE, max_depth=MAX_DEPTH, max_digits=MAX_DIGITS)


class IntakeError(RemoteProtocolError, ValueError):
    """A detection that cannot be taken: `reason` names why (one of REASONS), the
    message says what."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectionReport:
    """One checked detection from the detector, before the agent stamps position on it.

    The constructor refuses (IntakeError) any value its EVENT_DETECTION field cannot hold.
    """

    class_id: int
    confidence: float
    bbox: tuple[int, int, int, int]
    track_id: int
    priority: Priority
    chip: bytes | None
    time: float | None

    def __post_init__(self) -> None:
        _integer("class_id", self.class_id, _UINT8)
        _number("confidence", self.confidence, 0.0, 1.0)
        if not isinstance(self.bbox, tuple) or len(self.bbox) != 4:
            raise IntakeError("wrong_type", "'bbox' must be four integers [x, y, width, height]")
        for i, value in enumerate(self.bbox):
            _integer(f"bbox[{i}]", value, _UINT16)
        _integer("track_id", self.track_id, _UINT16)
        if not isinstance(self.priority, Priority):
            raise IntakeError("wrong_type", f"'priority' must be one of {', '.join(_PRIORITIES)}")
        if self.chip is not None:
            _chip_size(self.chip)
        if self.time is not None:
            _time(self.time)

    @property
    def time_ms(self) -> int | None:
        """`time` in ms as EVENT_DETECTION carries it; None: the agent stamps the arrival."""
        return None if self.time is None else int(self.time * 1000)


def parse_report(line: bytes | str) -> DetectionReport:
    """Check one JSON line; raise IntakeError naming the reason if it is not a detection."""
    obj = _json_object(line)
    return DetectionReport(
        class_id=_required(obj, "class_id"),
        confidence=_required(obj, "confidence"),
        bbox=_bbox(obj.get("bbox")),
        track_id=obj.get("track_id", 0),
        priority=_priority(obj.get("priority", "high")),
        chip=_chip(obj.get("chip")),
        time=obj.get("time"),
    )


def _json_object(line: bytes | str) -> dict[str, Any]:
    try:
        obj = _LIMITS.read(line)
    except JsonBoundsError as exc:
        raise IntakeError(exc.reason, str(exc)) from None
    if not isinstance(obj, dict):
        raise IntakeError("not_object", f"a detection is a JSON object, not {type(obj).__name__}")
    return obj


def _required(obj: dict[str, Any], name: str) -> Any:
    if obj.get(name) is None:
        raise IntakeError("missing_field", f"missing {name!r}")
    return obj[name]


def _integer(name: str, value: object, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise IntakeError("wrong_type", f"{name!r} must be an integer, not {type(value).__name__}")
    if not 0 <= value <= high:
        raise IntakeError("out_of_range", f"{name!r} {_shown(value)} outside 0..{high}")


def _number(name: str, value: object, low: float, high: float) -> None:
    """Ints compare exactly at any size; only floats can be NaN or infinite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IntakeError("wrong_type", f"{name!r} must be a finite number")
    if isinstance(value, float) and not math.isfinite(value):
        raise IntakeError("not_finite", f"{name!r} must be a finite number")
    if not low <= value <= high:
        raise IntakeError("out_of_range", f"{name!r} {_shown(value)} outside {low}..{high}")


def _time(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IntakeError("wrong_type", "'time' must be positive Unix seconds")
    if isinstance(value, float) and not math.isfinite(value):
        raise IntakeError("not_finite", "'time' must be finite Unix seconds")
    if not value > 0:
        raise IntakeError("out_of_range", "'time' must be positive Unix seconds")
    if not value < MAX_TIME:
        raise IntakeError("out_of_range", f"'time' must be below {MAX_TIME:.0f}")


def _shown(value: int | float) -> str:
    """A value for a message: an int too long for `str` is described by its size."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"<{value.bit_length()}-bit integer>"
    return str(value)


def _bbox(value: object) -> Any:
    if not isinstance(value, list) or len(value) != 4:
        raise IntakeError("wrong_type", "'bbox' must be a list of four integers [x, y, w, h]")
    return tuple(value)


def _priority(value: object) -> Priority:
    if not isinstance(value, str):
        raise IntakeError("wrong_type", f"'priority' must be one of {', '.join(_PRIORITIES)}")
    if value.lower() not in _PRIORITIES:
        raise IntakeError("out_of_range", f"'priority' must be one of {', '.join(_PRIORITIES)}")
    return _PRIORITIES[value.lower()]


def _chip(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise IntakeError("wrong_type", "'chip' must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise IntakeError("bad_chip", "'chip' is not valid base64") from None


def _chip_size(chip: object) -> None:
    if not isinstance(chip, bytes):
        raise IntakeError("wrong_type", "'chip' must be bytes")
    if not 0 < len(chip) <= MAX_CHIP:
        raise IntakeError("out_of_range", f"'chip' of {len(chip)} bytes: must be 1..{MAX_CHIP}")
