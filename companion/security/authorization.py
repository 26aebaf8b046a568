"""Zero-trust authorization: every inner message against its sender's certificate.

Rules:
- The node that acts on a message checks it, whatever relayed it: each inner message
  type needs one `Operation` in the sender's certificate (`REQUIRED`).
- A sender whose certificate expired or was revoked since its session began is refused
  for everything (the session layer says so in `Delivered.refusal`).
- A refusal is counted under its outcome's name and, for a message that carries a
  sequence number (the ACK-required types), answered with an EVENT_ACK whose outcome
  says why: the sender is authentic (its envelope verified), so it may know.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from dialects import event

from .certificate import Operation
from .session import Delivered

REQUIRED: dict[int, Operation] = {
    event.MAVLINK_MSG_ID_EVENT_MISSION_ASSIGN: Operation.MISSION_ASSIGN,
    event.MAVLINK_MSG_ID_EVENT_MISSION_ITEMS: Operation.MISSION_ASSIGN,
    event.MAVLINK_MSG_ID_EVENT_MISSION_ABORT: Operation.MISSION_ABORT,
    event.MAVLINK_MSG_ID_EVENT_RETASK: Operation.RETASK,
    event.MAVLINK_MSG_ID_EVENT_PARAM_UPDATE: Operation.PARAM_UPDATE,
    event.MAVLINK_MSG_ID_EVENT_TELEMETRY: Operation.TELEMETRY,
    event.MAVLINK_MSG_ID_EVENT_DETECTION: Operation.DETECTION,
    event.MAVLINK_MSG_ID_EVENT_STATUS: Operation.STATUS,
    event.MAVLINK_MSG_ID_EVENT_HEARTBEAT: Operation.HEARTBEAT,
    event.MAVLINK_MSG_ID_EVENT_ACK: Operation.ACK,
    event.MAVLINK_MSG_ID_EVENT_BULK_HEADER: Operation.BULK,
    event.MAVLINK_MSG_ID_EVENT_BULK_DATA: Operation.BULK,
    event.MAVLINK_MSG_ID_EVENT_REVOCATION: Operation.REVOCATION,
    event.MAVLINK_MSG_ID_EVENT_GROUP_KEY: Operation(0),
}
"""The operation each inner message needs. A group key only lets the holder read the
sender's broadcasts; every message in them is checked here again."""

MESSAGE_TYPE: dict[int, int] = {
    event.MAVLINK_MSG_ID_EVENT_MISSION_ASSIGN: event.EVENT_MSG_TYPE_MISSION_ASSIGN,
    event.MAVLINK_MSG_ID_EVENT_MISSION_ABORT: event.EVENT_MSG_TYPE_MISSION_ABORT,
    event.MAVLINK_MSG_ID_EVENT_RETASK: event.EVENT_MSG_TYPE_RETASK,
    event.MAVLINK_MSG_ID_EVENT_PARAM_UPDATE: event.EVENT_MSG_TYPE_PARAM_UPDATE,
    event.MAVLINK_MSG_ID_EVENT_DETECTION: event.EVENT_MSG_TYPE_DETECTION,
    event.MAVLINK_MSG_ID_EVENT_BULK_HEADER: event.EVENT_MSG_TYPE_IMAGE,
}
"""Messages answered with an EVENT_ACK, and the type the ACK names."""

_OUTCOME_NAMES = {
    event.EVENT_OUTCOME_DENIED: "denied",
    event.EVENT_OUTCOME_CERT_EXPIRED: "cert_expired",
    event.EVENT_OUTCOME_CERT_REVOKED: "cert_revoked",
}


@dataclass(frozen=True, slots=True)
class Decision:
    """What to act on, and the ACKs that tell the sender what was refused."""

    accepted: list[Any]
    refusal_acks: list[Any]


class Authorizer:
    """Checks what arrives sealed against the sender's certificate."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()

    def decide(self, delivered: Delivered) -> Decision:
        accepted, acks = [], []
        for message in delivered.messages:
            outcome = delivered.refusal
            if outcome is None and not delivered.certificate.permits(REQUIRED[message.get_msgId()]):
                outcome = event.EVENT_OUTCOME_DENIED
            if outcome is None:
                accepted.append(message)
                continue
            self.counters[_OUTCOME_NAMES[outcome]] += 1
            msg_type = MESSAGE_TYPE.get(message.get_msgId())
            if msg_type is not None:
                reason = f"{message.get_type()} refused".encode()
                acks.append(event.MAVLink_event_ack_message(message.seq, msg_type, outcome, reason))
        return Decision(accepted, acks)
