"""Faults scheduled on a simulated swarm: partitions and node failures.

Rules of this module:

* Events are frozen values with validating constructors; they say what happens, and
  `Channel.schedule(at, event)` says when. The channel alone applies them.
* A partition is a whole new map of who can hear whom (it replaces the previous one);
  `Heal` removes it. Failures are per node and do not nest: a second `NodeDown` of a
  node already down changes nothing.
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


ChannelEvent = Partition | Heal | NodeDown | NodeUp
"""Anything `Channel.schedule` accepts."""
