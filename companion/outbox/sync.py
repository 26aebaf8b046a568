"""Buffered sync: the durable outbox feeds a node's stack; only the far end's ACK removes.

Rules:
- `submit` takes an ACK-required inner message (and its bundle), stamps its creation time,
  and returns once it is committed to the outbox: from then on a crash cannot lose it.
  Messages that need no ACK (telemetry, status) have nothing to confirm them and are sent
  live through the stack instead; `submit` refuses them.
- The pump hands rows to the stack by priority, then age, per destination, keeping at most
  `window` of them unacknowledged per destination: the ACKs clock the drain, so it runs
  at the rate the path can take and never floods the stack's memory. CRITICAL rows are
  handed over even when the window is full, and the stack's scheduler sends them first.
- Towards a destination with no route, only one row is in flight: enough to start route
  discovery, not enough to fill the stack while the path is down. When the route comes
  back the window opens again (checked on every stack event and at least every `poll`).
- An `Acknowledged` event (any outcome: the far end answered) confirms the row; nothing
  else removes a sent one. `GaveUp`, `Expired` and `Dropped` release it back to pending
  (one more attempt counted); the outbox's own expiry ends it at its time to live, and
  `on_expired` is told the keys of what ended so.
- After a restart every in-flight row is pending again (`open_outbox` does that) and is
  sent anew. The receiver's duplicate filter keys on the sequence number, which is new:
  a message whose ACK was lost just before the restart can arrive twice. Applications
  that must act once key on content (the ground station's cloud records do).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import trio

from ..errors import LocalProtocolError
from ..node import stamp
from ..reliability.events import Acknowledged, Event
from ..reliability.priority import ACK_REQUIRED, Priority, default_priority
from ..runtime import StackRuntime
from ..security.envelope import decode_bundle, encode_bundle
from .service import Outbox
from .store import OutboxItem, new_key

DEFAULT_WINDOW = 8
EXPIRE_EVERY = 30.0


def valid_bundle(payload: bytes) -> bool:
    """The outbox's `validate`: a row must decode to a non-empty bundle of inner messages."""
    return bool(decode_bundle(payload))


class OutboxSync:
    """Drives one outbox into one node's stack. Run `run()` in a nursery."""

    def __init__(
        self,
        outbox: Outbox,
        runtime: StackRuntime,
        *,
        window: int = DEFAULT_WINDOW,
        poll: float = 1.0,
        on_handed: Callable[[str, int, int], None] | None = None,
        on_expired: Callable[[list[str]], None] | None = None,
    ) -> None:
        if window < 1:
            raise LocalProtocolError(f"window must be at least 1, not {window}")
        self.outbox = outbox
        self.runtime = runtime
        self.window = window
        self.poll = poll
        self.on_handed = on_handed
        """Told (key, destination, seq) each time a row goes to the stack, so the caller
        can match the ACK events that come back to what it submitted."""
        self.on_expired = on_expired
        """Told the keys of rows whose time to live ended before any ACK confirmed them."""
        self.counters: Counter[str] = Counter()
        self._in_flight: dict[tuple[int, int], int] = {}
        """(destination, seq) -> row id of what the stack holds for us."""
        self._per_destination: Counter[int] = Counter()
        self._confirm: list[int] = []
        self._release: list[int] = []
        self._wake = trio.Event()

    async def submit(
        self,
        dst: int,
        message: Any,
        *,
        priority: Priority | None = None,
        attached: Sequence[Any] = (),
        key: str | None = None,
    ) -> int:
        """Store `message` (and `attached`) for `dst`; the row id, once committed."""
        if message.get_msgId() not in ACK_REQUIRED:
            raise LocalProtocolError(
                f"{message.get_type()} needs no ACK, so nothing could confirm it: send it live"
            )
        chosen = default_priority(message.get_msgId()) if priority is None else priority
        wall = self.runtime.wall()
        stamp(message, self.runtime.stack.fleet_time(wall))
        item = OutboxItem(
            key=key or new_key(),
            destination=dst,
            priority=chosen,
            payload=encode_bundle([message, *attached]),
            created=wall,
        )
        row_id = await self.outbox.enqueue(item)
        self.counters["submitted"] += 1
        self._kick()
        return row_id

    def on_event(self, event: Event) -> None:
        """Take a reliability event from the stack (`StackRuntime(on_event=...)`)."""
        row_id = self._in_flight.pop((event.dst, event.seq), None)
        if row_id is None:
            return  # not ours, or a later outcome for a row already confirmed
        self._per_destination[event.dst] -= 1
        if isinstance(event, Acknowledged):
            self._confirm.append(row_id)
        else:
            self._release.append(row_id)
            self.counters[f"released_{type(event).__name__.lower()}"] += 1
        self._kick()

    def in_flight(self, dst: int) -> int:
        """Rows handed to the stack for `dst` and not yet answered."""
        return self._per_destination[dst]

    async def run(self) -> None:
        """Pump forever: settle answers, hand over what the windows allow, expire."""
        next_expiry = trio.current_time()
        while True:
            wake = self._wake
            await self._settle()
            await self._fill()
            if trio.current_time() >= next_expiry:
                expired = await self.outbox.expire()
                self.counters["expired"] += len(expired)
                if expired and self.on_expired is not None:
                    self.on_expired(expired)
                next_expiry = trio.current_time() + EXPIRE_EVERY
            with trio.move_on_after(self.poll):
                await wake.wait()

    def _kick(self) -> None:
        self._wake.set()
        self._wake = trio.Event()

    async def _settle(self) -> None:
        if self._confirm:
            done, self._confirm = self._confirm, []
            self.counters["confirmed"] += await self.outbox.confirm(done)
        if self._release:
            back, self._release = self._release, []
            self.counters["released"] += await self.outbox.release(back)

    async def _fill(self) -> None:
        for dst in await self.outbox.pending_destinations():
            room = self._room(dst)
            batch = await self.outbox.next_for(dst, room or self.window)
            chosen = [
                row
                for index, row in enumerate(batch)
                if index < room or row.priority == Priority.CRITICAL
            ]
            if not chosen:
                continue
            await self.outbox.mark_in_flight([row.id for row in chosen])
            for row in chosen:
                head, *attached = decode_bundle(row.payload)
                seq = self.runtime.send(
                    dst, head, priority=Priority(row.priority), attached=tuple(attached)
                )
                self._in_flight[(dst, seq)] = row.id
                if self.on_handed is not None:
                    self.on_handed(row.key, dst, seq)
                self._per_destination[dst] += 1
                self.counters["handed_over"] += 1

    def _room(self, dst: int) -> int:
        """How many more rows `dst` may have in flight now."""
        stack = self.runtime.stack
        routed = stack.router.next_hop(dst, trio.current_time()) is not None
        limit = self.window if routed else 1
        return max(0, limit - self._per_destination[dst])
