"""The sealed envelope: inner messages encrypted end to end, the header readable by relays.

Rules (docs/protocol.md, "Sealed envelope"):
- Header: counter (24 bits), src, dst, meta, next hop. meta holds priority (bits 0-1),
  group destination (bit 2), key phase (bit 3) and hops left (bits 4-7).
- AEAD: ChaCha20-Poly1305 (RFC 8439), fast in software on a Raspberry Pi without AES
  instructions. The key is one session direction's; the 96-bit nonce is 4 zero bytes and
  the 64-bit little-endian counter (as WireGuard), unique because a direction's key never
  sees a counter twice.
- Associated data: counter, src, dst and meta with the hop count cleared. Relays
  decrement hops and rewrite the next hop, so those two cannot be authenticated end to
  end (the link signature covers them hop by hop); every other header field is.
- Plaintext: a bundle of inner messages. Each begins with a type byte, message id -
  24100. With the high bit set, a length byte and that many payload bytes follow and
  another inner message comes after; otherwise the payload runs to the end. Payloads are
  MAVLink 2 truncated.
- MAVLink 2 drops trailing zeros of a frame's payload, which would hide the ciphertext's
  length: a seal whose last byte is zero is refused (`seal` returns None) and the caller
  seals again with the next counter, so every envelope ends in a non-zero byte.
Overhead over an inner message's own frame: 7 header + 1 type + 16 tag = 24 bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from dialects import event

from ..errors import LocalProtocolError, RemoteProtocolError
from ..link.payload import PLANS, decode_payload, encode_payload
from ..reliability import fragment

INNER_FIRST, INNER_LAST = 24100, 24119
TAG_LEN = 16
COUNTER_LIMIT = 1 << 24
"""Counters are 24 bits on the wire; sessions rekey long before."""
ENVELOPE_DATA_MAX = 248
"""EVENT_ENVELOPE's data field: a bundle up to this size (ciphertext + tag) fits one frame."""
HEADER_LEN = 7
"""counter (3), src, dst, meta, next hop."""
OVERHEAD = HEADER_LEN + 1 + TAG_LEN
_MORE = 0x80
_HOPS_SHIFT = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """The envelope header. Everything but `hops_left` is authenticated."""

    counter: int
    src: int
    dst: int
    priority: int
    group: bool = False
    key_phase: int = 0
    hops_left: int = 15

    def __post_init__(self) -> None:
        if not 0 <= self.counter < COUNTER_LIMIT:
            raise LocalProtocolError(f"envelope counter {self.counter} does not fit 24 bits")

    @property
    def meta(self) -> int:
        return (
            self.priority & 0x03
            | self.group << 2
            | (self.key_phase & 1) << 3
            | (self.hops_left & 0x0F) << _HOPS_SHIFT
        )

    @classmethod
    def from_fields(cls, counter: int, src: int, dst: int, meta: int) -> Header:
        return cls(
            counter=counter,
            src=src,
            dst=dst,
            priority=meta & 0x03,
            group=bool(meta & 0x04),
            key_phase=meta >> 3 & 1,
            hops_left=meta >> _HOPS_SHIFT,
        )

    @classmethod
    def of(cls, message: Any) -> Header:
        """The header of an EVENT_ENVELOPE or EVENT_FRAGMENT message."""
        return cls.from_fields(fragment.counter_of(message), message.src, message.dst, message.meta)

    def counter_bytes(self) -> list[int]:
        return fragment.counter_field(self.counter)

    def associated_data(self) -> bytes:
        return self.counter.to_bytes(3, "little") + bytes((self.src, self.dst, self.meta & 0x0F))

    def nonce(self) -> bytes:
        return bytes(4) + self.counter.to_bytes(8, "little")


def encode_bundle(messages: Sequence[Any]) -> bytes:
    """The sealed plaintext for one or more inner dialect messages."""
    if not messages:
        raise LocalProtocolError("a bundle holds at least one message")
    out = bytearray()
    for i, message in enumerate(messages):
        msgid = message.get_msgId()
        if not INNER_FIRST <= msgid <= INNER_LAST:
            raise LocalProtocolError(f"{message.get_type()} is not an inner message")
        payload = encode_payload(message)
        if i == len(messages) - 1:
            out += bytes((msgid - INNER_FIRST,)) + payload
        else:
            out += bytes((msgid - INNER_FIRST | _MORE, len(payload))) + payload
    return bytes(out)


def decode_bundle(plaintext: bytes) -> list[Any]:
    """The inner messages of a sealed plaintext; RemoteProtocolError if it is malformed."""
    messages, pos = [], 0
    while True:
        if pos >= len(plaintext):
            raise RemoteProtocolError("bundle ends before its last message")
        kind = plaintext[pos]
        msgid = INNER_FIRST + (kind & ~_MORE)
        if msgid > INNER_LAST or msgid not in PLANS:
            raise RemoteProtocolError(f"unknown inner message type {kind & ~_MORE}")
        if not kind & _MORE:
            messages.append(decode_payload(msgid, plaintext[pos + 1 :]))
            return messages
        if pos + 2 > len(plaintext) or pos + 2 + plaintext[pos + 1] > len(plaintext):
            raise RemoteProtocolError("bundle truncated inside a message")
        end = pos + 2 + plaintext[pos + 1]
        messages.append(decode_payload(msgid, plaintext[pos + 2 : end]))
        pos = end


def seal(aead: ChaCha20Poly1305, header: Header, plaintext: bytes) -> bytes | None:
    """Ciphertext and tag; None if it would end in a zero byte (seal with the next counter)."""
    data = aead.encrypt(header.nonce(), plaintext, header.associated_data())
    return None if data[-1] == 0 else data


def open_sealed(aead: ChaCha20Poly1305, header: Header, data: bytes) -> bytes | None:
    """The plaintext, or None if the tag does not verify (tampered, wrong key, truncated)."""
    if len(data) < TAG_LEN:
        return None
    try:
        return aead.decrypt(header.nonce(), data, header.associated_data())
    except InvalidTag:
        return None


def sealed_frames(header: Header, data: bytes) -> list[Any]:
    """One EVENT_ENVELOPE, or EVENT_FRAGMENTs when the sealed bundle is longer."""
    if len(data) <= ENVELOPE_DATA_MAX:
        return [envelope_message(header, data)]
    return fragment.split(header.counter, header.src, header.dst, header.meta, data)


def envelope_message(header: Header, data: bytes) -> Any:
    """The EVENT_ENVELOPE carrying sealed `data` (its next hop is the mesh's to set)."""
    padded = list(data) + [0] * (ENVELOPE_DATA_MAX - len(data))
    return event.MAVLink_event_envelope_message(
        header.counter_bytes(), header.src, header.dst, header.meta, 0, padded
    )
