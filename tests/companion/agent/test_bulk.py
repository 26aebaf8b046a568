"""Bulk transfers: cut into parts, compressed when it helps, put back together."""

from __future__ import annotations

import random

from companion.agent.bulk import PART_BYTES, BulkAssembler, bulk_parts
from dialects import event

LOG = b"".join(b"12:00:%02d EKF ok, GPS 3D fix, 14 sats\n" % (i % 60) for i in range(400))


def test_a_log_is_compressed_and_comes_back_whole_out_of_order() -> None:
    parts = bulk_parts(LOG, 7, event.EVENT_MSG_TYPE_LOG)
    header = parts[0][0]
    assert header.compression == event.EVENT_COMPRESSION_ZLIB
    assert header.size < len(LOG) / 4
    assembler = BulkAssembler()
    random.Random(1).shuffle(parts)
    results = [assembler.receive(5, [h, *chunks]) for h, chunks in parts]
    done = [r for r in results if r is not None]
    assert len(done) == 1
    assert done[0].data == LOG
    assert (done[0].src, done[0].transfer_id, done[0].kind) == (5, 7, event.EVENT_MSG_TYPE_LOG)


def test_a_jpeg_like_chip_stays_uncompressed_in_parts() -> None:
    chip = random.Random(2).randbytes(3 * PART_BYTES + 123)
    parts = bulk_parts(chip, 9, event.EVENT_MSG_TYPE_IMAGE)
    assert len(parts) == 4
    assert parts[0][0].compression == event.EVENT_COMPRESSION_NONE
    assembler = BulkAssembler()
    for header, chunks in parts[:-1]:
        assert assembler.receive(1, [header, *chunks]) is None
    header, chunks = parts[-1]
    completed = assembler.receive(1, [header, *chunks])
    assert completed is not None
    assert completed.data == chip


def test_chunks_outside_the_size_are_refused_and_counted() -> None:
    header, chunks = bulk_parts(b"abc", 1, event.EVENT_MSG_TYPE_IMAGE)[0]
    liar = event.MAVLink_event_bulk_data_message(2, 1, 200, [0] * 200)
    assembler = BulkAssembler()
    assert assembler.receive(1, [header, liar]) is None
    assert assembler.counters["bad_chunk"] == 1
    completed = assembler.receive(1, [header, *chunks])
    assert completed is not None
    assert completed.data == b"abc"


def test_damaged_compression_is_counted() -> None:
    header = event.MAVLink_event_bulk_header_message(0, 3, 4, 9, event.EVENT_COMPRESSION_ZLIB, 0)
    chunk = event.MAVLink_event_bulk_data_message(0, 4, 3, list(b"xyz".ljust(200, b"\0")))
    assembler = BulkAssembler()
    assert assembler.receive(1, [header, chunk]) is None
    assert assembler.counters["bad_compression"] == 1
