"""Seqs that never repeat across restarts: the counter, its reservation and its file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio

from companion.reliability.numbering import RESERVE_AHEAD, SEQ_MAX, SeqNumbering
from companion.reliability.seq_store import SeqStore
from companion.reservation import save_last_used, save_reservation


def take_saved(numbering: SeqNumbering, store: SeqStore, count: int) -> list[int]:
    """Take `count` seqs, saving each reservation before the seq may leave (as the runtime
    does before a frame is transmitted)."""
    seqs = []
    for _ in range(count):
        seqs.append(numbering.take(start=500))
        trio.run(save_reservation, numbering, store)
    return seqs


def test_nothing_restored_starts_at_the_callers_start_then_counts_up() -> None:
    numbering = SeqNumbering()
    assert numbering.pending_reservation is None
    assert [numbering.take(start=500), numbering.take(start=9), numbering.take()] == [
        500,
        501,
        502,
    ]
    assert numbering.pending_reservation == 503 + RESERVE_AHEAD


def test_a_restored_seq_wins_over_the_start() -> None:
    numbering = SeqNumbering(restored=70)
    assert numbering.take(start=500) == 70


def test_seqs_wrap_to_one_never_to_zero() -> None:
    numbering = SeqNumbering(restored=SEQ_MAX)
    assert [numbering.take(), numbering.take()] == [SEQ_MAX, 1]
    assert SeqNumbering().take(start=SEQ_MAX + 1) == 1


def test_sigkill_restart_starts_past_everything_used(tmp_path: Path) -> None:
    store = SeqStore(tmp_path / "seq")
    used = take_saved(SeqNumbering(store.load()), store, 5)
    # no clean stop: the reservation on disk is what the next life starts from
    again = take_saved(SeqNumbering(store.load()), store, 5)
    assert min(again) > max(used)
    assert min(again) - max(used) <= RESERVE_AHEAD + 1


def test_sigterm_restart_skips_nothing(tmp_path: Path) -> None:
    store = SeqStore(tmp_path / "seq")
    first = SeqNumbering(store.load())
    used = take_saved(first, store, 3)
    save_last_used(first, store)
    assert store.load() == used[-1] + 1
    late = first.take()  # taken after the stop's save: needs a reservation again
    assert first.pending_reservation == late + 1 + RESERVE_AHEAD
    assert take_saved(SeqNumbering(store.load()), store, 1) == [used[-1] + 1]


def test_reservations_are_written_once_per_block(tmp_path: Path) -> None:
    store = SeqStore(tmp_path / "seq")
    numbering = SeqNumbering(store.load())
    take_saved(numbering, store, 1)
    saved = store.load()
    take_saved(numbering, store, RESERVE_AHEAD - 1)
    assert store.load() == saved
    take_saved(numbering, store, 2)
    assert store.load() != saved


def test_the_saved_value_wraps_like_the_seqs(tmp_path: Path) -> None:
    store = SeqStore(tmp_path / "seq")
    numbering = SeqNumbering(restored=SEQ_MAX - 1)
    take_saved(numbering, store, 3)
    restarted = SeqNumbering(store.load())
    assert 1 < restarted.take() <= RESERVE_AHEAD + 2


@pytest.mark.parametrize(
    "content",
    [b"", b"seven\n", b"-3\n", b"0\n", b"4294967296\n", b"1" * 400, b"\xff\xfe12"],
)
def test_a_bad_seq_file_is_refused_logged_and_counted(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "seq"
    path.write_bytes(content)
    store = SeqStore(path)
    with caplog.at_level(logging.ERROR):
        assert store.load() is None
    assert store.refused_loads == 1
    assert "event=seq_file_refused" in caplog.text
    assert str(path) in caplog.text


def test_a_missing_seq_file_is_a_first_start_not_an_error(tmp_path: Path) -> None:
    store = SeqStore(tmp_path / "seq")
    assert store.load() is None
    assert store.refused_loads == 0
