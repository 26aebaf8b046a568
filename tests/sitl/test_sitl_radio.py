"""The simulated radio: airtime, channel access, collisions and range, at exact times."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from sitl.accounting import Outcome
from sitl.channel import RadioConfig
from sitl.motion import Line, Stationary
from sitl.radio import RadioMedium

from .swarm import Heard, frame, listen, tags

AIRTIME_280 = (280 + 17) * 8 / 64_000
"""A full 280-byte MAVLink 2 frame plus SiK's 17 bytes of framing at 64 kbit/s."""


async def test_full_frame_takes_its_airtime_then_the_processing_delay(
    autojump_clock: trio.testing.MockClock,
) -> None:
    medium = RadioMedium(seed=1, config=RadioConfig(carrier_sense=False))
    a = medium.attach(1, Stationary((0, 0, 0)))
    b = medium.attach(2, Stationary((100, 0, 0)))
    await a.send(frame(1))
    assert trio.current_time() == AIRTIME_280 == 0.037125
    assert await b.receive() == frame(1)
    assert trio.current_time() == 0.037125 + 0.001


async def test_with_carrier_sense_latency_is_backoff_plus_airtime(
    autojump_clock: trio.testing.MockClock,
) -> None:
    medium = RadioMedium(seed=1)
    a = medium.attach(1, Stationary((0, 0, 0)))
    b = medium.attach(2, Stationary((100, 0, 0)))
    await a.send(frame(1))
    [record] = medium.records
    slots = record.start / medium.config.slot_time
    assert slots == round(slots)
    assert 0 <= slots < medium.config.contention_slots
    assert record.end == trio.current_time() == record.start + AIRTIME_280
    assert await b.receive() == frame(1)
    assert trio.current_time() == record.end + 0.001


async def _send_together(medium: RadioMedium, third: int) -> Heard:
    a = medium.attach(1, Stationary((0, 0, 0)))
    b = medium.attach(2, Stationary((50, 0, 0)))
    c = medium.attach(third, Stationary((25, 40, 0)))
    heard: Heard = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(listen, c, heard)
        nursery.start_soon(a.send, frame(1))
        nursery.start_soon(b.send, frame(2))
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    return heard


async def test_two_nodes_sending_at_once_take_turns(autojump_clock: trio.testing.MockClock) -> None:
    medium = RadioMedium(seed=3)
    heard = await _send_together(medium, third=3)
    assert sorted(tags(heard)) == [1, 2]
    first, second = sorted(medium.records, key=lambda r: r.start)
    assert second.start >= first.end
    assert medium.total().lost[Outcome.COLLISION] == 0


async def test_without_carrier_sense_simultaneous_frames_collide(
    autojump_clock: trio.testing.MockClock,
) -> None:
    medium = RadioMedium(seed=3, config=RadioConfig(carrier_sense=False))
    heard = await _send_together(medium, third=3)
    assert heard == []
    assert medium.stats(3).lost[Outcome.COLLISION] == 2
    # Each sender was transmitting while the other's frame was on the air.
    assert medium.stats(1).lost[Outcome.TRANSMITTING] == 1


async def test_carrier_sense_collides_only_in_a_shared_backoff_slot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    medium = RadioMedium(seed=5)
    ports = [medium.attach(n, Stationary((10.0 * n, 0, 0))) for n in (1, 2)]
    rounds = 400
    for i in range(rounds):
        async with trio.open_nursery() as nursery:
            for port in ports:
                nursery.start_soon(port.send, frame(i))
        await trio.sleep(0.1)
    collided = medium.stats(2).lost[Outcome.TRANSMITTING]
    # Two nodes draw the same one of 8 slots with probability 1/8.
    assert 0.08 * rounds < collided < 0.17 * rounds


async def test_hidden_terminals_collide_at_the_node_between_them(
    autojump_clock: trio.testing.MockClock,
) -> None:
    medium = RadioMedium(seed=2)
    a = medium.attach(1, Stationary((0, 0, 0)))
    b = medium.attach(2, Stationary((600, 0, 0)))
    c = medium.attach(3, Stationary((1200, 0, 0)))
    heard: Heard = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(listen, b, heard)
        nursery.start_soon(a.send, frame(1))
        await trio.sleep(0.01)
        # A's carrier is not heard at C: it sends into A's frame.
        await c.send(frame(3))
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert heard == []
    assert medium.stats(2).lost == {Outcome.COLLISION: 2}
    assert medium.stats(3).lost == {Outcome.RANGE: 1}


async def test_a_node_beyond_range_hears_nothing(autojump_clock: trio.testing.MockClock) -> None:
    medium = RadioMedium(seed=1)
    a = medium.attach(1, Stationary((0, 0, 0)))
    medium.attach(2, Stationary((1500, 0, 0)))
    for i in range(10):
        await a.send(frame(i))
    assert medium.stats(2).lost == {Outcome.RANGE: 10}
    assert medium.stats(2).frames_received == 0


async def test_a_moving_node_leaves_range_when_it_crosses_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    medium = RadioMedium(seed=1, config=RadioConfig(fade_start=1.0))
    a = medium.attach(1, Stationary((0, 0, 0)))
    b = medium.attach(2, Line(start=(0, 0, 0), velocity=(10, 0, 0)))
    heard: Heard = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(listen, b, heard)
        # One frame at k + 0.5 s: at 10 m/s, B crosses 1000 m at 100 s.
        for k in range(120):
            await trio.sleep_until(k + 0.5)
            await a.send(frame(k))
        nursery.cancel_scope.cancel()
    assert tags(heard) == list(range(100))
    assert medium.stats(2).lost == {Outcome.RANGE: 20}
    assert medium.channel.position(2, 100.0) == (1000.0, 0.0, 0.0)


async def test_a_new_course_given_at_runtime_takes_effect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    medium = RadioMedium(seed=1)
    a = medium.attach(1, Stationary((0, 0, 0)))
    medium.attach(2, Stationary((10, 0, 0)))
    for k in range(10):
        if k == 5:
            medium.set_motion(2, Stationary((5000, 0, 0)))
        await a.send(frame(k))
    outcomes = [r.outcomes[2] for r in medium.records]
    assert outcomes == [Outcome.DELIVERED] * 5 + [Outcome.RANGE] * 5


async def test_delivery_fades_between_seventy_percent_of_range_and_range(
    autojump_clock: trio.testing.MockClock,
) -> None:
    medium = RadioMedium(seed=9)
    a = medium.attach(1, Stationary((0, 0, 0)))
    medium.attach(2, Stationary((850, 0, 0)))
    medium.attach(3, Stationary((0, 690, 0)))
    medium.attach(4, Stationary((0, -999, 0)))
    for k in range(400):
        await a.send(frame(k, size=20))
    assert medium.config.reach(850) == pytest.approx(0.5)
    assert 0.4 < medium.stats(2).lost[Outcome.RANGE] / 400 < 0.6
    assert medium.stats(3).lost == {}
    assert medium.stats(4).lost == {Outcome.RANGE: 400}


async def test_extra_loss_is_uniform_and_counted_apart(
    autojump_clock: trio.testing.MockClock,
) -> None:
    medium = RadioMedium(seed=4, config=RadioConfig(extra_loss=0.1))
    a = medium.attach(1, Stationary((0, 0, 0)))
    medium.attach(2, Stationary((10, 0, 0)))
    for k in range(1000):
        await a.send(frame(k, size=20))
    lost = medium.stats(2).lost
    assert set(lost) == {Outcome.RANDOM}
    assert 70 < lost[Outcome.RANDOM] < 130


async def test_a_frame_on_the_air_finishes_when_its_sender_is_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    medium = RadioMedium(seed=1, config=RadioConfig(carrier_sense=False))
    a = medium.attach(1, Stationary((0, 0, 0)))
    b = medium.attach(2, Stationary((10, 0, 0)))
    with trio.move_on_after(0.010):
        await a.send(frame(1))
        # The frame went out whole: send() returned rather than raise Cancelled.
        assert trio.current_time() == AIRTIME_280
    assert await b.receive() == frame(1)


@pytest.mark.parametrize(
    "bad",
    [
        {"range_m": 0},
        {"fade_start": 0},
        {"extra_loss": 1.5},
        {"overhead_bytes": -1},
        {"slot_time": 0},
        {"contention_slots": 0},
    ],
)
def test_config_refuses_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        RadioConfig(**bad)  # type: ignore[arg-type]
