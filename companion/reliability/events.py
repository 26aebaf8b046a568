"""What the reliable sender hands out: messages to transmit and delivery events.

Events are frozen, slotted, keyword-only dataclasses (as h11's `_events.py`). Each
ACK-required message ends in exactly one of `Acknowledged`, `GaveUp`, `Expired` or
`Dropped`; a later `Acknowledged` with rtt None may follow the first one to report a new
outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .priority import Priority


@dataclass(frozen=True, slots=True, kw_only=True)
class Outgoing:
    """Inner messages to seal as one bundle for `dst` and transmit before `deadline`."""

    dst: int
    messages: tuple[Any, ...]
    priority: Priority
    seq: int
    """0 if the message needs no ACK."""
    deadline: float
    attempt: int
    """0 for the first transmission, n for the n-th retransmission."""
    born: float
    """When the message came into being, on the caller's `now` clock: its age when sealed
    is now - born (the sender's outbox time included; docs/protocol.md, "Time")."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Acknowledged:
    """`dst` acknowledged `seq` with an EVENT_OUTCOME."""

    dst: int
    seq: int
    outcome: int
    rtt: float | None
    """The round trip if it could be measured (sent once, not LOW)."""
    reason: str = ""
    """The EVENT_ACK's reason text, if it gave one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GaveUp:
    """No ACK after the last retransmission."""

    dst: int
    seq: int
    transmissions: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Expired:
    """The TTL ran out before an ACK came; `transmissions` is 0 if it never left."""

    dst: int
    seq: int
    transmissions: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Dropped:
    """Pushed out of a full backlog before it was ever transmitted."""

    dst: int
    seq: int


Event = Acknowledged | GaveUp | Expired | Dropped
