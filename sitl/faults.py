"""Faults scheduled on a simulated swarm: partitions, node failures and loss.

Rules of this module:

* Events are frozen values with validating constructors; they say what happens, and
  `Channel.schedule(at, event)` says when. The channel alone applies them.
* A partition is a whole new map of who can hear whom (it replaces the previous one);
  `Heal` removes it. Failures are per node and do not nest: a second `NodeDown` of a
  node already down changes nothing.
* Loss replaces the loss it names: `Loss(p)` the swarm-wide extra loss (which starts as
  `RadioConfig.extra_loss`), `Loss(p, node=n)` node n's own. A frame between two nodes
  survives each loss that applies to it independently (the global one, the sender's,
  the receiver's).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, init=False)
class Partition:
    """Split the swarm: nodes on different sides cannot hear each other at all. Nodes
    named in no group form one more side together. Replaces any earlier partition."""

    groups: tuple[frozenset[int], ...]

    def __init__(self, *groups: set[int] | frozenset[int]) -> None:
        named = [node for group in groups for node in group]
        if len(named) != len(set(named)):
            raise ValueError("partition groups must not overlap")
        object.__setattr__(self, "groups", tuple(frozenset(g) for g in groups))


@dataclass(frozen=True, slots=True)
class Heal:
    """End the partition: everyone can hear everyone in range again."""


@dataclass(frozen=True, slots=True)
class NodeDown:
    """A node fails: its radio neither sends nor receives, and loses what it buffered."""

    node: int


@dataclass(frozen=True, slots=True)
class NodeUp:
    """A failed node's radio works again."""

    node: int


@dataclass(frozen=True, slots=True)
class Loss:
    """Set the extra random loss: swarm-wide, or for frames to and from one `node`."""

    probability: float
    node: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.probability <= 1:
            raise ValueError("a loss probability must be in [0, 1]")


ChannelEvent = Partition | Heal | NodeDown | NodeUp | Loss
"""Anything `Channel.schedule` accepts."""


@dataclass(frozen=True, slots=True)
class InForce:
    """The faults in force on a channel at one instant."""

    down: frozenset[int]
    partition: tuple[frozenset[int], ...]
    """The groups of the partition in force; empty when there is none."""
    loss: float
    """The swarm-wide extra loss."""
    node_loss: dict[int, float]
    """Each node's own extra loss, where it has one."""
