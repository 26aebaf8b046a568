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
- Age (docs/protocol.md, "Time"): a row's age is the outbox clock (the node clock) now
  minus its `created`; each hand-over tells the stack that age (`held`), so the message
  carries it, and the life it has left: the rest of its priority's time to live, or of
  the row's own life once demoted.
- A row kept beyond its priority's time to live (`submit(keep_for=...)`: detections and
  their chips) is demoted to LOW once that TTL has passed, never dropped: it goes on at
  LOW until the far end confirms it or its own life ends.
- An `Acknowledged` event confirms the row (the far end answered), except an EXPIRED
  answer, which is no delivery: counted, logged (rate-limited), and the row is demoted
  if it may outlive its TTL, else ended as expired. `GaveUp`, `Expired` and `Dropped`
  release it back to pending (one more attempt counted). The outbox's own expiry ends a
  row at its life's end; `on_expired` is told the keys of every row that ended so, and
  each such end is counted and logged (rate-limited): an expiry is never silent.
- After a restart every in-flight row is pending again (`open_outbox` does that) and is
  sent anew. The receiver's duplicate filter keys on the sequence number, which is new:
  a message whose ACK was lost just before the restart can arrive twice. Applications
  that must act once key on content (the ground station's cloud records do).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import trio

from dialects import event

from ..errors import LocalProtocolError
from ..log_limit import LogLimiter
from ..node import stamp
from ..reliability.events import Acknowledged, Event
from ..reliability.priority import ACK_REQUIRED, TTL, Priority, default_priority
from ..runtime import StackRuntime
from ..security.envelope import decode_bundle, encode_bundle
from .records import OutboxItem, StoredMessage, new_key
from .service import Outbox

log = logging.getLogger(__name__)
EXPIRED = event.EVENT_OUTCOME_EXPIRED
DEFAULT_WINDOW = 8
EXPIRE_EVERY = 5.0
"""Seconds between passes that demote and expire rows."""


def life_left(row: StoredMessage, now: float) -> tuple[Priority, float]:
    """The priority a row goes at now and how long it may still live (seconds).

    Before its priority's time to live has passed: that priority, for the rest of that
    TTL (and of the row's life). After it, a row still alive goes at LOW for the rest of
    its own life (demoted; the store's `demote` catches up with the stored priority).
    """
    age = now - row.created
    priority = Priority(row.priority)
    left = row.expires - now
    if age < TTL[priority]:
        return priority, min(TTL[priority] - age, left)
    return Priority.LOW, left


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
        self._expired_answers: list[int] = []
        self._logs = LogLimiter(log)
        self._wake = trio.Event()

    async def submit(
        self,
        dst: int,
        message: Any,
        *,
        priority: Priority | None = None,
        attached: Sequence[Any] = (),
        key: str | None = None,
        keep_for: float | None = None,
        held: float = 0.0,
    ) -> int:
        """Store `message` (and `attached`) for `dst`; the row id, once committed.

        `keep_for`: seconds to keep it if longer than its priority's time to live (it is
        then demoted to LOW when that TTL has passed, see the rules). `held`: how old it
        already is (a command the cloud queued for a while): its birth is that far back.
        """
        if message.get_msgId() not in ACK_REQUIRED:
            raise LocalProtocolError(
                f"{message.get_type()} needs no ACK, so nothing could confirm it: send it live"
            )
        chosen = default_priority(message.get_msgId()) if priority is None else priority
        stamp(message, self.runtime.stack.fleet_time(self.runtime.wall()))
        created = self.outbox.now() - max(0.0, held)
        item = OutboxItem(
            key=key or new_key(),
            destination=dst,
            priority=chosen,
            payload=encode_bundle([message, *attached]),
            created=created,
            expires=None if keep_for is None else created + max(keep_for, TTL[chosen]),
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
        if isinstance(event, Acknowledged) and event.outcome == EXPIRED:
            self._expired_answers.append(row_id)
            self.counters["expired_answers"] += 1
        elif isinstance(event, Acknowledged):
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
                self.counters["demoted"] += await self.outbox.demote()
                self._ended(await self.outbox.expire(), "its time to live ended")
                next_expiry = trio.current_time() + EXPIRE_EVERY
            with trio.move_on_after(self.poll):
                await wake.wait()

    def _ended(self, keys: list[str], why: str) -> None:
        """Rows that ended undelivered: counted, logged (rate-limited), told."""
        if not keys:
            return
        self.counters["expired"] += len(keys)
        self._logs.log(
            logging.WARNING,
            trio.current_time(),
            "outbox_expired",
            "count=%d total=%d why=%r",
            len(keys),
            self.counters["expired"],
            why,
        )
        if self.on_expired is not None:
            self.on_expired(keys)

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
        if self._expired_answers:
            answered, self._expired_answers = self._expired_answers, []
            demoted, ended = await self.outbox.expired_at_destination(answered)
            self.counters["demoted"] += demoted
            self._ended(ended, "the destination answered EXPIRED")

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
            now = self.outbox.now()
            for row in chosen:
                head, *attached = decode_bundle(row.payload)
                priority, ttl = life_left(row, now)
                seq = self.runtime.send(
                    dst,
                    head,
                    priority=priority,
                    attached=tuple(attached),
                    held=max(0.0, now - row.created),
                    ttl=ttl,
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
