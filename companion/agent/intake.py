"""Detector intake: JSON lines from the onboard detector, checked before anything is queued.

The detector needs none of our code: it sends one JSON object per line, in UDP datagrams
to the agent's intake port (127.0.0.1:14600 by default; see examples/detector_client.py):

    {"class_id": 3, "confidence": 0.91, "bbox": [120, 88, 64, 40], "track_id": 12,
     "time": 1750000000.25, "chip": "<base64 JPEG, optional>", "priority": "high"}

and the agent answers the datagram's sender, one JSON line per line it took or refused:

    {"stored":true,"time":1750000000250,"track_id":12}
    {"stored":false,"error":"'confidence' 1.5 outside 0.0..1.0"}

Rules:
- Everything that arrives is hostile until checked: a line that is not JSON, not an
  object, or misses or mistypes a field is refused with a reason and a counter (the
  process and the other lines of the datagram go on).
- `class_id` 0-255, `confidence` 0.0-1.0, `bbox` four integers 0-65535 (pixels: x, y,
  width, height), `track_id` 0-65535 (optional, 0), `priority` one of critical, high,
  medium, low (optional: detections default to HIGH), `chip` base64 of at most
  MAX_CHIP bytes (optional), `time` Unix seconds when the frame was taken, below
  MAX_TIME (optional: the agent's clock when the line arrived).
- Unknown keys are ignored, so detectors can carry their own metadata.
- "stored" is said only once the detection (and its chip) is committed to the agent's
  durable outbox: from then on a power cut loses nothing (the architecture's rule: a
  producer hears "accepted" only after the message is committed). It names the
  detection by `track_id` and, if the line gave one, `time` in ms as EVENT_DETECTION
  carries it.
- A detector may ignore the answers. One that must lose nothing across an agent restart
  keeps each line until it hears "stored" and sends the very same line again meanwhile
  (say once a second): with the same `time` and `track_id` a detection stored twice is
  still one record at the command center, whose id is built from them
  (groundstation/records.py). A line without `time` is stamped anew on each arrival, so
  resending it makes another detection.
- No amplification toward a forged source address: the answers to one datagram go back
  in one datagram never larger than it (a refusal's reason is cut to fit its line; a line
  too short for any answer gets none), and refusals are answered at most
  REFUSALS_PER_SECOND (burst REFUSAL_BURST); the others are only counted.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..reliability.priority import Priority

MAX_CHIP = 64 * 1024
MAX_LINE = 128 * 1024
MAX_TIME = 2**53 / 1000
"""Seconds: beyond it a time in ms is no longer exact as a JSON number (a double); far
inside EVENT_DETECTION's uint64 ms, which a larger time would overflow."""
REFUSALS_PER_SECOND = 5.0
REFUSAL_BURST = 10
_PRIORITIES = {p.name.lower(): p for p in Priority}


class IntakeError(ValueError):
    """A detector line that cannot be taken; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectionReport:
    """One checked detection from the detector, before the agent stamps position on it."""

    class_id: int
    confidence: float
    bbox: tuple[int, int, int, int]
    track_id: int
    priority: Priority
    chip: bytes | None
    time: float | None

    @property
    def time_ms(self) -> int | None:
        """`time` in ms as EVENT_DETECTION carries it; None: the agent stamps the arrival."""
        return None if self.time is None else int(self.time * 1000)


@dataclass(frozen=True, slots=True)
class Refused:
    """A line that is not a detection: why, and how many bytes it had."""

    reason: str
    size: int


def parse_report(line: bytes | str) -> DetectionReport:
    """Check one JSON line; raise IntakeError with the reason if it is not a detection."""
    if len(line) > MAX_LINE:
        raise IntakeError(f"line of {len(line)} bytes exceeds {MAX_LINE}")
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntakeError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise IntakeError(f"a detection is a JSON object, not {type(obj).__name__}")
    return DetectionReport(
        class_id=_integer(obj, "class_id", 0, 255),
        confidence=_number(obj, "confidence", 0.0, 1.0),
        bbox=_bbox(obj.get("bbox")),
        track_id=_integer(obj, "track_id", 0, 65535, default=0),
        priority=_priority(obj.get("priority", "high")),
        chip=_chip(obj.get("chip")),
        time=_time(obj.get("time")),
    )


def _integer(
    obj: dict[str, Any], name: str, low: int, high: int, default: int | None = None
) -> int:
    value = obj.get(name, default)
    if value is None:
        raise IntakeError(f"missing {name!r}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise IntakeError(f"{name!r} must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise IntakeError(f"{name!r} {value} outside {low}..{high}")
    return value


def _number(obj: dict[str, Any], name: str, low: float, high: float) -> float:
    value = obj.get(name)
    if value is None:
        raise IntakeError(f"missing {name!r}")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise IntakeError(f"{name!r} must be a finite number")
    if not low <= value <= high:
        raise IntakeError(f"{name!r} {value} outside {low}..{high}")
    return float(value)


def _bbox(value: object) -> tuple[int, int, int, int]:
    if not isinstance(value, list) or len(value) != 4:
        raise IntakeError("'bbox' must be a list of four integers [x, y, width, height]")
    box = {f"bbox[{i}]": v for i, v in enumerate(value)}
    x, y, w, h = (_integer(box, name, 0, 65535) for name in box)
    return x, y, w, h


def _priority(value: object) -> Priority:
    if not isinstance(value, str) or value.lower() not in _PRIORITIES:
        raise IntakeError(f"'priority' must be one of {', '.join(_PRIORITIES)}")
    return _PRIORITIES[value.lower()]


def _chip(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise IntakeError("'chip' must be a base64 string")
    try:
        chip = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise IntakeError("'chip' is not valid base64") from None
    if not chip or len(chip) > MAX_CHIP:
        raise IntakeError(f"'chip' of {len(chip)} bytes: must be 1..{MAX_CHIP}")
    return chip


def _time(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise IntakeError("'time' must be positive Unix seconds")
    if not value < MAX_TIME:
        raise IntakeError(f"'time' must be below {MAX_TIME:.0f}")
    return float(value)


class Intake:
    """Splits datagrams into lines and checks each; keeps the counters and the refusal
    answers' rate limit."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        """Lines accepted and refused."""
        self.answered: Counter[str] = Counter()
        """Answers sent (stored, refused) and not sent (refusals_not_answered over the
        rate limit, left_out for want of room)."""
        self.last_error = ""
        self._refusals = TokenBucket(REFUSALS_PER_SECOND, REFUSAL_BURST)

    def lines(self, data: bytes) -> list[DetectionReport | Refused]:
        """Each non-blank line of one datagram, checked: a report, or why it was refused."""
        checked: list[DetectionReport | Refused] = []
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                checked.append(parse_report(line))
            except IntakeError as exc:
                self.counters["refused"] += 1
                self.last_error = str(exc)
                checked.append(Refused(str(exc), len(line)))
            else:
                self.counters["accepted"] += 1
        return checked

    def answers(self, size: int) -> Answers:
        """Answers to a datagram of `size` bytes, under this intake's refusal limit."""
        return Answers(size, self._refusals, self.answered)


class Answers:
    """The answers to one datagram, in one reply datagram never larger than it."""

    def __init__(self, budget: int, refusals: TokenBucket, counters: Counter[str]) -> None:
        self._budget = budget
        self._refusals = refusals
        self._counters = counters
        self._lines: list[bytes] = []

    def add(self, line: DetectionReport | Refused, now: float) -> None:
        """Answer `line`: "stored" (call once it is committed), or why it was refused."""
        if isinstance(line, DetectionReport):
            kind, answer = "stored", stored_answer(line)
        elif self._refusals.take(now):
            kind, answer = "refused", refusal(line)
        else:
            self._counters["refusals_not_answered"] += 1
            return
        if not answer or len(answer) + 1 > self._budget:
            self._counters["left_out"] += 1
            return
        self._budget -= len(answer) + 1
        self._lines.append(answer)
        self._counters[kind] += 1

    @property
    def data(self) -> bytes:
        """The reply datagram: one JSON line per answer (empty: send nothing)."""
        return b"".join(answer + b"\n" for answer in self._lines)


def stored_answer(report: DetectionReport) -> bytes:
    """`{"stored":true,"time":MS,"track_id":N}` (no time if the line gave none)."""
    answer: dict[str, object] = {"stored": True}
    if report.time_ms is not None:
        answer["time"] = report.time_ms
    answer["track_id"] = report.track_id
    return _compact(answer)


def refusal(refused: Refused) -> bytes:
    """`{"stored":false,"error":REASON}`, the reason cut so the answer and its newline are
    no longer than the refused line; empty if even an empty reason does not fit."""
    reason = refused.reason
    while True:
        answer = _compact({"stored": False, "error": reason})
        excess = len(answer) + 1 - refused.size
        if excess <= 0:
            return answer
        if not reason:
            return b""
        reason = reason[: max(0, len(reason) - excess)]


def _compact(obj: dict[str, object]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class TokenBucket:
    """At most `rate` a second on average, `burst` at once; time is passed in."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at: float | None = None

    def take(self, now: float) -> bool:
        """Spend a token if there is one."""
        if self._at is not None:
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
