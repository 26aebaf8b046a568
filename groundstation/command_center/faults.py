"""Fault injection for the reference command center: how tests make the cloud misbehave.

Rules:
- One fault at a time, set through `POST /admin/faults` (admin role) or `Faults.set`:
      {"mode": "status", "status": 503}   answer with that status (any 4xx/5xx)
      {"mode": "hang", "hang": 30}        hold the request unanswered, then close
      {"mode": "drop"}                    close the connection without an answer
      {"mode": "lose"}                    do the work, then close without the answer
                                          (a reply lost on the way: the client must
                                          send again and be told "duplicates")
  with `count` (the next N requests) and/or `seconds` (for that long); without either it
  lasts until cleared (`DELETE /admin/faults`). It ends when either limit is reached.
- It applies to every /api/ request (the health check too: a broken cloud is broken);
  /admin/ is never affected, so a test can always end a fault.
- `served` counts the faults actually applied per mode, so a test can wait for "the
  uplink has met at least three 503s" instead of sleeping.
- Thread safe: request threads take faults under one lock.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..json_numbers import json_integer

MODES = ("status", "hang", "drop", "lose")


class FaultError(ValueError):
    """A fault description that cannot be applied."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """One injected misbehaviour."""

    mode: str
    status: int = 503
    hang: float = 30.0
    count: int | None = None
    seconds: float | None = None

    @classmethod
    def from_json(cls, obj: Any) -> Fault:
        """Read a fault from parsed JSON; FaultError if it is not valid."""
        if not isinstance(obj, dict) or obj.get("mode") not in MODES:
            raise FaultError(f"mode must be one of {', '.join(MODES)}")
        status, hang = json_integer(obj.get("status", 503)), obj.get("hang", 30.0)
        count, seconds = obj.get("count"), obj.get("seconds")
        if status is None or not 400 <= status <= 599:
            raise FaultError("status must be an integer 400-599")
        if type(hang) not in (int, float) or not 0 <= hang <= 600:
            raise FaultError("hang must be 0-600 seconds")
        if count is not None:
            count = json_integer(count)
            if count is None or count < 1:
                raise FaultError("count must be a positive integer")
        if seconds is not None and (type(seconds) not in (int, float) or seconds <= 0):
            raise FaultError("seconds must be a positive number")
        return cls(
            mode=obj["mode"],
            status=status,
            hang=float(hang),
            count=count,
            seconds=None if seconds is None else float(seconds),
        )

    def to_json(self) -> dict[str, Any]:
        """The fault's JSON form."""
        return {
            "mode": self.mode,
            "status": self.status,
            "hang": self.hang,
            "count": self.count,
            "seconds": self.seconds,
        }


class Faults:
    """The active fault, if any, and what was served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fault: Fault | None = None
        self._left: int | None = None
        self._until: float | None = None
        self.served: Counter[str] = Counter()

    def set(self, fault: Fault) -> None:
        """Make `fault` the active one (replacing any other)."""
        with self._lock:
            self._fault, self._left = fault, fault.count
            self._until = None if fault.seconds is None else time.monotonic() + fault.seconds

    def clear(self) -> None:
        """No fault from now on."""
        with self._lock:
            self._fault = None

    def take(self) -> Fault | None:
        """The fault to apply to the request at hand (counted), or None."""
        with self._lock:
            fault = self._fault
            if fault is None:
                return None
            if self._until is not None and time.monotonic() >= self._until:
                self._fault = None
                return None
            if self._left is not None:
                self._left -= 1
                if self._left <= 0:
                    self._fault = None
            self.served[fault.mode] += 1
            return fault

    def state(self) -> dict[str, Any]:
        """The active fault and the served counts, as JSON."""
        with self._lock:
            active = None if self._fault is None else self._fault.to_json()
            return {"active": active, "served": dict(self.served), "left": self._left}
