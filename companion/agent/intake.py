"""Detector intake: JSON lines from the onboard detector, checked before anything is queued.

The detector needs none of our code: it sends one JSON object per line, in UDP datagrams
to the agent's intake port (127.0.0.1:14600 by default; see examples/detector_client.py):

    {"class_id": 3, "confidence": 0.91, "bbox": [120, 88, 64, 40], "track_id": 12,
     "chip": "<base64 JPEG, optional>", "priority": "high"}

Rules:
- Everything that arrives is hostile until checked: a line that is not JSON, not an
  object, or misses or mistypes a field is refused with a reason and a counter (the
  process and the other lines of the datagram go on).
- `class_id` 0-255, `confidence` 0.0-1.0, `bbox` four integers 0-65535 (pixels: x, y,
  width, height), `track_id` 0-65535 (optional, 0), `priority` one of critical, high,
  medium, low (optional: detections default to HIGH), `chip` base64 of at most
  MAX_CHIP bytes (optional), `time` Unix seconds when the frame was taken (optional:
  the agent's clock when the line arrived).
- Unknown keys are ignored, so detectors can carry their own metadata.
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
    return float(value)


class Intake:
    """Splits datagrams into lines and checks each; keeps the counters."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.last_error = ""

    def datagram(self, data: bytes) -> list[DetectionReport]:
        """The detections in one datagram; refused lines are counted, the rest kept."""
        reports = []
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                reports.append(parse_report(line))
            except IntakeError as exc:
                self.counters["refused"] += 1
                self.last_error = str(exc)
            else:
                self.counters["accepted"] += 1
        return reports
