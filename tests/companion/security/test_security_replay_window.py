"""The anti-replay window: each counter once, reordering inside the window, nothing older."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from companion.security.replay_window import ReplayWindow, Verdict


def test_in_order_then_replays() -> None:
    window = ReplayWindow(size=8)
    assert [window.accept(c) for c in range(5)] == [Verdict.NEW] * 5
    assert window.accept(3) is Verdict.REPLAY
    assert window.newest == 4


def test_reordered_counters_inside_the_window_are_accepted_once() -> None:
    window = ReplayWindow(size=8)
    for counter in (10, 7, 9, 3, 8):
        assert window.accept(counter) is Verdict.NEW
    assert window.accept(7) is Verdict.REPLAY
    assert window.accept(2) is Verdict.OUTSIDE_WINDOW  # 10 - 2 = 8: just outside
    assert window.accept(3) is Verdict.REPLAY


def test_check_changes_nothing() -> None:
    window = ReplayWindow(size=8)
    assert window.check(5) is Verdict.NEW
    assert window.newest == -1
    assert window.accept(5) is Verdict.NEW


def test_big_jump_forgets_the_old_bitmap() -> None:
    window = ReplayWindow(size=8)
    window.accept(1)
    window.accept(1000)
    assert window.accept(999) is Verdict.NEW
    assert window.accept(1) is Verdict.OUTSIDE_WINDOW


@given(st.lists(st.integers(min_value=0, max_value=3000), max_size=300), st.integers(1, 256))
def test_matches_a_simple_model(counters: list[int], size: int) -> None:
    window, accepted = ReplayWindow(size=size), set()
    newest = -1
    for counter in counters:
        if counter in accepted:
            expected = Verdict.REPLAY if newest - counter < size else Verdict.OUTSIDE_WINDOW
        elif counter <= newest - size:
            expected = Verdict.OUTSIDE_WINDOW
        else:
            expected = Verdict.NEW
        assert window.accept(counter) is expected
        if expected is Verdict.NEW:
            accepted.add(counter)
            newest = max(newest, counter)


def test_reordering_by_a_lossy_radio_loses_nothing_inside_the_window() -> None:
    rng = random.Random(5)
    counters = list(range(2000))
    for i in range(0, 2000, 50):
        block = counters[i : i + 50]
        rng.shuffle(block)
        counters[i : i + 50] = block
    window = ReplayWindow()
    assert all(window.accept(c) is Verdict.NEW for c in counters)
    assert all(window.accept(c) is not Verdict.NEW for c in counters)
