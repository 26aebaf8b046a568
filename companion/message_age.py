"""A message's age on the wire: the `age` field (ms) of the dialect's ACK-required inner
messages (docs/protocol.md, "Time").

Rules:
- The age is written when a copy is sealed, as the time since the message was born
  (`born`, on the sealing node's steady clock: its outbox time included), so each copy
  and each retransmission tells its own age. It saturates at the field's maximum.
- A message type without the field has no age (None): nothing judges it by age.
"""

from __future__ import annotations

from typing import Any

from .reliability.priority import TTL, Priority

AGE_MAX_MS = 0xFFFFFFFF
LATE_AFTER = TTL[Priority.HIGH]
"""A detection older than this when it arrives is late: past the alert time to live of
its default priority, so the alert is moot but the record is not."""


def set_age(message: Any, age: float) -> None:
    """Write `age` (seconds) into a message that carries one, in ms, saturating."""
    if hasattr(message, "age"):
        message.age = min(AGE_MAX_MS, max(0, round(age * 1000)))


def age_of(message: Any) -> float | None:
    """The age (seconds) a message arrived with; None if its type carries none."""
    age = getattr(message, "age", None)
    return None if age is None else float(age) / 1000
