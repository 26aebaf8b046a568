"""What happened on the simulated air: per-frame outcomes and per-node counters.

Rules of this module:

* Every frame put on the air has exactly one `Outcome` at every other attached node:
  delivered, or lost for one named reason. So for each frame the outcomes add up to
  the number of other nodes, and figures can be cross-checked.
* Losses are counted at the node that missed the frame (its `NodeStats.lost`); frames,
  bytes and airtime are counted at the node that sent it.
* Bytes are frame bytes as the caller gave them; airtime includes the radio's own
  per-frame overhead (see `RadioConfig.overhead_bytes`).
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field


class Outcome(enum.Enum):
    """What became of one frame at one receiver, checked in this order."""

    NODE_DOWN = "node down"
    """The sender or the receiver was down at some point while the frame was on the air,
    or the receiving radio went down before its host read the frame."""
    PARTITION = "partition"
    """A scheduled partition put sender and receiver on different sides."""
    RANGE = "range"
    """Too far: beyond range, or faded out in the zone where delivery becomes uncertain."""
    TRANSMITTING = "transmitting"
    """The receiver was itself transmitting (radios are half duplex)."""
    COLLISION = "collision"
    """Another transmission the receiver could hear overlapped this one."""
    RANDOM = "random loss"
    """The configured extra uniform loss (interference, multipath)."""
    DELIVERED = "delivered"


@dataclass(slots=True)
class FrameRecord:
    """One frame handed to the radio, and its fate at each other node."""

    number: int
    """Position in the medium's log, from 0."""
    src: int
    kind: str
    size: int
    start: float
    """When the frame went on the air (after channel access)."""
    end: float
    """When its last bit left the antenna."""
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    """Receiver node id -> outcome; filled in when the frame ends."""

    def delivered_to(self) -> set[int]:
        """The nodes that received the frame."""
        return {node for node, out in self.outcomes.items() if out is Outcome.DELIVERED}


@dataclass(slots=True)
class NodeStats:
    """Counters of one node (or, from `NodeStats.sum`, of the whole swarm)."""

    frames_sent: int = 0
    bytes_sent: int = 0
    airtime: float = 0.0
    """Seconds this node's transmissions occupied the air."""
    airtime_by_kind: dict[str, float] = field(default_factory=dict)
    """The same seconds, split by the caller's `kind` label."""
    frames_discarded: int = 0
    """Frames handed to the radio while its node was down: never put on the air."""
    frames_received: int = 0
    """Frames handed to this node's host."""
    bytes_received: int = 0
    lost: Counter[Outcome] = field(default_factory=Counter)
    """Frames this node missed, by reason."""

    def count_sent(self, size: int, airtime: float, kind: str) -> None:
        """A frame of `size` bytes went on the air for `airtime` seconds."""
        self.frames_sent += 1
        self.bytes_sent += size
        self.airtime += airtime
        self.airtime_by_kind[kind] = self.airtime_by_kind.get(kind, 0.0) + airtime

    def count_received(self, size: int) -> None:
        """A frame of `size` bytes reached the host."""
        self.frames_received += 1
        self.bytes_received += size

    @classmethod
    def sum(cls, parts: list[NodeStats]) -> NodeStats:
        """The counters of several nodes added together."""
        total = cls()
        for part in parts:
            total.frames_sent += part.frames_sent
            total.bytes_sent += part.bytes_sent
            total.airtime += part.airtime
            for kind, seconds in part.airtime_by_kind.items():
                total.airtime_by_kind[kind] = total.airtime_by_kind.get(kind, 0.0) + seconds
            total.frames_discarded += part.frames_discarded
            total.frames_received += part.frames_received
            total.bytes_received += part.bytes_received
            total.lost.update(part.lost)
        return total
