"""Message payloads: decoding for frames the reader already checked, and encoding.

pymavlink's `MAVLink.decode` re-parses the header and recomputes the checksum that
`FrameReader` just verified; on the receive path of every relay that doubles the cost.
This does only the rest, the same way: zero-pad a truncated MAVLink 2 payload, unpack it
in wire order, put fields back in declaration order (arrays as lists, char arrays as
bytes without trailing NULs), and build the message object with its header.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from dialects import event

from .frame import HEADER_LEN, SIGNATURE_LEN, RawFrame


@dataclass(frozen=True, slots=True)
class _Plan:
    cls: Any
    unpacker: struct.Struct
    slices: tuple[tuple[int, int], ...]
    """For each constructor argument: (index of its first value in the unpacked tuple, count)."""


def _plan(cls: Any) -> _Plan:
    lengths = cls.lengths
    firsts = [sum(lengths[:order]) for order in range(len(lengths))]
    slices = tuple((firsts[order], lengths[order]) for order in cls.orders)
    return _Plan(cls, cls.unpacker, slices)


PLANS: dict[int, _Plan] = {msgid: _plan(cls) for msgid, cls in event.mavlink_map.items()}
_PACKER = event.MAVLink(None)


def encode_payload(message: Any) -> bytes:
    """A message's MAVLink 2 payload, trailing zeros truncated as on the wire."""
    frame: bytes = message.pack(_PACKER)
    return frame[HEADER_LEN:-2]


def decode_payload(message_id: int, payload: bytes) -> Any:
    """The message object for a (possibly truncated) payload of a dialect message id."""
    plan = PLANS[message_id]
    size = plan.unpacker.size
    if len(payload) < size:
        payload = payload + bytes(size - len(payload))
    values = plan.unpacker.unpack_from(payload)
    args: list[Any] = []
    for first, count in plan.slices:
        value = values[first]
        if isinstance(value, bytes):
            args.append(value.rstrip(b"\x00"))
        elif count == 1:
            args.append(value)
        else:
            args.append(list(values[first : first + count]))
    return plan.cls(*args)


def decode_frame(frame: RawFrame) -> Any:
    """The message object for a checked frame whose id is in the dialect."""
    message = decode_payload(frame.message_id, frame.payload)
    data = frame.data
    message._header = event.MAVLink_header(
        frame.message_id, data[2], data[3], data[1], data[4], data[5], data[6]
    )
    message._msgbuf = bytearray(data)
    message._payload = frame.payload
    message._signed = frame.signed
    if frame.signed:
        message._link_id = data[-SIGNATURE_LEN]
    message._crc = int.from_bytes(data[HEADER_LEN + data[1] : HEADER_LEN + data[1] + 2], "little")
    return message
