"""Delays between reconnection attempts: exponential, bounded.

A USB radio that was unplugged, or SITL restarting, comes back within seconds;
a device that is gone for good should cost a retry every few seconds, not a
busy loop. Hence a short first delay that doubles up to a ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Delays between attempts: ``initial``, times ``factor`` each time, up to ``maximum``."""

    initial: float = 0.5
    maximum: float = 10.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError(f"need 0 < initial <= maximum, got {self}")
        if self.factor <= 1:
            raise ValueError(f"factor must exceed 1, got {self.factor}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (counting from 0)."""
        delay = self.initial
        for _ in range(attempt):
            if delay >= self.maximum:
                break
            delay *= self.factor
        return min(delay, self.maximum)


DEFAULT_BACKOFF = Backoff()
