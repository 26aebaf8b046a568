"""MAVLink 2 framing: find, check and cut frames out of a byte stream or a datagram.

Rules (https://mavlink.io/en/guide/serialization.html):
- A frame is STX 0xFD, payload length, incompat flags, compat flags, sequence, system id,
  component id, 24-bit message id (little endian), the payload, a CRC-16/MCRF4XX over
  everything after STX plus the message's CRC_EXTRA byte, and, when incompat flag 0x01 is
  set, a 13-byte signature block.
- A frame with an incompat flag we do not understand must be dropped.
- The checksum can only be checked for message ids we know: CRC_EXTRA is per message.
- Given the link key, the reader also checks signatures here, as part of deciding what
  is a frame: a frame cut short inside its signature block still has a good checksum, and
  only its signature shows that the next frame's first bytes were taken for its own.

The reader never raises on input. When a candidate frame fails, only its STX byte is
skipped, so a good frame that starts inside a damaged one (the damaged one was cut short)
is still found. The failure is counted once the reader knows which it was: TRUNCATED if a
good frame started inside its span, otherwise the reason it failed with.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from dialects import event

from .drops import Drop
from .signing import signature_valid

STX = 0xFD
HEADER_LEN = 10
CRC_LEN = 2
SIGNATURE_LEN = 13
IFLAG_SIGNED = 0x01
MAX_FRAME_LEN = HEADER_LEN + 255 + CRC_LEN + SIGNATURE_LEN

_CRC = struct.Struct("<H")


def crc_of(frame_body: bytes | bytearray, crc_extra: int) -> int:
    """CRC-16/MCRF4XX of `frame_body` (header after STX, and payload) plus CRC_EXTRA."""
    crc = event.x25crc(frame_body)
    crc.accumulate(bytes((crc_extra,)))
    return int(crc.crc)


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One complete frame whose checksum, and signature if the reader has a key, verified."""

    data: bytes

    @property
    def payload_length(self) -> int:
        return self.data[1]

    @property
    def signed(self) -> bool:
        return bool(self.data[2] & IFLAG_SIGNED)

    @property
    def seq(self) -> int:
        return self.data[4]

    @property
    def system_id(self) -> int:
        return self.data[5]

    @property
    def component_id(self) -> int:
        return self.data[6]

    @property
    def message_id(self) -> int:
        return self.data[7] | self.data[8] << 8 | self.data[9] << 16

    @property
    def payload(self) -> bytes:
        return self.data[HEADER_LEN : HEADER_LEN + self.payload_length]


class FrameReader:
    """Sans-IO frame splitter. Feed bytes in, take verified-checksum frames out."""

    def __init__(
        self,
        crc_extras: Mapping[int, int],
        drops: Counter[Drop] | None = None,
        key: bytes | None = None,
    ) -> None:
        self._crc_extras = crc_extras
        self._key = key
        self._buf = bytearray()
        self.drops: Counter[Drop] = Counter() if drops is None else drops
        self.skipped_bytes = 0
        """Bytes thrown away while looking for frames (line noise, MAVLink 1, damaged frames)."""
        self._failed: Drop | None = None
        self._failed_left = 0

    def feed(self, data: bytes) -> list[RawFrame]:
        """Stream mode (serial, TCP): keep an incomplete frame for the next call."""
        self._buf += data
        return self._drain()

    def feed_datagram(self, data: bytes) -> list[RawFrame]:
        """Datagram mode (UDP): the datagram holds whole frames; a partial one is truncated."""
        self._buf = bytearray(data)
        return self._drain() + self.flush()

    def flush(self) -> list[RawFrame]:
        """No more bytes are coming for now (a datagram ended, a serial line went quiet).

        An incomplete frame at the head will never be completed: it was truncated. Frames
        that started inside what it claimed are found by scanning on past its STX.
        """
        frames: list[RawFrame] = []
        while self._buf:
            self._fail(Drop.TRUNCATED, len(self._buf))
            frames += self._drain()
        self._settle()
        return frames

    def _drain(self) -> list[RawFrame]:
        frames: list[RawFrame] = []
        buf = self._buf
        while True:
            start = buf.find(STX)
            if start != 0:
                self._discard(len(buf) if start < 0 else start)
            if len(buf) < HEADER_LEN:
                return frames
            flags = buf[2]
            total = HEADER_LEN + buf[1] + CRC_LEN + (SIGNATURE_LEN if flags & IFLAG_SIGNED else 0)
            if len(buf) < total:
                return frames
            failure = self._check(buf, flags, total)
            if failure is not None:
                self._fail(failure, total)
                continue
            if self._failed is not None:
                # A good frame began inside the span of the one that failed before it.
                self.drops[Drop.TRUNCATED] += 1
                self._failed = None
            frames.append(RawFrame(bytes(buf[:total])))
            del buf[:total]

    def _check(self, buf: bytearray, flags: int, total: int) -> Drop | None:
        if flags & ~IFLAG_SIGNED:
            return Drop.UNSUPPORTED_FLAGS
        crc_extra = self._crc_extras.get(buf[7] | buf[8] << 8 | buf[9] << 16)
        if crc_extra is None:
            return Drop.UNKNOWN_MESSAGE
        end = HEADER_LEN + buf[1]
        (crc,) = _CRC.unpack_from(buf, end)
        if crc != crc_of(buf[1:end], crc_extra):
            return Drop.BAD_CRC
        signed = flags & IFLAG_SIGNED
        if signed and self._key is not None and not signature_valid(self._key, buf[:total]):
            return Drop.BAD_SIGNATURE
        return None

    def _fail(self, reason: Drop, total: int) -> None:
        if self._failed is None:
            self._failed, self._failed_left = reason, total
        self._discard(1)

    def _discard(self, n: int) -> None:
        del self._buf[:n]
        self.skipped_bytes += n
        if self._failed is not None:
            self._failed_left -= n
            if self._failed_left <= 0:
                self._settle()

    def _settle(self) -> None:
        if self._failed is not None:
            self.drops[self._failed] += 1
            self._failed = None
