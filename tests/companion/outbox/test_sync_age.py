"""Age, not clocks: a detection outlives its alert time to live as a late record, an
EXPIRED answer is no delivery, and no clock offset makes a fresh message look old."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
import trio.testing

from companion.message_age import LATE_AFTER
from companion.outbox import open_outbox
from companion.outbox.sync import OutboxSync, valid_bundle
from companion.reliability.events import Acknowledged
from companion.reliability.priority import Priority
from companion.runtime import StackRuntime
from dialects import event
from groundstation.records import record_from_message
from sitl.radio import NodeDown, NodeUp, RadioMedium
from tests.companion.security.fleet import Fleet
from tests.companion.test_node_line import GS, retask, swarm_line, wall
from tests.samples import detection

from .test_sync import DISK

DAY = 86_400.0


@asynccontextmanager
async def line_with_sync(
    fleet: Fleet, tmp_path: Path, node: int, **options: Any
) -> AsyncIterator[tuple[RadioMedium, dict[int, StackRuntime], OutboxSync]]:
    """The 4-UAV line, with `node`'s outbox synced into its stack (as its daemon does)."""
    async with (
        open_outbox(tmp_path / f"{node}.db", validate=valid_bundle, clock=wall) as outbox,
        trio.open_nursery() as nursery,
    ):
        medium, nodes = swarm_line(nursery, fleet)
        sync = OutboxSync(outbox, nodes[node], **options)
        nodes[node].on_event = sync.on_event
        nursery.start_soon(sync.run)
        yield medium, nodes, sync
        nursery.cancel_scope.cancel()


async def test_a_detection_held_past_its_alert_ttl_goes_on_at_low_and_arrives_late(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    async with line_with_sync(fleet, tmp_path, 3) as (medium, nodes, sync):
        outbox = sync.outbox
        medium.schedule(20.0, NodeDown(GS))
        medium.schedule(200.0, NodeUp(GS))
        await trio.sleep(30)
        submitting = trio.current_time()
        await sync.submit(GS, detection(1), keep_for=DAY)
        submitted = trio.current_time()  # the mock clock may jump during the real write
        await trio.sleep(60)
        stored = await outbox.stats()
        assert stored.by_priority == {Priority.LOW: 1}, "demoted, not dropped"
        assert sync.counters["demoted"] == 1
        while (await outbox.depth()) and trio.current_time() < 600:
            await trio.sleep(1)
        await sync.submit(GS, detection(2), keep_for=DAY)
        while (await outbox.depth()) and trio.current_time() < 700:
            await trio.sleep(1)
    late, live = [a for a in nodes[GS].stack.arrived if a.src == 3]
    assert late.messages[0].track_id == 1
    assert late.priority == Priority.LOW
    assert late.age is not None
    held = (late.at - submitted - 1.0, late.at - submitting + 1.0)
    assert held[0] <= late.age <= held[1], "the age it was held"
    assert late.age > LATE_AFTER
    assert live.age is not None
    assert live.age < 1.0
    records = [record_from_message(3, a.messages[0], a.priority) for a in (late, live)]
    assert [r.payload["late"] for r in records] == [True, False]
    assert sync.counters["expired"] == 0


async def expired_answer(
    fleet: Fleet, tmp_path: Path, message: event.MAVLink_message, keep_for: float | None
) -> tuple[OutboxSync, list[str], dict[int, int]]:
    """Hand `message` from the ground station to an unreachable UAV, and let the UAV's
    answer be EXPIRED (a relay held it too long)."""
    ended: list[str] = []
    handed: list[tuple[str, int, int]] = []
    async with line_with_sync(
        fleet, tmp_path, GS, on_handed=lambda *h: handed.append(h), on_expired=ended.extend
    ) as (medium, _, sync):
        medium.schedule(0.0, NodeDown(3))
        await sync.submit(3, message, key="command-1", keep_for=keep_for)
        while not handed:
            await trio.sleep(0.5)
        _, dst, seq = handed[0]
        expired = event.EVENT_OUTCOME_EXPIRED
        sync.on_event(Acknowledged(dst=dst, seq=seq, outcome=expired, rtt=None))
        await trio.sleep(2)
        assert sync.counters["expired_answers"] == 1
        assert sync.counters["confirmed"] == 0, "an EXPIRED answer is no delivery"
        stored = (await sync.outbox.stats()).by_priority
    return sync, ended, stored


async def test_a_command_answered_expired_ends_counted_and_told(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    sync, ended, stored = await expired_answer(fleet, tmp_path, retask(1), keep_for=None)
    assert ended == ["command-1"], "the gateway hears it, to tell the cloud"
    assert sync.counters["expired"] == 1
    assert stored == {}


async def test_a_detection_answered_expired_is_kept_and_goes_on_at_low(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    sync, ended, stored = await expired_answer(fleet, tmp_path, detection(7), keep_for=DAY)
    assert ended == []
    assert sync.counters["demoted"] == 1
    assert stored == {Priority.LOW: 1}


async def test_a_command_the_cloud_held_arrives_with_that_age_and_its_ttl_shortened(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    async with line_with_sync(fleet, tmp_path, GS) as (_, nodes, sync):
        await trio.sleep(30)  # routes up
        await sync.submit(1, retask(1), key="held-25", held=25.0)
        await sync.submit(1, retask(2), key="held-40", held=40.0)  # HIGH lives 30 s
        await trio.sleep(20)
    (got,) = [a for a in nodes[1].stack.arrived if a.src == GS]
    assert got.messages[0].track_id == 1
    assert got.age is not None
    assert 25.0 <= got.age < 30.0, "the cloud's wait counts in the command's age"
    assert sync.counters["expired"] == 1, "the other was past its time to live already"
