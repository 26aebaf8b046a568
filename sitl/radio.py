"""A simulated radio medium under trio: every node gets a datagram `Transport`.

Rules of this module:

* This is the thin trio driver around `sitl.channel.Channel`, which decides everything
  (access, collisions, loss, accounting). The driver only sleeps on trio's clock and
  moves bytes between ports; a loopback-UDP driver can reuse the channel as it is.
* One `send()` is one frame and returns once the frame's last bit has left the
  antenna: awaiting it takes channel access plus airtime, so a node's scheduler paces
  itself to the channel. One `receive()` is one frame, handed over
  `processing_delay` after it ended on the air. Concurrent sends on one port queue.
* Once on the air a frame finishes even if the caller is cancelled: the radio has it.
* A down node's `send()` still takes the frame's airtime (so a sending loop cannot spin
  at one instant) but the frame goes nowhere; its `receive()` yields nothing, and
  frames its radio held when it went down are lost with it.
* Time virtual or not, the driver computes instants from the channel's own figures
  (start + airtime), so on trio's MockClock the times are exact and reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import trio

from companion.transport import TransportClosed

from .accounting import FrameRecord, NodeStats, Outcome
from .channel import Channel, RadioConfig, Transmission
from .faults import ChannelEvent, Heal, Loss, NodeDown, NodeUp, Partition
from .motion import Line, Motion, Stationary, Waypoints

__all__ = [
    "ChannelEvent",
    "Classify",
    "FrameRecord",
    "Heal",
    "Line",
    "Loss",
    "NodeDown",
    "NodeStats",
    "NodeUp",
    "Outcome",
    "Partition",
    "RadioConfig",
    "RadioMedium",
    "RadioPort",
    "Stationary",
    "Waypoints",
    "kind_by_message_id",
]

Classify = Callable[[bytes], str]
"""Labels a frame with the kind its airtime is accounted under ("control", "data")."""

MAVLINK2_MAGIC = 0xFD


def kind_by_message_id(kinds: Mapping[int, str], default: str = "data") -> Classify:
    """A `Classify` reading the message id of a MAVLink 2 frame (header bytes 7-9)."""

    def classify(frame: bytes) -> str:
        if len(frame) < 10 or frame[0] != MAVLINK2_MAGIC:
            return default
        return kinds.get(int.from_bytes(frame[7:10], "little"), default)

    return classify


def _everything_is_data(frame: bytes) -> str:
    return "data"


class RadioMedium:
    """The air around a simulated swarm. Create it inside `trio.run`; it runs no tasks."""

    def __init__(self, seed: int, config: RadioConfig | None = None) -> None:
        self.channel = Channel(seed, config, start=trio.current_time())
        """The sans-IO model deciding everything; query it for positions and records."""
        self._ports: dict[int, RadioPort] = {}

    @property
    def config(self) -> RadioConfig:
        """The radio and channel parameters."""
        return self.channel.config

    @property
    def records(self) -> list[FrameRecord]:
        """Every frame so far with its outcome at each other node."""
        return self.channel.records

    def attach(self, node: int, motion: Motion, classify: Classify | None = None) -> RadioPort:
        """Give `node` a radio moving along `motion`; `classify` labels its frames' kind."""
        self.channel.attach(node, motion)
        port = RadioPort(self, node, classify or _everything_is_data)
        self._ports[node] = port
        return port

    def set_motion(self, node: int, motion: Motion) -> None:
        """Change `node`'s course from now on."""
        self.channel.set_motion(node, motion)

    def schedule(self, at: float, event: ChannelEvent) -> None:
        """Make a partition, heal, node failure, recovery or loss happen at time `at`."""
        self.channel.schedule(at, event)

    def stats(self, node: int) -> NodeStats:
        """Counters of one node."""
        return self.channel.stats(node)

    def total(self) -> NodeStats:
        """Counters of the whole swarm."""
        return self.channel.total()

    def utilisation(self) -> float:
        """Airtime used / time elapsed since the medium was made."""
        return self.channel.utilisation(trio.current_time())

    async def _transmit(self, node: int, data: bytes, kind: str) -> None:
        now = trio.current_time()
        if self.config.carrier_sense and self.channel.is_up(node, now):
            now = await self._access(node, now)
        tx = self.channel.begin(node, len(data), kind, now)
        with trio.CancelScope(shield=True):
            await trio.sleep_until(tx.end)
            self._deliver(tx, data)

    async def _access(self, node: int, now: float) -> float:
        """Listen before talk; return the instant the frame may start."""
        while True:
            idle = self.channel.idle_from(node, now)
            if idle > now:
                await trio.sleep_until(idle)
                now = idle
                continue
            now += self.channel.backoff(node)
            await trio.sleep_until(now)
            if self.channel.idle_from(node, now) <= now:
                return now

    def _deliver(self, tx: Transmission, data: bytes) -> None:
        ready = tx.end + self.config.processing_delay
        for rx in self.channel.finish(tx, tx.end):
            self._ports[rx].arrive(ready, self.channel.epoch(rx, tx.end), data)


class RadioPort:
    """One node's radio, as a datagram `Transport` for the link layer."""

    is_datagram = True

    def __init__(self, medium: RadioMedium, node: int, classify: Classify) -> None:
        self.node = node
        self._medium = medium
        self._classify = classify
        self._send_lock = trio.Lock()
        self._arrivals, self._inbox = trio.open_memory_channel[tuple[float, int, bytes]](math.inf)
        self._head: tuple[float, int, bytes] | None = None
        self._closed = False

    @property
    def stats(self) -> NodeStats:
        """This node's counters."""
        return self._medium.stats(self.node)

    async def send(self, data: bytes) -> None:
        """Transmit one frame; return when it has left the antenna."""
        if self._closed:
            raise TransportClosed(f"radio of node {self.node} is closed")
        if not data:
            raise ValueError("a radio frame cannot be empty")
        kind = self._classify(data)
        async with self._send_lock:
            await self._medium._transmit(self.node, data, kind)

    async def receive(self) -> bytes:
        """The next frame this node's radio received."""
        channel = self._medium.channel
        while True:
            if self._head is None:
                try:
                    self._head = await self._inbox.receive()
                except trio.ClosedResourceError:
                    raise TransportClosed(f"radio of node {self.node} is closed") from None
            ready, epoch, data = self._head
            # Keep the frame as the head while waiting, so a cancelled receive loses nothing.
            await trio.sleep_until(ready)
            self._head = None
            if channel.epoch(self.node, ready) == epoch:
                self.stats.count_received(len(data))
                return data
            self.stats.lost[Outcome.NODE_DOWN] += 1

    async def aclose(self) -> None:
        """Switch the radio off for good: it leaves the channel; counters remain."""
        if not self._closed:
            self._closed = True
            self._medium.channel.detach(self.node)
            self._inbox.close()
            self._arrivals.close()
        await trio.lowlevel.checkpoint()

    def arrive(self, ready: float, epoch: int, data: bytes) -> None:
        """Called by the medium: a frame reached this radio; hand it over at `ready`."""
        if not self._closed:
            self._arrivals.send_nowait((ready, epoch, data))
