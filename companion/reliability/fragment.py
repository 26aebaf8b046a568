"""Splitting a sealed bundle into EVENT_FRAGMENT frames and putting it back together.

Rules (docs/protocol.md "Fragments"):
- A sealed bundle longer than one fragment travels as 2-255 fragments with the
  envelope's header fields. Fragments 0..count-2 carry exactly 246 bytes; the last
  carries the rest.
- MAVLink 2 strips trailing zeros from a frame's payload, so the receiver always sees
  `data` zero-padded to 246. Non-last fragments are taken whole; the last is stripped of
  trailing zeros, which is exact because the sender seals again rather than emit a
  bundle ending in a zero byte (`split` refuses one).
- The receiver reassembles by (src, counter). Every refusal is counted under its own
  name and nothing raises on input: index >= count, count < 2, a count or header
  (dst, meta without hops left, which relays rewrite) that differs from the bundle's
  first fragment, a wrong data length, a duplicate fragment.
- A bundle with no new fragment for `timeout` seconds expires. Memory is bounded: at
  most `max_per_source` bundles in progress per source and `max_bytes` buffered in all;
  past either, the oldest incomplete bundle is evicted. A bundle that could never fit
  `max_bytes` is refused at its first fragment.
- Completed bundles are remembered for `timeout` seconds (at most `MAX_COMPLETED` of
  them), so a relay's late copy of one of their fragments is refused instead of opening
  a bundle that can only expire.
- Wire fields: counter is 24 bits little endian; `next_hop` is the relay's business.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from dialects import event

from ..errors import LocalProtocolError

DATA_LEN = 246
MIN_COUNT, MAX_COUNT = 2, 255
COUNTER_LIMIT = 1 << 24
HEADER_MASK = 0x0F
"""meta bits that stay fixed along the path (all but hops left)."""
MAX_COMPLETED = 1024
"""Completed bundles remembered at most, whether or not `on_timer` is called."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Reassembled:
    """A whole sealed bundle, ready to be opened as an envelope's data."""

    src: int
    dst: int
    meta: int
    counter: int
    data: bytes


def counter_field(counter: int) -> list[int]:
    """The 24-bit counter as the dialect's uint8_t[3] field (little endian)."""
    return list(counter.to_bytes(3, "little"))


def counter_of(message: Any) -> int:
    """The counter of an EVENT_ENVELOPE or EVENT_FRAGMENT message."""
    return int.from_bytes(bytes(message.counter), "little")


def split(
    counter: int, src: int, dst: int, meta: int, data: bytes, *, next_hop: int = 0
) -> list[Any]:
    """EVENT_FRAGMENT messages carrying `data` (a sealed bundle ending in a non-zero byte)."""
    if not 0 <= counter < COUNTER_LIMIT:
        raise LocalProtocolError(f"counter {counter} does not fit 24 bits")
    if not data or data[-1] == 0:
        raise LocalProtocolError("sealed data must end in a non-zero byte (seal again)")
    count = -(-len(data) // DATA_LEN)
    if not MIN_COUNT <= count <= MAX_COUNT:
        raise LocalProtocolError(f"{len(data)} bytes make {count} fragments, not 2-255")
    counter_bytes = counter_field(counter)
    fragments = []
    for index in range(count):
        piece = list(data[index * DATA_LEN : (index + 1) * DATA_LEN])
        piece += [0] * (DATA_LEN - len(piece))
        fragments.append(
            event.MAVLink_event_fragment_message(
                counter_bytes, src, dst, meta, next_hop, index, count, piece
            )
        )
    return fragments


@dataclass(slots=True)
class _Bundle:
    dst: int
    meta: int
    count: int
    deadline: float
    pieces: dict[int, bytes] = field(default_factory=dict)
    size: int = 0


class Reassembler:
    """Bundles in progress, keyed by (src, counter)."""

    def __init__(
        self, *, timeout: float = 30.0, max_per_source: int = 4, max_bytes: int = 128 * 1024
    ) -> None:
        self.timeout = timeout
        self.max_per_source = max_per_source
        self.max_bytes = max_bytes
        self.counters: Counter[str] = Counter()
        self.buffered = 0
        """Fragment bytes held for incomplete bundles."""
        self._bundles: dict[tuple[int, int], _Bundle] = {}
        self._completed: dict[tuple[int, int], float] = {}

    def bundles(self, src: int | None = None) -> int:
        """Incomplete bundles held (from `src` only, if given)."""
        return sum(1 for key in self._bundles if src is None or key[0] == src)

    def accept(self, message: Any, now: float) -> Reassembled | None:
        """Take one EVENT_FRAGMENT; returns the bundle it completes, if any."""
        refusal = self._check(message)
        if refusal is not None:
            self.counters[refusal] += 1
            return None
        key = (message.src, counter_of(message))
        data = bytes(message.data)
        piece = data if message.index < message.count - 1 else data.rstrip(b"\x00")
        bundle = self._bundles.get(key)
        if bundle is None:
            bundle = self._open(key, message, now)
            if bundle is None:
                return None
        refusal = self._mismatch(bundle, message)
        if refusal is not None:
            self.counters[refusal] += 1
            return None
        self._make_room(len(piece), keep=key)
        bundle.pieces[message.index] = piece
        bundle.size += len(piece)
        bundle.deadline = now + self.timeout
        self.buffered += len(piece)
        self.counters["fragment_accepted"] += 1
        return self._complete(key, bundle, now) if len(bundle.pieces) == bundle.count else None

    def next_deadline(self) -> float | None:
        """When the oldest idle bundle expires, or None."""
        return min((b.deadline for b in self._bundles.values()), default=None)

    def on_timer(self, now: float) -> None:
        """Drop bundles that saw no fragment for `timeout` seconds."""
        for key in [k for k, b in self._bundles.items() if b.deadline <= now]:
            self._drop(key, "bundle_expired")
        self._completed = {k: t for k, t in self._completed.items() if t > now}

    def _check(self, message: Any) -> str | None:
        if len(message.counter) != 3:
            return "fragment_malformed"
        if message.count < MIN_COUNT:
            return "fragment_count_too_small"
        if message.index >= message.count:
            return "fragment_index_out_of_range"
        last = message.index == message.count - 1
        if len(message.data) != DATA_LEN or (last and not any(message.data)):
            return "fragment_bad_length"
        return None

    def _open(self, key: tuple[int, int], message: Any, now: float) -> _Bundle | None:
        completed_until = self._completed.get(key)
        if completed_until is not None and completed_until > now:
            self.counters["fragment_after_completion"] += 1
            return None
        if message.count * DATA_LEN > self.max_bytes:
            self.counters["bundle_too_large"] += 1
            return None
        same_source = [k for k in self._bundles if k[0] == key[0]]
        if len(same_source) >= self.max_per_source:
            self._drop(same_source[0], "bundle_evicted_source_limit")
        bundle = self._bundles[key] = _Bundle(message.dst, message.meta, message.count, now)
        return bundle

    def _mismatch(self, bundle: _Bundle, message: Any) -> str | None:
        if message.count != bundle.count:
            return "fragment_count_changed"
        if message.dst != bundle.dst or (message.meta ^ bundle.meta) & HEADER_MASK:
            return "fragment_header_changed"
        if message.index in bundle.pieces:
            return "fragment_duplicate"
        return None

    def _make_room(self, size: int, keep: tuple[int, int]) -> None:
        while self.buffered + size > self.max_bytes:
            oldest = next(k for k in self._bundles if k != keep)
            self._drop(oldest, "bundle_evicted_memory")

    def _complete(self, key: tuple[int, int], bundle: _Bundle, now: float) -> Reassembled:
        del self._bundles[key]
        self.buffered -= bundle.size
        self._completed[key] = now + self.timeout
        if len(self._completed) > MAX_COMPLETED:
            del self._completed[next(iter(self._completed))]
        self.counters["bundle_completed"] += 1
        data = b"".join(bundle.pieces[i] for i in range(bundle.count))
        return Reassembled(src=key[0], dst=bundle.dst, meta=bundle.meta, counter=key[1], data=data)

    def _drop(self, key: tuple[int, int], reason: str) -> None:
        self.buffered -= self._bundles.pop(key).size
        self.counters[reason] += 1
