"""DuplicateFilter: late retransmissions, relay copies, wrap-around, many sources."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from companion.reliability.dedupe import DuplicateFilter


def test_first_time_then_duplicate() -> None:
    seen = DuplicateFilter()
    assert seen.first_time(7, 1)
    assert not seen.first_time(7, 1)
    assert seen.first_time(8, 1)  # another source, its own seqs
    assert (seen.counters["first_time"], seen.counters["duplicate"]) == (2, 1)


def test_late_retransmissions_inside_the_window_are_refused() -> None:
    seen = DuplicateFilter(window=64)
    for seq in range(1, 51):
        assert seen.first_time(7, seq)
    assert not seen.first_time(7, 3)  # a retransmission overtaken by 47 newer messages
    assert seen.first_time(7, 60)
    assert seen.first_time(7, 55)  # reordered, new
    assert not seen.first_time(7, 55)


def test_seqs_older_than_the_window_are_refused_and_counted() -> None:
    seen = DuplicateFilter(window=16)
    seen.first_time(7, 100)
    assert not seen.first_time(7, 84)
    assert seen.first_time(7, 85)
    assert seen.counters["too_old"] == 1


def test_window_survives_the_uint32_wrap() -> None:
    seen = DuplicateFilter(window=16)
    for seq in (2**32 - 2, 2**32 - 1, 0, 1):
        assert seen.first_time(7, seq)
    assert not seen.first_time(7, 2**32 - 1)
    assert seen.first_time(7, 2**32 - 3)  # 5 behind across the wrap: inside the window


def test_a_big_jump_forgets_the_bitmap() -> None:
    seen = DuplicateFilter(window=16)
    seen.first_time(7, 1)
    assert seen.first_time(7, 1_000_000)
    assert not seen.first_time(7, 1)


def test_many_sources_stay_bounded_least_recently_heard_forgotten() -> None:
    seen = DuplicateFilter(max_sources=256)
    for src in range(1000):
        assert seen.first_time(src, 1)
        assert seen.first_time(0, src + 2)  # source 0 keeps talking: never evicted
    assert len(seen) == 256
    assert seen.counters["source_evicted"] == 1000 - 256
    assert not seen.first_time(0, 5)
    assert not seen.first_time(999, 1)


def test_forget_after_a_peer_restart() -> None:
    seen = DuplicateFilter()
    seen.first_time(7, 1)
    seen.first_time(7, 5000)
    assert not seen.first_time(7, 2)  # restarted sender: looks like a stale copy
    seen.forget(7)
    seen.forget(7)
    assert seen.first_time(7, 1)
    assert seen.first_time(7, 2)
    assert seen.counters["forgotten"] == 1


def test_relay_duplicates_from_a_seeded_lossy_mesh() -> None:
    rng = random.Random(4)
    arrivals = [
        (src, seq) for src in (3, 4, 5) for seq in range(1, 200) for _ in range(rng.randint(1, 3))
    ]
    rng.shuffle(arrivals)
    seen = DuplicateFilter(window=1024)
    delivered = [pair for pair in arrivals if seen.first_time(*pair)]
    assert sorted(delivered) == sorted(set(arrivals))


@given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 63)), max_size=300))
def test_inside_the_window_it_is_exactly_a_set(arrivals: list[tuple[int, int]]) -> None:
    seen, model = DuplicateFilter(window=64), set()
    for pair in arrivals:
        assert seen.first_time(*pair) is (pair not in model)
        model.add(pair)
