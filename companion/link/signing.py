"""MAVLink 2 message signing: signatures, the signing clock and the replay guard.

Rules (https://mavlink.io/en/guide/message_signing.html):
- signature = first 48 bits of SHA-256(secret_key + header + payload + CRC + link_id +
  timestamp); the timestamp is 48 bits in units of 10 microseconds since 2015-01-01 GMT.
- A sender's timestamps strictly increase, also across restarts: the spec asks for the
  timestamp to be saved and restored. `SigningClock` does this as a reservation: before a
  frame with a timestamp above the saved value goes out, a higher value is saved, so a
  crash at any point never reuses a timestamp.
- A receiver keeps the last timestamp of every stream (system id, component id, link id)
  and rejects a frame whose timestamp is not newer; a frame more than one minute older than
  the receiver's own timestamp is rejected too. The receiver's timestamp follows the newest
  one it accepted, so a node without a real-time clock (a Raspberry Pi has none) joins the
  fleet's time.
- Stream state changes only after the signature verified (pymavlink records a new stream
  before checking the signature, which lets one forged frame lock a stream out).
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict

from .drops import Drop

KEY_LEN = 32
EPOCH_2015 = 1_420_070_400
TICKS_PER_SECOND = 100_000
MAX_AGE = 60 * TICKS_PER_SECOND
"""The spec's one minute, in signing ticks."""
RESERVE_AHEAD = 60 * TICKS_PER_SECOND
"""How far ahead of its last timestamp a sender saves, so it saves about once a minute."""

Stream = tuple[int, int, int]
"""(system id, component id, link id)."""


def ticks(wall_time: float) -> int:
    """Signing timestamp for a Unix wall-clock time (clamped at the 2015 epoch)."""
    return max(0, int((wall_time - EPOCH_2015) * TICKS_PER_SECOND))


def signature(key: bytes, signed_part: bytes | bytearray) -> bytes:
    """The 6-byte signature of `signed_part` (the frame up to and including the timestamp)."""
    digest = hashlib.sha256(key)
    digest.update(signed_part)
    return digest.digest()[:6]


def signature_valid(key: bytes, frame: bytes | bytearray) -> bool:
    """True if the signed frame's last 6 bytes are its signature under `key`."""
    return hmac.compare_digest(signature(key, frame[:-6]), frame[-6:])


def frame_timestamp(frame: bytes) -> int:
    """The 48-bit timestamp of a signed frame."""
    return int.from_bytes(frame[-12:-6], "little")


def frame_link_id(frame: bytes) -> int:
    """The link id of a signed frame."""
    return frame[-13]


class SigningClock:
    """Hands out signing timestamps that never repeat, across restarts.

    `restored` is the last reservation saved by a previous run (0 if none). After `next()`,
    `pending_reservation` says what must be saved before that frame is transmitted; the
    caller saves it, then calls `confirm_reservation()`.
    """

    def __init__(self, restored: int = 0, reserve_ahead: int = RESERVE_AHEAD) -> None:
        self._last = restored
        self._reserved = restored
        self._reserve_ahead = reserve_ahead
        self._observed = 0

    def now(self, wall_time: float) -> int:
        """Our local timestamp: the newest of the wall clock, what we sent, what we accepted."""
        return max(ticks(wall_time), self._last, self._observed)

    def next(self, wall_time: float) -> int:
        """A timestamp for the next signed frame, newer than any handed out before."""
        self._last = max(self._last + 1, ticks(wall_time), self._observed)
        return self._last

    def observe(self, timestamp: int) -> None:
        """Adopt the timestamp of an accepted frame if it is newer than ours."""
        self._observed = max(self._observed, timestamp)

    @property
    def pending_reservation(self) -> int | None:
        """What to save before transmitting the last frame; None if the saved value covers it."""
        if self._last <= self._reserved:
            return None
        return self._last + self._reserve_ahead

    def confirm_reservation(self, value: int) -> None:
        """`value` is now on stable storage."""
        self._reserved = max(self._reserved, value)


class ReplayGuard:
    """Per-stream timestamp rules for frames whose signature already verified.

    Streams are only created by authentic frames, so the table holds at most the fleet's
    senders; it is still bounded, forgetting the stream heard from longest ago.
    """

    def __init__(self, max_streams: int = 4096) -> None:
        self._last: OrderedDict[Stream, int] = OrderedDict()
        self._max_streams = max_streams

    def admit(self, stream: Stream, timestamp: int, local_now: int) -> Drop | None:
        """Record and accept the frame, or say why it must be dropped."""
        if timestamp + MAX_AGE < local_now:
            return Drop.STALE
        last = self._last.get(stream)
        if last is not None and timestamp <= last:
            return Drop.REPLAY
        self._last[stream] = timestamp
        self._last.move_to_end(stream)
        if len(self._last) > self._max_streams:
            self._last.popitem(last=False)
        return None
