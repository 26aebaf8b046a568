"""The shared radio channel of a simulated swarm, sans-IO: who hears what, and when.

Rules of this module (the trio driver in `sitl.radio` only sleeps and moves bytes):

* Time is passed in; nothing here sleeps or reads a clock. Scheduled events (partition,
  heal, node down/up, loss) take effect lazily: every call first applies the events due by
  its `now`, so an event at `t` is in force for everything that happens from `t` on.
* One channel, judged per receiver. A transmission occupies the air around its sender
  only: nodes within `range_m` of the sender (and on its side of any partition) sense it
  and are disturbed by it; others may transmit at the same time (spatial reuse). At a
  receiver, two transmissions it can hear that overlap in time collide and both are
  lost there. A sender hidden from another can thus collide at a node between them.
* Geometry is taken at the start of a frame (a 35 ms frame moves a UAV by under a metre);
  partition and up/down state are judged when the frame ends.
* MAC: listen before talk, after SiK's optional LBT mode (tdm.c: the radio keeps quiet
  while it detects a preamble, and adds a random listen time). A node transmits after
  the channel around it is idle and a random backoff of 0..`contention_slots`-1 slots
  has passed with the channel still idle. Carrier is detected only `slot_time` after a
  transmission starts (the preamble must be heard first), so two nodes whose backoffs
  end in the same slot collide, independent of the order tasks run in.
* Not modelled: SiK's default TDM windows and frequency hopping (built for one pair of
  radios, not a swarm), its splitting of serial data into air packets of its own size
  (here one frame is one air packet), capture of a strong frame over a weak one, and
  the serial link between radio and host.
* Randomness: one seed, split into per-purpose streams (`loss/src/dst` per directed
  link, `backoff/node` per node), so outcomes do not depend on trio's task order.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field

from .accounting import FrameRecord, NodeStats, Outcome
from .faults import ChannelEvent, Heal, InForce, Loss, NodeDown, NodeUp, Partition
from .motion import Motion, Position, distance

TIME_EPSILON = 1e-9
"""Seconds within which two instants count as equal when sensing the carrier: far below
any radio timing, far above the rounding of float times over a long flight. Without it a
node one backoff slot behind another might miss its carrier by a rounding error."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RadioConfig:
    """Radio and channel parameters; the defaults describe SiK radios at AIR_SPEED=64."""

    range_m: float = 1000.0
    fade_start: float = 0.7
    """Fraction of range up to which every frame arrives; beyond it, delivery falls
    smoothly (cosine taper) to 0 at `range_m`. 1.0 makes the edge sharp."""
    extra_loss: float = 0.0
    """Uniform loss on top of distance, e.g. 0.1 for 10%."""
    air_rate: float = 64_000.0
    """Air data rate in bit/s, shared by every node within range of each other."""
    overhead_bytes: int = 17
    """Radio framing per frame: SiK's tdm_init counts 5 bytes of preamble and 8 of sync
    word, header, length and CRC per packet, and each packet carries a 4-byte TDM
    trailer. A 280-byte frame thus takes 297 bytes of air: 37.125 ms at 64 kbit/s."""
    processing_delay: float = 0.001
    """From the last bit on the air to the bytes reaching the receiving host."""
    carrier_sense: bool = True
    """False gives pure ALOHA: transmit at once, whatever is on the air."""
    slot_time: float = 0.0005
    """Carrier-detect delay and backoff unit: under a 5-byte preamble (0.625 ms)."""
    contention_slots: int = 8
    """Backoff drawn uniformly from 0..contention_slots-1 slots before every frame."""

    def __post_init__(self) -> None:
        if self.range_m <= 0 or self.air_rate <= 0:
            raise ValueError("range and air rate must be positive")
        if not 0 < self.fade_start <= 1 or not 0 <= self.extra_loss <= 1:
            raise ValueError("fade_start must be in (0, 1] and extra_loss in [0, 1]")
        if self.overhead_bytes < 0 or self.processing_delay < 0:
            raise ValueError("overhead and processing delay cannot be negative")
        if self.slot_time <= 0:
            # A carrier heard the instant it starts would make the outcome of two nodes
            # starting together depend on which task trio ran first.
            raise ValueError("slot_time must be positive")
        if self.contention_slots < 1:
            raise ValueError("contention_slots must be at least 1")

    def airtime(self, size: int) -> float:
        """Seconds a frame of `size` bytes occupies the air, overhead included."""
        return (size + self.overhead_bytes) * 8 / self.air_rate

    def reach(self, d: float) -> float:
        """Probability that a frame crosses `d` metres (before collisions and extra loss)."""
        edge = self.fade_start * self.range_m
        if d <= edge:
            return 1.0
        if d >= self.range_m:
            return 0.0
        return 0.5 * (1 + math.cos(math.pi * (d - edge) / (self.range_m - edge)))


@dataclass(slots=True, eq=False)
class Transmission:
    """One frame between `Channel.begin` and `Channel.finish`."""

    record: FrameRecord
    src_pos: Position
    epochs: dict[int, int]
    """Every attached node's up/down epoch when the frame started: a receiver or sender
    whose epoch changed by the end went down meanwhile."""
    on_air: bool
    finished: bool = field(default=False)

    @property
    def src(self) -> int:
        return self.record.src

    @property
    def start(self) -> float:
        return self.record.start

    @property
    def end(self) -> float:
        return self.record.end

    def overlaps(self, other: Transmission) -> bool:
        """True if both were on the air at some instant (touching ends do not count)."""
        return self.start < other.end and other.start < self.end


class Channel:
    """The air shared by attached nodes: channel access, outcomes, accounting."""

    def __init__(self, seed: int, config: RadioConfig | None = None, start: float = 0.0):
        self.seed = seed
        self.config = config if config is not None else RadioConfig()
        self.start = start
        self.records: list[FrameRecord] = []
        """Every frame so far, in the order they went on the air."""
        self._motion: dict[int, Motion] = {}
        self._stats: dict[int, NodeStats] = {}
        self._attached: set[int] = set()
        self._down: set[int] = set()
        self._epochs: dict[int, int] = {}
        self._side: dict[int, int] = {}
        self._groups: tuple[frozenset[int], ...] = ()
        self._loss = self.config.extra_loss
        self._node_loss: dict[int, float] = {}
        self._events: list[tuple[float, int, ChannelEvent]] = []
        self._scheduled = 0
        self._air: list[Transmission] = []
        self._rngs: dict[str, random.Random] = {}

    def attach(self, node: int, motion: Motion) -> None:
        """Add a node's radio to the channel."""
        if node in self._attached:
            raise ValueError(f"node {node} is already attached")
        self._attached.add(node)
        self._motion[node] = motion
        self._stats.setdefault(node, NodeStats())
        self._epochs.setdefault(node, 0)

    def detach(self, node: int) -> None:
        """Remove a node's radio: it no longer receives; its counters remain."""
        self._attached.discard(node)

    def set_motion(self, node: int, motion: Motion) -> None:
        """Give a node a new course from now on (models take absolute time)."""
        self._motion[node] = motion

    def position(self, node: int, now: float) -> Position:
        """Where `node` is at `now`."""
        return self._motion[node].position(now)

    def schedule(self, at: float, event: ChannelEvent) -> None:
        """Make `event` take effect at time `at`."""
        # The counter keeps events due at the same time in the order they were scheduled.
        self._scheduled += 1
        heapq.heappush(self._events, (at, self._scheduled, event))

    def advance(self, now: float) -> None:
        """Apply every scheduled event due by `now`."""
        while self._events and self._events[0][0] <= now:
            _, _, event = heapq.heappop(self._events)
            self._apply(event)

    def is_up(self, node: int, now: float) -> bool:
        """False while a scheduled NodeDown is in force for `node`."""
        self.advance(now)
        return node not in self._down

    def in_force(self, now: float) -> InForce:
        """The partition, failures and extra losses in force at `now`."""
        self.advance(now)
        return InForce(frozenset(self._down), self._groups, self._loss, dict(self._node_loss))

    def epoch(self, node: int, now: float) -> int:
        """Counts the node's failures so far: a buffer from an older epoch is gone."""
        self.advance(now)
        return self._epochs[node]

    def idle_from(self, node: int, now: float) -> float:
        """When the channel around `node` will be sensed idle, as far as known at `now`
        (`now` itself if it is idle now)."""
        self.advance(now)
        heard_from = now - self.config.slot_time + TIME_EPSILON
        busy = [
            tx.end
            for tx in self._air
            if tx.src != node and tx.start <= heard_from and now < tx.end and self._hears(node, tx)
        ]
        return max(busy, default=now)

    def backoff(self, node: int) -> float:
        """A random backoff before `node`'s next frame, in seconds."""
        slots = self._rng(f"backoff/{node}").randrange(self.config.contention_slots)
        return slots * self.config.slot_time

    def begin(self, src: int, size: int, kind: str, now: float) -> Transmission:
        """`src` puts a frame of `size` bytes on the air now (a down node's goes nowhere)."""
        self.advance(now)
        airtime = self.config.airtime(size)
        record = FrameRecord(len(self.records), src, kind, size, now, now + airtime)
        self.records.append(record)
        on_air = src not in self._down
        tx = Transmission(record, self.position(src, now), dict(self._epochs), on_air)
        if on_air:
            self._air.append(tx)
            self._stats[src].count_sent(size, airtime, kind)
        else:
            self._stats[src].frames_discarded += 1
        return tx

    def finish(self, tx: Transmission, now: float) -> set[int]:
        """The frame has ended: decide and count its outcome everywhere; return the
        nodes that received it."""
        self.advance(now)
        for rx in sorted(self._attached & tx.epochs.keys() - {tx.src}):
            outcome = self._outcome(tx, rx)
            tx.record.outcomes[rx] = outcome
            if outcome is not Outcome.DELIVERED:
                self._stats[rx].lost[outcome] += 1
        tx.finished = True
        earliest = min((u.start for u in self._air if not u.finished), default=math.inf)
        self._air = [u for u in self._air if not u.finished or u.end > earliest]
        return tx.record.delivered_to()

    def stats(self, node: int) -> NodeStats:
        """The live counters of one node."""
        return self._stats[node]

    def total(self) -> NodeStats:
        """All nodes' counters added together (a new object)."""
        return NodeStats.sum(list(self._stats.values()))

    def utilisation(self, now: float) -> float:
        """Airtime used by all nodes / time elapsed. Above 1 only where distant
        neighbourhoods reuse the channel at the same time."""
        elapsed = now - self.start
        return self.total().airtime / elapsed if elapsed > 0 else 0.0

    def _apply(self, event: ChannelEvent) -> None:
        match event:
            case Partition(groups=groups):
                self._side = {node: i for i, group in enumerate(groups) for node in group}
                self._groups = groups
            case Heal():
                self._side, self._groups = {}, ()
            case NodeDown(node=node):
                if node not in self._down:
                    self._down.add(node)
                    self._epochs[node] = self._epochs.get(node, 0) + 1
            case NodeUp(node=node):
                self._down.discard(node)
            case Loss(probability=p, node=None):
                self._loss = p
            case Loss(probability=p, node=int(node)):
                self._node_loss[node] = p

    def _outcome(self, tx: Transmission, rx: int) -> Outcome:
        # Draw for every receiver every time, so one link's stream never depends on
        # what happened on another.
        rng = self._rng(f"loss/{tx.src}/{rx}")
        fade, extra = rng.random(), rng.random()
        d = distance(tx.src_pos, self.position(rx, tx.start))
        blocked = self._blocked(tx, rx, d)
        if blocked is not None:
            return blocked
        if fade >= self.config.reach(d):
            return Outcome.RANGE
        return Outcome.RANDOM if extra < self._link_loss(tx.src, rx) else Outcome.DELIVERED

    def _link_loss(self, src: int, rx: int) -> float:
        """The extra loss between two nodes: each loss that applies is independent."""
        if src not in self._node_loss and rx not in self._node_loss:
            return self._loss
        keep = 1 - self._loss
        for node in (src, rx):
            keep *= 1 - self._node_loss.get(node, 0.0)
        return 1 - keep

    def _blocked(self, tx: Transmission, rx: int, d: float) -> Outcome | None:
        """The reason `rx` cannot have received `tx` whatever the dice say, if any."""
        if not tx.on_air or self._went_down(tx.src, tx) or self._went_down(rx, tx):
            return Outcome.NODE_DOWN
        if self._side.get(tx.src, -1) != self._side.get(rx, -1):
            return Outcome.PARTITION
        if d > self.config.range_m:
            return Outcome.RANGE
        if any(u.src == rx and u.overlaps(tx) for u in self._air):
            return Outcome.TRANSMITTING
        if any(self._interferes(u, tx, rx) for u in self._air):
            return Outcome.COLLISION
        return None

    def _went_down(self, node: int, tx: Transmission) -> bool:
        return node in self._down or self._epochs[node] != tx.epochs[node]

    def _interferes(self, u: Transmission, tx: Transmission, rx: int) -> bool:
        return u.src not in (tx.src, rx) and u.overlaps(tx) and self._hears(rx, u)

    def _hears(self, node: int, tx: Transmission) -> bool:
        """True if `node` is within range of `tx`'s sender and on its side."""
        if self._side.get(node, -1) != self._side.get(tx.src, -1):
            return False
        return distance(tx.src_pos, self.position(node, tx.start)) <= self.config.range_m

    def _rng(self, purpose: str) -> random.Random:
        rng = self._rngs.get(purpose)
        if rng is None:
            rng = self._rngs[purpose] = random.Random(f"{self.seed}/{purpose}")
        return rng
