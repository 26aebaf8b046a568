"""Two link endpoints sharing a fleet key, and ways to forge frames against them."""

from __future__ import annotations

import struct
from typing import Any

from companion.link import Link, LinkConfig
from companion.link.frame import HEADER_LEN, SIGNATURE_LEN, crc_of
from companion.link.link import CRC_EXTRAS
from companion.link.signing import EPOCH_2015
from dialects import event

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NOW = EPOCH_2015 + 360_000_000.0  # a wall-clock time in May 2026, past the plausible floor


def pair(key: bytes | None = KEY) -> tuple[Link, Link]:
    """A UAV companion (system 3) and a ground station (system 255) on one radio link."""
    return Link(LinkConfig(system_id=3, key=key)), Link(LinkConfig(system_id=255, key=key))


def recrc(frame: bytes | bytearray) -> bytes:
    """Recompute the checksum after editing header or payload, as an attacker can."""
    frame = bytearray(frame)
    end = HEADER_LEN + frame[1]
    msgid = frame[7] | frame[8] << 8 | frame[9] << 16
    frame[end : end + 2] = struct.pack("<H", crc_of(frame[1:end], CRC_EXTRAS[msgid]))
    return bytes(frame)


def strip_signature(frame: bytes) -> bytes:
    """The same frame as an unsigned one (flag cleared, signature block cut, CRC fixed)."""
    edited = bytearray(frame[:-SIGNATURE_LEN])
    edited[2] &= ~0x01
    return recrc(edited)


def frame_with_id(message_id: int, payload: bytes, crc_extra: int, flags: int = 0) -> bytes:
    """An unsigned frame with any message id and CRC_EXTRA (another dialect's, say)."""
    header = struct.pack(
        "<BBBBBBBHB", 0xFD, len(payload), flags, 0, 0, 9, 1, message_id & 0xFFFF, message_id >> 16
    )
    return header + payload + struct.pack("<H", crc_of(header[1:] + payload, crc_extra))


def forge(message: Any, timestamp: int, system_id: int = 3, key: bytes = KEY) -> bytes:
    """`message` signed with `key` but stamped `timestamp`, as a peer with a broken clock
    (or anyone holding the link key) sends it."""
    mav = event.MAVLink(None, system_id, 191)
    mav.signing.secret_key = key
    mav.signing.sign_outgoing = True
    mav.signing.timestamp = timestamp
    return bytes(message.pack(mav))
