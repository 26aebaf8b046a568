"""Which frame goes on the air next: strict priority, FIFO within one, bounded.

Rules (ARCHITECTURE.md "Reliability and mesh": airtime to the highest priority first,
no starvation of CRITICAL by bulk traffic):
- One FIFO per priority; `pop` serves CRITICAL first, then HIGH, MEDIUM, LOW. Within a
  priority the oldest frame goes first, so fragments of one bundle keep their order.
- A frame whose deadline (its message's TTL) has passed is dropped at pop time, counted
  as expired: airtime spent on it would be wasted.
- At most `max_bytes` queued. A newcomer that does not fit pushes out the oldest frames
  of the lowest priority, never a frame more important than itself; if that is not
  enough the newcomer is dropped. Both counted.
- A frame on the air cannot be pre-empted, so a CRITICAL frame waits at most the airtime
  of the frame in progress: 280 bytes (the largest signed MAVLink 2 frame) at 64 kbit/s
  is 35 ms. Strict priority can starve LOW, by design: bulk only gets idle airtime.
- Bytes handed out are counted per kind ("control", "data", ...) to measure overhead.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from .priority import Priority


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """One encoded frame waiting for airtime."""

    data: bytes
    priority: Priority
    kind: str
    deadline: float
    """Monotonic time after which the frame is worthless."""
    queued: float = 0.0
    """When it was queued, to measure how long it waited for the radio."""
    lower_sent_before: int = 0
    """How many lower-priority frames the node had sent when this one was queued."""


class TransmitScheduler:
    """Frames waiting for the radio, served by priority."""

    def __init__(self, *, max_bytes: int = 64 * 1024) -> None:
        self.max_bytes = max_bytes
        self.counters: Counter[str] = Counter()
        self.queued_bytes = 0
        self._queues = tuple(deque[Frame]() for _ in Priority)

    def __len__(self) -> int:
        """Frames queued."""
        return sum(len(queue) for queue in self._queues)

    def push(self, frame: Frame) -> bool:
        """Queue `frame`; False if it was dropped because the queue is full of better ones."""
        if len(frame.data) > self.max_bytes:
            self.counters["dropped_full"] += 1
            return False
        while self.queued_bytes + len(frame.data) > self.max_bytes:
            victims = [q for q in self._queues[frame.priority :] if q]
            if not victims:
                self.counters["dropped_full"] += 1
                return False
            self.queued_bytes -= len(victims[-1].popleft().data)
            self.counters["evicted"] += 1
        self._queues[frame.priority].append(frame)
        self.queued_bytes += len(frame.data)
        return True

    def pop(self, now: float) -> Frame | None:
        """The next frame to transmit at `now`, or None if nothing worth sending waits."""
        for queue in self._queues:
            while queue:
                frame = queue.popleft()
                self.queued_bytes -= len(frame.data)
                if now < frame.deadline:
                    self.counters[f"sent_bytes_{frame.kind}"] += len(frame.data)
                    return frame
                self.counters["expired"] += 1
        return None
