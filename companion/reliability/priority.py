"""Priorities, time to live and which inner messages need an end-to-end ACK.

Rules (seed requirements; dialects/event.xml EVENT_PRIORITY; docs/protocol.md
"Reliability"):
- Four priorities with the dialect's values: airtime goes to the lowest value first.
- Time to live per priority, the seed's: CRITICAL 5 s, HIGH 30 s, MEDIUM 5 min, LOW 1 h.
  A message is never transmitted after its TTL.
- ACK-required types carry `seq`: the seed's mission assign, mission abort, retask and
  detection, plus parameter update (a silently lost PARAM_SET changes flight behaviour
  without anyone knowing), plus EVENT_BULK_HEADER. The bulk header has a `seq` field
  and detections point at it (`chip_id`); without an ACK one lost fragment among the
  dozens of a chip loses the whole chip silently. It is LOW priority, so its
  retransmissions only use airtime nothing else wants.
- Default priority per inner type as the dialect's descriptions say. An EVENT_ACK should
  travel at the acknowledged message's priority (the receiver read it from the envelope
  meta); HIGH is only its default.
"""

from __future__ import annotations

from enum import IntEnum
from types import MappingProxyType

from dialects import event

from ..errors import LocalProtocolError


class Priority(IntEnum):
    """Delivery priority (EVENT_PRIORITY); a lower value is served first."""

    CRITICAL = event.EVENT_PRIORITY_CRITICAL
    HIGH = event.EVENT_PRIORITY_HIGH
    MEDIUM = event.EVENT_PRIORITY_MEDIUM
    LOW = event.EVENT_PRIORITY_LOW


TTL = MappingProxyType(
    {Priority.CRITICAL: 5.0, Priority.HIGH: 30.0, Priority.MEDIUM: 300.0, Priority.LOW: 3600.0}
)
"""Seconds a message of each priority may live before it is dropped unsent."""

ACK_REQUIRED = frozenset(
    {
        event.MAVLINK_MSG_ID_EVENT_MISSION_ASSIGN,
        event.MAVLINK_MSG_ID_EVENT_MISSION_ABORT,
        event.MAVLINK_MSG_ID_EVENT_RETASK,
        event.MAVLINK_MSG_ID_EVENT_PARAM_UPDATE,
        event.MAVLINK_MSG_ID_EVENT_DETECTION,
        event.MAVLINK_MSG_ID_EVENT_BULK_HEADER,
    }
)
"""Message ids whose `seq` is assigned by the sender and answered by an EVENT_ACK."""

DEFAULT_PRIORITY = MappingProxyType(
    {
        event.MAVLINK_MSG_ID_EVENT_MISSION_ABORT: Priority.CRITICAL,
        event.MAVLINK_MSG_ID_EVENT_MISSION_ASSIGN: Priority.HIGH,
        event.MAVLINK_MSG_ID_EVENT_MISSION_ITEMS: Priority.HIGH,
        event.MAVLINK_MSG_ID_EVENT_RETASK: Priority.HIGH,
        event.MAVLINK_MSG_ID_EVENT_DETECTION: Priority.HIGH,
        event.MAVLINK_MSG_ID_EVENT_ACK: Priority.HIGH,
        event.MAVLINK_MSG_ID_EVENT_PARAM_UPDATE: Priority.MEDIUM,
        event.MAVLINK_MSG_ID_EVENT_TELEMETRY: Priority.MEDIUM,
        event.MAVLINK_MSG_ID_EVENT_STATUS: Priority.MEDIUM,
        event.MAVLINK_MSG_ID_EVENT_HEARTBEAT: Priority.MEDIUM,
        event.MAVLINK_MSG_ID_EVENT_BULK_HEADER: Priority.LOW,
        event.MAVLINK_MSG_ID_EVENT_BULK_DATA: Priority.LOW,
    }
)
"""Priority of each inner message type when the caller has no reason to choose another."""


def default_priority(msgid: int) -> Priority:
    """The default priority of inner message `msgid`; LocalProtocolError if it has none."""
    try:
        return DEFAULT_PRIORITY[msgid]
    except KeyError:
        raise LocalProtocolError(f"no default priority for message id {msgid}") from None
