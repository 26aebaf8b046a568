"""Determinism for a seed, channel capacity, and airtime accounting that adds up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import pytest
import trio
import trio.testing

from sitl.accounting import Outcome
from sitl.channel import RadioConfig
from sitl.motion import Line, Stationary
from sitl.radio import RadioMedium, RadioPort

from .swarm import Heard, frame, listen

Outcomes = list[tuple[int, float, float, int, tuple[tuple[int, Outcome], ...]]]


async def chatter(port: RadioPort, seed: int, count: int) -> None:
    """`count` frames of varied sizes at irregular times (the same for every run)."""
    for k in range(count):
        await trio.sleep(0.01 * ((port.node * 7 + k * 13 + seed) % 11))
        await port.send(frame(k, size=20 + (k * 37 + port.node) % 261))


async def busy_swarm(seed: int) -> Outcomes:
    """Five nodes, some in the fading zone, one flying, with 10% extra loss."""
    medium = RadioMedium(seed, RadioConfig(extra_loss=0.1))
    where = [(0, 0, 0), (500, 0, 0), (900, 0, 0), (0, 800, 0)]
    ports = [medium.attach(n + 1, Stationary(p)) for n, p in enumerate(where)]
    ports.append(medium.attach(5, Line((-500, 0, 0), (20, 0, 0))))
    async with trio.open_nursery() as nursery:
        for port in ports:
            nursery.start_soon(listen, port, [])
        async with trio.open_nursery() as senders:
            for port in ports:
                senders.start_soon(chatter, port, seed, 60)
        nursery.cancel_scope.cancel()
    return [
        (r.src, r.start, r.end, r.size, tuple(sorted(r.outcomes.items())))
        for r in sorted(medium.records, key=lambda r: (r.start, r.src))
    ]


def run(scenario: Callable[[], Awaitable[Outcomes]]) -> Outcomes:
    result: Outcomes = trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))
    return result


def test_same_seed_same_outcome_for_every_frame() -> None:
    first = run(partial(busy_swarm, 7))
    assert first == run(partial(busy_swarm, 7))
    outcomes = {o for *_, per_rx in first for _, o in per_rx}
    # The scenario exercises every way of losing a frame it can.
    assert {Outcome.DELIVERED, Outcome.RANGE, Outcome.RANDOM, Outcome.COLLISION} <= outcomes


def test_another_seed_gives_other_outcomes() -> None:
    assert run(partial(busy_swarm, 7)) != run(partial(busy_swarm, 8))


async def test_one_sender_saturates_the_channel(
    autojump_clock: trio.testing.MockClock, report: Callable[[str], None]
) -> None:
    medium = RadioMedium(seed=1)
    sender = medium.attach(1, Stationary((0, 0, 0)))
    receiver = medium.attach(2, Stationary((100, 0, 0)))
    heard: Heard = []
    seconds = 60.0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(listen, receiver, heard)
        with trio.move_on_after(seconds):
            while True:
                await sender.send(frame(0))
        nursery.cancel_scope.cancel()
    stats = medium.stats(1)
    goodput = sum(len(data) for _, data in heard) * 8 / seconds
    utilisation = medium.utilisation()
    report(
        f"sitl radio, one saturating sender, 280-byte frames: {goodput / 1000:.1f} kbit/s of "
        f"frame bytes delivered of 64 kbit/s air rate ({stats.frames_sent} frames in "
        f"{seconds:.0f} s), channel utilisation {utilisation:.1%} (SiK framing + backoff)"
    )
    assert stats.bytes_sent * 8 / seconds == pytest.approx(goodput, rel=0.001)
    # Ceiling: 280 of 297 air bytes, less a mean backoff of 1.75 ms per 37.125 ms frame.
    assert goodput == pytest.approx(64_000 * 280 / 297 * 37.125 / 38.875, rel=0.01)
    assert utilisation == pytest.approx(stats.airtime / seconds, rel=0.001)
    assert utilisation > 0.94


async def test_airtime_by_kind_adds_up(autojump_clock: trio.testing.MockClock) -> None:
    def by_size(data: bytes) -> str:
        return "control" if len(data) < 64 else "data"

    medium = RadioMedium(seed=2)
    ports = [medium.attach(n, Stationary((100.0 * n, 0, 0)), classify=by_size) for n in range(1, 4)]
    async with trio.open_nursery() as nursery:
        for port in ports:
            nursery.start_soon(chatter, port, 2, 40)
    total = medium.total()
    records = medium.records
    assert total.frames_sent == len(records) == 120
    assert total.bytes_sent == sum(r.size for r in records)
    for kind in ("control", "data"):
        expected = sum(medium.config.airtime(r.size) for r in records if r.kind == kind)
        assert total.airtime_by_kind[kind] == pytest.approx(expected)
    assert sum(total.airtime_by_kind.values()) == pytest.approx(total.airtime)
    assert total.airtime == pytest.approx(sum(medium.stats(p.node).airtime for p in ports))
    assert medium.utilisation() == pytest.approx(total.airtime / trio.current_time())
    # Every frame has one outcome at each of the two other nodes.
    assert all(len(r.outcomes) == 2 for r in records)
    lost = sum(total.lost.values())
    delivered = sum(len(r.delivered_to()) for r in records)
    assert lost + delivered == 2 * len(records)
