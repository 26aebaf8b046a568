"""Bulk transfers: image chips and logs cut into EVENT_BULK_HEADER + EVENT_BULK_DATA bundles.

Rules:
- Bulk goes at LOW priority: it never delays commands, detections or telemetry.
- Data above COMPRESS_ABOVE bytes is zlib-compressed when that makes it smaller (the
  seed compresses logs and images above 1 KB; a JPEG rarely shrinks, a log does).
- A transfer is cut into parts of at most PART_BYTES, each one bundle (header first, then
  its data chunks): a lost fragment costs one part's retransmission, not the whole file.
  Every header carries the whole transfer's size, so the receiver knows when it is done.
- `BulkAssembler` is the receiving side: it collects chunks per (source, transfer id),
  refuses chunks that lie outside the announced size, and hands out the data once every
  byte is there, decompressed. It keeps at most `max_transfers`, dropping the oldest.
"""

from __future__ import annotations

import zlib
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

from dialects import event

CHUNK = 200
PART_BYTES = 4000
COMPRESS_ABOVE = 1024
MAX_TRANSFER = 1 << 20


def bulk_parts(
    data: bytes, transfer_id: int, kind: int, *, part_bytes: int = PART_BYTES
) -> list[tuple[Any, tuple[Any, ...]]]:
    """The bundles that carry `data`: (EVENT_BULK_HEADER, its EVENT_BULK_DATA chunks)."""
    compression = event.EVENT_COMPRESSION_NONE
    if len(data) > COMPRESS_ABOVE:
        packed = zlib.compress(data, 6)
        if len(packed) < len(data):
            data, compression = packed, event.EVENT_COMPRESSION_ZLIB
    if not 0 < len(data) <= MAX_TRANSFER:
        raise ValueError(f"a bulk transfer holds 1..{MAX_TRANSFER} bytes, not {len(data)}")
    parts = []
    for start in range(0, len(data), part_bytes):
        header = event.MAVLink_event_bulk_header_message(
            0, len(data), transfer_id, kind, compression, 0
        )
        chunks = tuple(
            event.MAVLink_event_bulk_data_message(
                offset, transfer_id, len(piece), list(piece.ljust(CHUNK, b"\0"))
            )
            for offset in range(start, min(start + part_bytes, len(data)), CHUNK)
            if (piece := data[offset : min(offset + CHUNK, start + part_bytes, len(data))])
        )
        parts.append((header, chunks))
    return parts


@dataclass
class _Transfer:
    size: int
    kind: int
    compression: int
    pieces: dict[int, bytes] = field(default_factory=dict)

    def received(self) -> int:
        return sum(len(piece) for piece in self.pieces.values())


@dataclass(frozen=True, slots=True)
class Completed:
    """A whole transfer, decompressed."""

    src: int
    transfer_id: int
    kind: int
    data: bytes


class BulkAssembler:
    """Puts bulk bundles from many sources back together."""

    def __init__(self, *, max_transfers: int = 64) -> None:
        self.max_transfers = max_transfers
        self.counters: Counter[str] = Counter()
        self._transfers: OrderedDict[tuple[int, int], _Transfer] = OrderedDict()

    def receive(self, src: int, messages: list[Any]) -> Completed | None:
        """Take one bundle (a header and its chunks); the whole transfer when complete."""
        header, *chunks = messages
        if header.get_msgId() != event.MAVLINK_MSG_ID_EVENT_BULK_HEADER:
            self.counters["not_bulk"] += 1
            return None
        if not 0 < header.size <= MAX_TRANSFER:
            self.counters["bad_size"] += 1
            return None
        key = (src, header.transfer_id)
        transfer = self._transfers.get(key)
        if transfer is None or transfer.size != header.size:
            transfer = self._start(key, header)
        for chunk in chunks:
            end = chunk.offset + chunk.length
            if chunk.transfer_id != header.transfer_id or end > transfer.size or not chunk.length:
                self.counters["bad_chunk"] += 1
                continue
            transfer.pieces[chunk.offset] = bytes(chunk.data[: chunk.length])
        if transfer.received() < transfer.size:
            return None
        del self._transfers[key]
        return self._finish(src, header.transfer_id, transfer)

    def _start(self, key: tuple[int, int], header: Any) -> _Transfer:
        if len(self._transfers) >= self.max_transfers:
            self._transfers.popitem(last=False)
            self.counters["abandoned"] += 1
        transfer = _Transfer(header.size, header.kind, header.compression)
        self._transfers[key] = transfer
        return transfer

    def _finish(self, src: int, transfer_id: int, transfer: _Transfer) -> Completed | None:
        data = b"".join(transfer.pieces[offset] for offset in sorted(transfer.pieces))
        if transfer.compression == event.EVENT_COMPRESSION_ZLIB:
            try:
                data = zlib.decompress(data, bufsize=MAX_TRANSFER)
            except zlib.error:
                self.counters["bad_compression"] += 1
                return None
        self.counters["completed"] += 1
        return Completed(src, transfer_id, transfer.kind, data)
