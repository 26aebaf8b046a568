"""The mesh data plane: pass sealed frames on towards their destination (sans-IO).

Rules:
- Sealed frames (EVENT_ENVELOPE, EVENT_FRAGMENT, EVENT_HANDSHAKE) carry the final `dst`
  and a `next_hop`. A node takes a frame only if it is the next hop (or the frame is a
  group flood, next hop 0); frames for other next hops are overheard and ignored.
- A frame for us goes up to the session layer. A frame for someone else is passed on,
  unopened (relays cannot read it), to the next hop the router gives, with one hop less;
  at zero hops it is dropped. A frame is never handed back to the neighbour it came from.
- The same frame twice within `DUPLICATE_WINDOW` (two paths, an echo) is passed on
  once: seen frames are remembered by (kind, src, counter or time, fragment index), in a
  bounded table. A copy that comes later is the originator retransmitting it unchanged
  (handshakes do), and goes on again.
- No route: the frame waits in a bounded store (store-and-forward) and the router looks
  for one. It leaves when a route appears, or is dropped when its priority's time to live
  (the seed's 5 s / 30 s / 5 min / 1 h) runs out. A full store evicts the lowest priority,
  then the oldest. Every drop is counted.
- A frame handed to a relay is watched until the relay is overheard passing it on
  (`passive_ack.py`); a relay that keeps failing is reported to the router as a broken
  link, in about a second instead of three missed hellos.
- Group floods (group bit set) go up to the session layer and are repeated once by every
  node while hops remain.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

from dialects import event

from ..reliability.priority import TTL, Priority
from .passive_ack import PassiveAcks
from .router import Router

HANDSHAKE_PRIORITY = 1
STORE_LIMIT = 256
HOP_LIMIT = 15
"""Hops left a sender starts with: a frame with h left has come HOP_LIMIT - h + 1 hops."""
SEEN_LIMIT = 4096
DUPLICATE_WINDOW = 1.0
"""Copies of a frame within this many seconds are duplicates (two paths, a relay's
echo). Later ones are the originator retransmitting the same frame (a handshake
message is resent unchanged) and must be passed on again."""
_GROUP = 0x04
_HOPS_SHIFT = 4


@dataclass(slots=True)
class _Stored:
    message: Any
    priority: int
    expires: float


@dataclass(frozen=True, slots=True)
class Outbound:
    """A frame to transmit, with the priority the transmit scheduler needs."""

    message: Any
    priority: int


def priority_of(message: Any) -> int:
    if message.get_msgId() == event.MAVLINK_MSG_ID_EVENT_HANDSHAKE:
        return HANDSHAKE_PRIORITY
    return int(message.meta) & 0x03


def _hops(message: Any) -> int:
    if message.get_msgId() == event.MAVLINK_MSG_ID_EVENT_HANDSHAKE:
        return int(message.hops_left)
    return int(message.meta) >> _HOPS_SHIFT


def _set_hops(message: Any, hops: int) -> None:
    if message.get_msgId() == event.MAVLINK_MSG_ID_EVENT_HANDSHAKE:
        message.hops_left = hops
    else:
        message.meta = message.meta & 0x0F | hops << _HOPS_SHIFT


def _identity(message: Any) -> tuple[int, ...]:
    msgid = message.get_msgId()
    if msgid == event.MAVLINK_MSG_ID_EVENT_HANDSHAKE:
        return (msgid, message.src, message.dst, message.time, message.kind)
    index = message.index if msgid == event.MAVLINK_MSG_ID_EVENT_FRAGMENT else 0
    return (msgid, message.src, message.dst, *message.counter, index)


def _is_group(message: Any) -> bool:
    return message.get_msgId() != event.MAVLINK_MSG_ID_EVENT_HANDSHAKE and bool(
        message.meta & _GROUP
    )


class Forwarder:
    """Where each sealed frame goes next. Feed it frames and time; take frames out."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.node_id = router.node_id
        self.counters: Counter[str] = Counter()
        self._seen: OrderedDict[tuple[int, ...], float] = OrderedDict()
        self._store: list[_Stored] = []
        self._outgoing: list[Outbound] = []
        self.acks = PassiveAcks()

    def frames_to_send(self) -> list[Outbound]:
        frames, self._outgoing = self._outgoing, []
        return frames

    @property
    def stored(self) -> int:
        return len(self._store)

    def send(self, message: Any, now: float) -> None:
        """One of our own sealed frames, from the session layer."""
        self._first_time(message, now)
        if _is_group(message):
            message.next_hop = 0
            self._outgoing.append(Outbound(message, priority_of(message)))
            return
        self._route(message, None, now)

    def receive(self, message: Any, link_src: int, now: float) -> Any | None:
        """A sealed frame heard from neighbour `link_src`: returns it if it is ours to open."""
        self.acks.heard(_identity(message), link_src)
        group = _is_group(message)
        if not group and message.next_hop != self.node_id:
            self.counters["overheard"] += 1
            return None
        if not self._first_time(message, now):
            self.counters["duplicate"] += 1
            return None
        if group:
            self._pass_on(message, link_src, now, flood=True)
            return message
        self.router.learn_reverse(message.src, link_src, HOP_LIMIT - _hops(message) + 1, now)
        if message.dst == self.node_id:
            return message
        self._pass_on(message, link_src, now, flood=False)
        return None

    def _pass_on(self, message: Any, link_src: int, now: float, *, flood: bool) -> None:
        hops = _hops(message) - 1
        if hops <= 0:
            self.counters["hop_limit"] += 1
            return
        _set_hops(message, hops)
        if flood:
            message.next_hop = 0
            self._outgoing.append(Outbound(message, priority_of(message)))
            self.counters["flooded"] += 1
        else:
            self._route(message, link_src, now)

    def _route(self, message: Any, link_src: int | None, now: float) -> None:
        hop = self.router.next_hop(message.dst, now)
        if hop is not None and hop == link_src:
            self.counters["loop"] += 1
            return
        if hop is None:
            self._keep(message, now)
            self.router.discover(message.dst, now)
            return
        message.next_hop = hop
        if hop != message.dst:
            self.acks.expect(_identity(message), hop, now)
        self._outgoing.append(Outbound(message, priority_of(message)))
        self.counters["forwarded" if link_src is not None else "sent"] += 1

    def _keep(self, message: Any, now: float) -> None:
        identity = _identity(message)
        if any(_identity(s.message) == identity for s in self._store):
            self.counters["already_stored"] += 1  # a retransmission of what already waits
            return
        priority = priority_of(message)
        if len(self._store) >= STORE_LIMIT:
            victim = max(self._store, key=lambda s: (s.priority, -s.expires))
            if victim.priority < priority:
                self.counters["store_refused"] += 1
                return
            self._store.remove(victim)
            self.counters["store_evicted"] += 1
        self._store.append(_Stored(message, priority, now + TTL[Priority(priority)]))
        self.counters["stored"] += 1

    def on_timer(self, now: float) -> None:
        """Act on broken links; drop what outlived its TTL; release what has a route now."""
        for relay in self.acks.broken(now):
            self.counters["link_break_detected"] += 1
            self.router.link_failed(relay, now)
        kept = []
        for item in sorted(self._store, key=lambda s: (s.priority, s.expires)):
            if item.expires <= now:
                self.counters["expired"] += 1
                continue
            hop = self.router.next_hop(item.message.dst, now)
            if hop is None:
                kept.append(item)
                continue
            item.message.next_hop = hop
            self._outgoing.append(Outbound(item.message, item.priority))
            self.counters["released"] += 1
        self._store = kept

    def next_deadline(self) -> float | None:
        acks = self.acks.next_deadline()
        stored = [s.expires for s in self._store] + ([] if acks is None else [acks])
        return min(stored, default=None)

    def _first_time(self, message: Any, now: float) -> bool:
        key = _identity(message)
        seen = self._seen.get(key)
        if seen is not None and now - seen < DUPLICATE_WINDOW:
            return False
        self._seen[key] = now
        self._seen.move_to_end(key)
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True
