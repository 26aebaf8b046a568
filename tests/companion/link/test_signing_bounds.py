"""Signing timestamps that cannot wrap or run away (issue 16, item 3): the link core and
the reservation file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from companion.errors import LocalProtocolError
from companion.link import Drop, Link, LinkConfig, SigningClock, ticks
from companion.link.signing import (
    CEILING,
    MAX_AHEAD,
    PLAUSIBLE_FLOOR,
    TICKS_PER_SECOND,
    frame_timestamp,
)
from companion.link.timestamp_store import TimestampStore
from companion.reservation import save_last_used
from tests.samples import detection

from .helpers import KEY, NOW, forge, pair

NEAR_WRAP = 2**48 - 2
BOOTED_IN_1970 = 0.0
YEAR_2090 = 3_786_912_000.0  # 2090-01-01, as a broken RTC may say


def exchange(a: Link, b: Link, wall: float, frames: int = 3) -> None:
    """Both ways, `frames` each: every one must be accepted."""
    for i in range(frames):
        assert len(b.receive_data(a.send(detection(i), wall), wall)) == 1
        assert len(a.receive_data(b.send(detection(i), wall), wall)) == 1


@pytest.mark.parametrize("wall", [NOW, BOOTED_IN_1970], ids=["plausible", "no_time"])
def test_frame_stamped_near_the_wrap_is_refused_and_counted(wall: float) -> None:
    uav, gs = pair()
    before = gs.clock.now(wall)
    assert gs.receive_data(forge(detection(), NEAR_WRAP), wall) == []
    assert gs.drops == {Drop.AHEAD: 1}
    assert gs.clock.now(wall) == before  # not adopted
    # Neither the forged stream (system 3's) nor gs's own timestamps moved: both still talk,
    # and gs's frames did not wrap to 0 (which uav would have dropped as stale).
    exchange(uav, gs, wall)
    assert not uav.drops
    assert gs.drops == {Drop.AHEAD: 1}


def test_frame_far_ahead_of_the_receiver_is_refused_and_counted() -> None:
    uav, gs = pair()
    limit = ticks(NOW) + MAX_AHEAD
    assert gs.receive_data(forge(detection(), limit + 1), NOW) == []
    assert gs.drops == {Drop.AHEAD: 1}
    assert gs.clock.now(NOW) == ticks(NOW)
    exchange(uav, gs, NOW)
    assert gs.drops == {Drop.AHEAD: 1}


def test_frame_up_to_max_ahead_is_adopted() -> None:
    _, gs = pair()
    limit = ticks(NOW) + MAX_AHEAD
    assert len(gs.receive_data(forge(detection(), limit, system_id=9), NOW)) == 1
    assert gs.clock.now(NOW) == limit  # fleet time may run well ahead of a stale wall clock


def test_max_ahead_is_the_clocks() -> None:
    gs = Link(LinkConfig(system_id=255, key=KEY), SigningClock(max_ahead=60 * TICKS_PER_SECOND))
    ahead = ticks(NOW) + 61 * TICKS_PER_SECOND
    assert gs.receive_data(forge(detection(), ahead), NOW) == []
    assert gs.drops == {Drop.AHEAD: 1}


def test_node_without_plausible_time_joins_a_fleet_years_ahead() -> None:
    pi = Link(LinkConfig(system_id=7, key=KEY))
    assert pi.clock.now(BOOTED_IN_1970) < PLAUSIBLE_FLOOR
    assert pi.receive_data(forge(detection(1), CEILING), BOOTED_IN_1970) == []
    assert len(pi.receive_data(forge(detection(2), CEILING - 1), BOOTED_IN_1970)) == 1
    pi = Link(LinkConfig(system_id=7, key=KEY))
    uav, _ = pair()
    assert len(pi.receive_data(uav.send(detection(), NOW), BOOTED_IN_1970)) == 1
    exchange(uav, pi, BOOTED_IN_1970)


def test_once_it_has_the_fleets_time_it_refuses_far_ahead_frames() -> None:
    pi = Link(LinkConfig(system_id=7, key=KEY))
    uav, _ = pair()
    pi.receive_data(uav.send(detection(), NOW), BOOTED_IN_1970)
    assert pi.receive_data(forge(detection(), NEAR_WRAP - 5), BOOTED_IN_1970) == []
    assert pi.drops == {Drop.AHEAD: 1}


def test_wall_clock_past_the_ceiling_is_ignored_and_said(caplog: pytest.LogCaptureFixture) -> None:
    broken = Link(LinkConfig(system_id=7, key=KEY))
    uav, _ = pair()
    with caplog.at_level(logging.ERROR):
        assert len(broken.receive_data(uav.send(detection(), NOW), YEAR_2090)) == 1
        exchange(uav, broken, YEAR_2090)
    assert broken.clock.status()["wall_clock_ignored"] > 0
    assert "event=wall_clock_implausible" in caplog.text
    assert "2090-" in caplog.text


def test_counter_past_the_ceiling_counts_up_says_so_and_never_wraps(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pi = Link(LinkConfig(system_id=7, key=KEY))  # no time yet: takes what it hears first
    assert len(pi.receive_data(forge(detection(), CEILING - 2, system_id=9), BOOTED_IN_1970)) == 1
    uav, gs = pair()
    with caplog.at_level(logging.ERROR):
        sent = [pi.send(detection(i), BOOTED_IN_1970) for i in range(6)]
    stamps = [frame_timestamp(frame) for frame in sent]
    assert stamps == list(range(CEILING - 2, CEILING + 4))
    assert pi.clock.status()["past_ceiling"] is True
    assert pi.clock.status()["timestamps_past_ceiling"] == 4
    lines = [r for r in caplog.records if "signing_clock_past_ceiling" in r.getMessage()]
    assert len(lines) == 3  # the 1st, 2nd and 4th time
    for frame in sent[2:]:  # nobody adopts what it sends past the ceiling
        assert gs.receive_data(frame, NOW) == []
        assert uav.receive_data(frame, BOOTED_IN_1970) == []
    assert gs.drops == uav.drops == {Drop.AHEAD: 4}


def test_restored_value_past_the_ceiling_is_our_error() -> None:
    with pytest.raises(LocalProtocolError):
        SigningClock(restored=CEILING)


# -- the reservation file ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("saved", "figure"),
    [
        (str(NEAR_WRAP), str(NEAR_WRAP)),  # from a version without the ceiling
        (str(CEILING), "2059-08-07"),
        ("9" * 5000, "5000 digits"),  # int() of it would raise, not refuse
    ],
    ids=["near_wrap", "ceiling", "huge"],
)
def test_reservation_past_the_ceiling_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, saved: str, figure: str
) -> None:
    store = TimestampStore(tmp_path / "signing.timestamp")
    store.path.write_text(saved + "\n")
    with caplog.at_level(logging.ERROR):
        assert store.load(NOW) == 0
        assert store.load(BOOTED_IN_1970) == 0
    assert store.status() == {"corrupt_loads": 0, "refused_loads": 2}
    (line, _) = [r.getMessage() for r in caplog.records]
    assert "event=signing_timestamp_refused" in line
    assert str(store.path) in line
    assert figure in line


def test_reservation_far_ahead_of_a_plausible_wall_clock_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = TimestampStore(tmp_path / "signing.timestamp")
    far = ticks(NOW) + MAX_AHEAD + 1
    store.save(far)
    with caplog.at_level(logging.ERROR):
        assert store.load(NOW) == 0
    assert store.refused_loads == 1
    assert "365 days ahead of the wall clock (2026-" in caplog.text
    # Without a plausible wall clock it is the best time the node has.
    assert store.load(BOOTED_IN_1970) == far
    store.save(far - 1)
    assert store.load(NOW) == far - 1


def test_clean_stop_saves_the_last_timestamp_used(tmp_path: Path) -> None:
    store = TimestampStore(tmp_path / "signing.timestamp")
    _, gs = pair()

    def boot() -> Link:
        return Link(LinkConfig(system_id=3, key=KEY), SigningClock(store.load(NOW)))

    def send(uav: Link, i: int) -> bytes:
        frame = uav.send(detection(i), NOW)
        pending = uav.clock.pending_reservation
        if pending is not None:
            store.save(pending)
            uav.clock.confirm_reservation(pending)
        return frame

    uav = boot()
    last = frame_timestamp([send(uav, i) for i in range(3)][-1])
    assert store.load(NOW) > last  # a reservation ahead, in case of a SIGKILL
    save_last_used(uav.clock, store)
    assert store.load(NOW) == last
    late = uav.send(detection(9), NOW)  # signed after the stop's save: needs a reservation
    assert uav.clock.pending_reservation == frame_timestamp(late) + 60 * TICKS_PER_SECOND
    uav = boot()
    first = send(uav, 3)
    assert frame_timestamp(first) == last + 1  # the SIGTERM restart skipped no window
    assert len(gs.receive_data(first, NOW)) == 1
