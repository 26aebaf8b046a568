"""TransmitScheduler: strict priority, FIFO, expiry, eviction, and the CRITICAL delay bound."""

from __future__ import annotations

import random

from companion.reliability.priority import Priority
from companion.reliability.scheduler import Frame, TransmitScheduler

BITRATE = 64_000
MAX_FRAME = 280
"""Largest signed MAVLink 2 frame: 10 header + 255 payload + 2 checksum + 13 signature."""


def frame(name: str, priority: Priority, deadline: float = 100.0, size: int = 0) -> Frame:
    data = name.encode().ljust(size, b".")
    return Frame(data=data, priority=priority, kind="data", deadline=deadline)


def drain(scheduler: TransmitScheduler, now: float = 0.0) -> list[bytes]:
    out = []
    while (item := scheduler.pop(now)) is not None:
        out.append(item.data.rstrip(b"."))
    return out


def test_highest_priority_first_fifo_within_one() -> None:
    scheduler = TransmitScheduler()
    for name, priority in [
        ("l1", Priority.LOW),
        ("m1", Priority.MEDIUM),
        ("c1", Priority.CRITICAL),
        ("l2", Priority.LOW),
        ("h1", Priority.HIGH),
        ("c2", Priority.CRITICAL),
    ]:
        scheduler.push(frame(name, priority))
    assert len(scheduler) == 6
    assert drain(scheduler) == [b"c1", b"c2", b"h1", b"m1", b"l1", b"l2"]
    assert scheduler.queued_bytes == 0


def test_frames_past_their_deadline_are_dropped_at_pop_time() -> None:
    scheduler = TransmitScheduler()
    scheduler.push(frame("c-old", Priority.CRITICAL, deadline=5.0))
    scheduler.push(frame("l", Priority.LOW, deadline=3600.0))
    assert drain(scheduler, now=5.0) == [b"l"]
    assert scheduler.counters["expired"] == 1
    scheduler.push(frame("c-new", Priority.CRITICAL, deadline=5.0))
    assert drain(scheduler, now=4.999) == [b"c-new"]


def test_eviction_takes_the_lowest_priority_oldest_first() -> None:
    scheduler = TransmitScheduler(max_bytes=300)
    scheduler.push(frame("l1", Priority.LOW, size=100))
    scheduler.push(frame("m1", Priority.MEDIUM, size=100))
    scheduler.push(frame("l2", Priority.LOW, size=100))
    assert scheduler.push(frame("h1", Priority.HIGH, size=150))  # evicts l1, then l2
    assert scheduler.counters["evicted"] == 2
    assert drain(scheduler) == [b"h1", b"m1"]


def test_a_newcomer_never_evicts_a_more_important_frame() -> None:
    scheduler = TransmitScheduler(max_bytes=200)
    scheduler.push(frame("c1", Priority.CRITICAL, size=100))
    scheduler.push(frame("m1", Priority.MEDIUM, size=100))
    assert scheduler.push(frame("m2", Priority.MEDIUM, size=100))  # evicts m1, same priority
    assert not scheduler.push(frame("l1", Priority.LOW, size=100))
    assert not scheduler.push(frame("huge", Priority.CRITICAL, size=201))
    assert scheduler.counters["dropped_full"] == 2
    assert drain(scheduler) == [b"c1", b"m2"]


def test_sent_bytes_counted_per_kind() -> None:
    scheduler = TransmitScheduler()
    scheduler.push(Frame(data=b"x" * 40, priority=Priority.HIGH, kind="control", deadline=1.0))
    scheduler.push(Frame(data=b"y" * 280, priority=Priority.LOW, kind="data", deadline=1.0))
    drain(scheduler)
    assert scheduler.counters["sent_bytes_control"] == 40
    assert scheduler.counters["sent_bytes_data"] == 280


def test_critical_waits_at_most_one_frame_behind_bulk_traffic() -> None:
    """A transmitter loop at 64 kbit/s, LOW fragments queued without pause, CRITICAL
    frames arriving at random instants: each waits at most one max-size frame's airtime."""
    rng = random.Random(20251124)
    arrivals = sorted(rng.uniform(0.0, 60.0) for _ in range(200))
    arrivals = [t for i, t in enumerate(arrivals) if i == 0 or t - arrivals[i - 1] > 0.08]
    scheduler = TransmitScheduler(max_bytes=1 << 20)
    now, pending, delays, bulk_sent = 0.0, list(arrivals), [], 0
    while pending:
        while len(scheduler) < 20:  # bulk never runs dry
            scheduler.push(
                frame("bulk", Priority.LOW, deadline=1e9, size=rng.randint(200, MAX_FRAME))
            )
        while pending and pending[0] <= now:
            scheduler.push(
                Frame(
                    data=str(pending.pop(0)).encode(),
                    priority=Priority.CRITICAL,
                    kind="control",
                    deadline=1e9,
                )
            )
        sent = scheduler.pop(now)
        assert sent is not None
        if sent.priority is Priority.CRITICAL:
            delays.append(now - float(sent.data))
        else:
            bulk_sent += 1
        now += len(sent.data) * 8 / BITRATE
    bound = MAX_FRAME * 8 / BITRATE
    assert bound == 0.035
    assert len(delays) == len(arrivals) > 100
    assert max(delays) <= bound
    assert max(delays) > bound / 2  # bulk really was on the air when they arrived
    assert bulk_sent > 1500  # about 60 s of airtime
