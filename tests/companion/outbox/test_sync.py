"""Buffered sync over the simulated radio: the outbox holds through an outage, drains in
priority order when the path is back, and only the far end's ACK removes a message."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from companion.errors import LocalProtocolError
from companion.outbox import open_outbox
from companion.outbox.sync import OutboxSync, valid_bundle
from companion.reliability.priority import Priority
from dialects import event
from sitl.radio import NodeDown, NodeUp
from tests.companion.security.fleet import Fleet
from tests.companion.test_node_line import GS, retask, swarm_line, wall
from tests.samples import detection

DARK, BACK = 30.0, 330.0
PER_PRIORITY = 12
WINDOW = 4
DISK = 0.002
"""Real seconds the mock clock waits, idle, before it jumps: long enough for the outbox's
worker thread to commit, so a disk write does not look like minutes of radio silence."""


async def test_outage_buffered_then_synced_in_priority_order(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    most_in_flight = 0
    async with (
        open_outbox(tmp_path / "uav3.db", validate=valid_bundle, clock=wall) as outbox,
        trio.open_nursery() as nursery,
    ):
        medium, nodes = swarm_line(nursery, fleet)
        far = nodes[3]
        sync = OutboxSync(outbox, far, window=WINDOW)
        far.on_event = sync.on_event
        nursery.start_soon(sync.run)
        medium.schedule(DARK, NodeDown(GS))
        medium.schedule(BACK, NodeUp(GS))
        await trio.sleep(DARK + 30)
        for i in range(PER_PRIORITY):
            await sync.submit(GS, detection(i), priority=Priority.LOW)
        await trio.sleep_until(BACK - 150)  # MEDIUM lives 5 min: these outlive the outage
        for i in range(PER_PRIORITY):
            await sync.submit(GS, detection(100 + i), priority=Priority.MEDIUM)
        while trio.current_time() < BACK - 5:
            most_in_flight = max(most_in_flight, sync.in_flight(GS))
            await trio.sleep(1)
        held = await outbox.stats()
        assert held.depth == 2 * PER_PRIORITY, "nothing leaves while nobody can confirm it"
        assert most_in_flight <= 1, "no route to the ground: one probe in flight, no more"
        while (await outbox.stats()).depth and trio.current_time() < BACK + 300:
            most_in_flight = max(most_in_flight, sync.in_flight(GS))
            await trio.sleep(1)
        nursery.cancel_scope.cancel()
    arrived = [(a.priority, a.messages[0].track_id) for a in nodes[GS].stack.arrived if a.src == 3]
    tracks = [track for _, track in arrived]
    assert sorted(tracks) == sorted([*range(PER_PRIORITY), *range(100, 100 + PER_PRIORITY)])
    assert len(tracks) == len(set(tracks)), "each once"
    priorities = [priority for priority, _ in arrived]
    assert priorities == sorted(priorities), "MEDIUM drained before LOW"
    assert most_in_flight <= WINDOW, "the window bounds what the stack holds for the outbox"
    assert sync.counters["confirmed"] == 2 * PER_PRIORITY
    assert sync.counters["expired"] == 0


async def test_unacknowledged_messages_are_sent_live_not_stored(
    fleet: Fleet, autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    telemetry = event.MAVLink_event_telemetry_message(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 10)
    async with open_outbox(tmp_path / "o.db") as outbox, trio.open_nursery() as nursery:
        _, nodes = swarm_line(nursery, fleet)
        sync = OutboxSync(outbox, nodes[1])
        with pytest.raises(LocalProtocolError, match="needs no ACK"):
            await sync.submit(GS, telemetry)
        assert (await outbox.stats()).depth == 0
        nursery.cancel_scope.cancel()


async def test_critical_is_handed_over_past_a_full_window(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    async with (
        open_outbox(tmp_path / "gs.db", validate=valid_bundle, clock=wall) as outbox,
        trio.open_nursery() as nursery,
    ):
        medium, nodes = swarm_line(nursery, fleet)
        medium.schedule(0.0, NodeDown(3))  # nobody can answer: the window stays full
        ground = nodes[GS]
        sync = OutboxSync(outbox, ground, window=2)
        ground.on_event = sync.on_event
        nursery.start_soon(sync.run)
        for i in range(5):
            await sync.submit(3, retask(i), priority=Priority.HIGH)
        await trio.sleep(5)
        assert sync.in_flight(3) == 1, "no route to UAV 3: a single probe"
        await sync.submit(3, event.MAVLink_event_mission_abort_message(0, 7, 0, 0))
        await trio.sleep(1)
        assert sync.in_flight(3) == 2, "the abort went to the stack at once"
        assert sync.counters["handed_over"] == 2
        nursery.cancel_scope.cancel()
