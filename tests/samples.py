"""Sample dialect messages for tests and benchmarks: every field filled from a seeded RNG."""

from __future__ import annotations

import random
import struct
from typing import Any

from dialects import event

_INT_RANGES = {
    "int8_t": (-(2**7), 2**7 - 1),
    "uint8_t": (0, 2**8 - 1),
    "int16_t": (-(2**15), 2**15 - 1),
    "uint16_t": (0, 2**16 - 1),
    "int32_t": (-(2**31), 2**31 - 1),
    "uint32_t": (0, 2**32 - 1),
    "int64_t": (-(2**63), 2**63 - 1),
    "uint64_t": (0, 2**64 - 1),
}


def _scalar(fieldtype: str, rng: random.Random) -> int | float:
    if fieldtype in ("float", "double"):
        # Exactly representable in float32, so the round trip compares equal.
        return struct.unpack("<f", struct.pack("<f", rng.uniform(-1e6, 1e6)))[0]  # type: ignore[no-any-return]
    low, high = _INT_RANGES[fieldtype.removesuffix("_mavlink_version")]
    return rng.randint(low, high)


def _value(fieldtype: str, length: int, rng: random.Random) -> Any:
    if fieldtype == "char":
        size = max(length, 1)
        return bytes(rng.choice(b"ABCXYZ_0189") for _ in range(rng.randint(0, size)))
    if length:
        return [_scalar(fieldtype, rng) for _ in range(length)]
    return _scalar(fieldtype, rng)


def sample_message(cls: Any, rng: random.Random) -> Any:
    """An instance of pymavlink message class `cls` with random, encodable field values."""
    # fieldtypes follow declaration order; array_lengths follow wire order.
    lengths = dict(zip(cls.ordered_fieldnames, cls.array_lengths, strict=True))
    types = zip(cls.fieldnames, cls.fieldtypes, strict=True)
    return cls(*(_value(t, lengths[name], rng) for name, t in types))


def event_classes() -> list[Any]:
    """The EVENT dialect's own message classes (ids 24100-24199)."""
    return [cls for msgid, cls in sorted(event.mavlink_map.items()) if 24100 <= msgid < 24200]


def all_classes() -> list[Any]:
    """Every message class of the dialect, ArduPilot's and common ones included."""
    return [cls for _, cls in sorted(event.mavlink_map.items())]


def detection(seq: int = 1) -> Any:
    """A typical detection, as the onboard detector would report it."""
    return event.MAVLink_event_detection_message(
        seq=seq,
        time=0,  # the sending node stamps it
        lat=-353632621,
        lon=1491652374,
        alt=584,
        track_id=seq % 65536,  # tells test messages apart: reliability rewrites seq
        bbox=[120, 88, 64, 40],
        chip_id=0,
        class_id=3,
        confidence=91,
    )


def fields(message: Any) -> dict[str, Any]:
    """A message's field values, for comparing what was sent with what arrived."""
    return {name: message.format_attr(name) for name in message.get_fieldnames()}
