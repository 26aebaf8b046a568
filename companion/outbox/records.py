"""What goes into the outbox and what comes out: items, stored rows, statistics, keys.

Rules:
- An item is a key and dialect bytes; anything else is refused when it is built
  (`LocalProtocolError`). Its `deadline` is its `expires`, else `created` + its TTL.
- `new_key` makes keys that sort by creation time, so a commit's rows land together at the
  end of the key index instead of in one random leaf each (random keys, uuid4's, dirty a
  page per row: more WAL frames to write and fsync).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import LocalProtocolError
from ..reliability.priority import TTL, Priority


def new_key() -> str:
    """A fresh message key: 32 hex digits, wall-clock nanoseconds then 64 random bits.

    Unique without coordination (the random half), ordered by time (the clock half). Keys
    are local row names, never secrets, so the fast non-cryptographic generator serves.
    """
    return f"{time.time_ns():016x}{random.getrandbits(64):016x}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxItem:
    """A message to store: `payload` is dialect bytes; `expires` defaults to the TTL."""

    key: str
    destination: int
    priority: Priority
    payload: bytes
    created: float
    expires: float | None = None

    def __post_init__(self) -> None:
        if not self.key or not isinstance(self.payload, bytes):
            raise LocalProtocolError(f"outbox item needs a key and bytes: {self.key!r}")
        object.__setattr__(self, "priority", Priority(self.priority))

    @property
    def deadline(self) -> float:
        """Wall-clock time after which the message must not be sent."""
        return self.created + TTL[self.priority] if self.expires is None else self.expires


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A stored row, as `next_for` and `pending` return it."""

    id: int
    key: str
    destination: int
    priority: int
    created: float
    expires: float
    attempts: int
    payload: Any
    """Bytes, unless the row was damaged (then `next_for` quarantines it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxStats:
    """Depth and lifetime counters (evictions, expiries and quarantined survive restarts)."""

    by_priority: dict[int, int] = field(default_factory=dict)
    by_destination: dict[int, int] = field(default_factory=dict)
    in_flight: int = 0
    oldest_age: float | None = None
    evictions: int = 0
    expiries: int = 0
    quarantined: int = 0
    demotions: int = 0

    @property
    def depth(self) -> int:
        """Messages stored, pending or in flight."""
        return sum(self.by_priority.values())
