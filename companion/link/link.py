"""The link layer: dialect messages to signed MAVLink 2 frames and back, for one node on one link.

Rules:
- Sending: every frame carries this node's system and component id and the next
  sequence number; on a signed link (a key is configured) every frame is signed with a
  timestamp from the `SigningClock`. Before transmitting a frame, the caller saves
  `pending_reservation` if there is one (see `signing.py`).
- Receiving: frames are cut by `FrameReader`, which on a signed link also verifies
  signatures; a signed frame must then pass the replay guard, which also refuses one
  implausibly far ahead of the signing clock (see `signing.py`); an unsigned frame is
  dropped unless the `UnsignedPolicy` admits its message id (a SiK radio's RADIO_STATUS,
  say).
  A link without a key is a trusted local wire (the flight controller's serial port):
  every frame is admitted and none is authenticated.
- Never sign on behalf of unsigned traffic (MAVProxy issue 1683): a message that arrived
  unauthenticated is marked, and `send()` refuses it on a signed link. `relay()` passes a
  frame on byte for byte, never re-signing it.
- Nothing that arrives raises: each drop is counted in `drops` under its `Drop` reason.
- Every datagram is accounted for once: `datagrams_received` == `datagrams_accepted`
  (at least one frame admitted) + the sum of `datagrams_refused`, under the first reason
  (in `Drop`'s order) of the drops it caused, or `Drop.NOISE` if it held no frame at all.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from dialects import event

from ..errors import LocalProtocolError
from .drops import Drop
from .frame import FrameReader, RawFrame
from .payload import decode_frame
from .signing import (
    KEY_LEN,
    ReplayGuard,
    SigningClock,
    frame_link_id,
    frame_timestamp,
    signature,
)

MAV_COMP_ID_ONBOARD_COMPUTER = 191
_INCOMPAT_SIGNED = 0x01
_ARRIVED_UNSIGNED = "_event_arrived_unauthenticated"

CRC_EXTRAS: dict[int, int] = {msgid: cls.crc_extra for msgid, cls in event.mavlink_map.items()}


@dataclass(frozen=True, slots=True)
class UnsignedPolicy:
    """Which unsigned frames a signed link admits. The default admits none."""

    message_ids: frozenset[int] = frozenset()

    def admits(self, message_id: int) -> bool:
        return message_id in self.message_ids


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Who we are on this link, and how it is secured."""

    system_id: int
    component_id: int = MAV_COMP_ID_ONBOARD_COMPUTER
    key: bytes | None = None
    """The fleet's 32-byte MAVLink 2 signing key; None for an unsigned local wire."""
    link_id: int = 0
    unsigned: UnsignedPolicy = field(default_factory=UnsignedPolicy)

    def __post_init__(self) -> None:
        if not 1 <= self.system_id <= 255 or not 0 <= self.component_id <= 255:
            raise LocalProtocolError("system id must be 1-255 and component id 0-255")
        if self.key is not None and len(self.key) != KEY_LEN:
            raise LocalProtocolError(f"a MAVLink 2 signing key is {KEY_LEN} bytes")
        if not 0 <= self.link_id <= 255:
            raise LocalProtocolError("link id must be 0-255")


@dataclass(frozen=True, slots=True)
class Received:
    """A message that passed every check the link applies."""

    message: Any
    """The pymavlink message object (from `dialects.event`)."""
    frame: RawFrame
    authenticated: bool
    """True if the frame was signed with the link key and passed the replay guard."""


class Link:
    """Sans-IO MAVLink 2 link endpoint. Time is passed in; nothing here does I/O."""

    def __init__(self, config: LinkConfig, clock: SigningClock | None = None) -> None:
        self.config = config
        self.clock = clock if clock is not None else SigningClock()
        self.drops: Counter[Drop] = Counter()
        self.frames_sent = 0
        self.frames_received = 0
        self.datagrams_received = 0
        self.datagrams_accepted = 0
        self.datagrams_refused: Counter[Drop] = Counter()
        self._reader = FrameReader(CRC_EXTRAS, self.drops, config.key)
        self._guard = ReplayGuard()
        self._mav = event.MAVLink(None, config.system_id, config.component_id)
        if config.key is not None:
            self._mav.signing.secret_key = config.key
            self._mav.signing.link_id = config.link_id
            self._mav.signing.sign_outgoing = True

    @property
    def signed(self) -> bool:
        return self.config.key is not None

    @property
    def skipped_bytes(self) -> int:
        """Bytes discarded while looking for frames."""
        return self._reader.skipped_bytes

    def status(self) -> dict[str, Any]:
        """Read-only figures for status files: datagrams and frames, drops by reason."""
        return {
            "datagrams_received": self.datagrams_received,
            "datagrams_accepted": self.datagrams_accepted,
            "datagrams_refused": _by_reason(self.datagrams_refused),
            "frames_sent": self.frames_sent,
            "frames_received": self.frames_received,
            "drops": _by_reason(self.drops),
            "skipped_bytes": self.skipped_bytes,
        }

    def send(self, message: Any, wall_time: float) -> bytes:
        """Frame (and on a signed link, sign) `message`; return the bytes to transmit."""
        if self.signed and getattr(message, _ARRIVED_UNSIGNED, False):
            raise LocalProtocolError(
                f"refusing to sign {message.get_type()}: it arrived unauthenticated"
            )
        if self.signed:
            self._mav.signing.timestamp = self.clock.next(wall_time)
        try:
            data: bytes = message.pack(self._mav)
        except (struct.error, TypeError, ValueError) as exc:
            raise LocalProtocolError(f"cannot encode {message.get_type()}: {exc}") from exc
        self._mav.seq = (self._mav.seq + 1) % 256
        self.frames_sent += 1
        return data

    def stamp_leaving(self, data: bytes, wall_time: float) -> bytes:
        """A frame `send` built earlier, signed again with the next timestamp as it leaves.

        Frames leave in another order than they were built (the transmit scheduler serves
        priorities), and a receiver takes each stream's timestamps only in increasing
        order: stamped when built, a LOW frame that waited behind a CRITICAL one built
        after it would be dropped as a replay. Same length, so queue accounting holds.
        """
        key = self.config.key
        if key is None or not data[2] & _INCOMPAT_SIGNED:
            return data
        stamped = data[:-12] + self.clock.next(wall_time).to_bytes(6, "little")
        return stamped + signature(key, stamped)

    def relay(self, received: Received) -> bytes:
        """The frame exactly as it arrived, to pass on to another link unchanged."""
        return received.frame.data

    def receive_data(self, data: bytes, wall_time: float) -> list[Received]:
        """Feed bytes of a stream (serial, TCP); return the messages they completed."""
        return self._admit_all(self._reader.feed(data), wall_time)

    def receive_datagram(self, data: bytes, wall_time: float) -> list[Received]:
        """Feed one datagram (UDP) holding whole frames; return its messages."""
        before = self.drops.copy()
        received = self._admit_all(self._reader.feed_datagram(data), wall_time)
        self.datagrams_received += 1
        if received:
            self.datagrams_accepted += 1
            return received
        if self.drops == before:
            self.drops[Drop.NOISE] += 1
        self.datagrams_refused[next(r for r in Drop if self.drops[r] > before[r])] += 1
        return received

    def receive_idle(self, wall_time: float) -> list[Received]:
        """The stream has been quiet for a while: give up on a frame that stopped short."""
        return self._admit_all(self._reader.flush(), wall_time)

    def _admit_all(self, frames: list[RawFrame], wall_time: float) -> list[Received]:
        out = []
        for frame in frames:
            received = self._admit(frame, wall_time)
            if received is not None:
                out.append(received)
        self.frames_received += len(out)
        return out

    def _admit(self, frame: RawFrame, wall_time: float) -> Received | None:
        authenticated = False
        key = self.config.key
        if key is not None and frame.signed:
            drop = self._check_freshness(frame, wall_time)
            if drop is not None:
                self.drops[drop] += 1
                return None
            authenticated = True
        elif key is not None and not self.config.unsigned.admits(frame.message_id):
            self.drops[Drop.UNSIGNED] += 1
            return None
        try:
            message = decode_frame(frame)
        except (struct.error, TypeError, ValueError):
            self.drops[Drop.UNDECODABLE] += 1
            return None
        if not authenticated:
            setattr(message, _ARRIVED_UNSIGNED, True)
        return Received(message, frame, authenticated)

    def _check_freshness(self, frame: RawFrame, wall_time: float) -> Drop | None:
        timestamp = frame_timestamp(frame.data)
        stream = (frame.system_id, frame.component_id, frame_link_id(frame.data))
        local_now = self.clock.now(wall_time)
        newest = self.clock.newest_acceptable(local_now)
        drop = self._guard.admit(stream, timestamp, local_now, newest)
        if drop is None:
            self.clock.observe(timestamp)
        return drop


def _by_reason(counts: Counter[Drop]) -> dict[str, int]:
    return {str(reason): count for reason, count in sorted(counts.items())}
