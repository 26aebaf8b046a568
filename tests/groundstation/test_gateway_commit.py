"""Durable before acknowledged or forgotten: a detection whose record found the uplink
queue full is not acknowledged, and the UAV's next copy is committed and acknowledged; a
command's final outcome whose record was not committed when the ground station stopped is
reported by the next run (mock clock, simulated radio, real node stacks, radio outbox and
ledger files)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import trio
import trio.testing

from companion.node import NodeStack
from companion.outbox.sync import OutboxSync
from companion.reliability.events import Acknowledged
from companion.runtime import StackRuntime
from companion.security.certificate import Role
from dialects import event
from groundstation.commands import parse_command
from groundstation.gateway import Gateway
from groundstation.records import Record
from sitl.radio import RadioConfig, RadioMedium, Stationary
from tests.companion.security.fleet import Fleet
from tests.samples import detection

from .test_gateway import (
    ABORT,
    DISK,
    GS,
    LINK_KEY,
    UAV,
    RecordingUplink,
    ledger,
    pair,
    radio_outbox,
    wall,
)


@dataclass
class SlowUplink:
    """A double of the cloud uplink that holds every publish until `release` is set."""

    release: trio.Event = field(default_factory=trio.Event)
    records: list[Record] = field(default_factory=list)

    async def publish(self, record: Record) -> None:
        await self.release.wait()
        self.records.append(record)


async def test_a_detection_refused_by_a_full_uplink_queue_is_committed_from_its_next_copy(
    fleet: Fleet, tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = DISK
    medium = RadioMedium(seed=5, config=RadioConfig(range_m=2000.0))
    detections = frozenset({event.MAVLINK_MSG_ID_EVENT_DETECTION})
    ground = StackRuntime(
        NodeStack(
            fleet.identity(GS, Role.GROUND_STATION),
            LINK_KEY,
            gateway=True,
            ack_after_commit=detections,
        ),
        medium.attach(GS, Stationary((0.0, 0.0, 0.0))),
        wall_clock=wall,
    )
    uav = StackRuntime(
        NodeStack(fleet.identity(UAV, Role.UAV), LINK_KEY),
        medium.attach(UAV, Stationary((200.0, 0.0, 30.0))),
        wall_clock=wall,
    )
    async with radio_outbox(tmp_path) as outbox, trio.open_nursery() as nursery:
        gateway = Gateway(
            ground, OutboxSync(outbox, ground), wall_clock=wall, awaiting=ledger(tmp_path), queue=1
        )
        uplink = SlowUplink()
        gateway.uplink = uplink  # type: ignore[assignment]
        ground.on_arrival = gateway.on_arrival
        for task in (ground.run, uav.run):
            nursery.start_soon(task)
        nursery.start_soon(gateway.publish_loop, 1)
        await trio.sleep(15)  # hellos: the two become neighbours
        for track in (1, 2, 3):  # one publishing, one queued, one finds the queue full
            uav.send(GS, detection(track))
            await trio.sleep(2)
        assert gateway.counters["uplink_queue_full"] >= 1
        uplink.release.set()
        with trio.fail_after(60):
            while len(uplink.records) < 3:
                await trio.sleep(0.5)
            await trio.sleep(5)  # the ACKs go back
        nursery.cancel_scope.cancel()
    assert sorted(r.payload["track_id"] for r in uplink.records) == [1, 2, 3]
    acked = [e for e in uav.stack.events if isinstance(e, Acknowledged)]
    assert len({e.seq for e in acked}) == 3


class StuckUplink(RecordingUplink):
    """A double of the cloud uplink whose publish never returns: nothing gets committed
    before the ground station stops."""

    async def publish(self, record: Record) -> None:
        await trio.sleep_forever()


async def test_an_expiry_not_committed_before_a_stop_is_reported_by_the_next_run(
    fleet: Fleet, tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    """The restart soak's lost command: its time to live ended, the expiry was decided and
    the command forgotten, and the station stopped before the record was committed. No
    UAV ever repeats an expiry: the ledger keeps it until the record is committed."""
    mock_clock.autojump_threshold = DISK
    body = {**ABORT, "command_id": "ab-9", "uav": 9}  # no node 9 in this fleet
    async with pair(fleet, tmp_path, StuckUplink()) as p:
        await p.gateway.on_command(parse_command(body))
        await trio.sleep(120)  # its 5 s time to live, then the outbox's expiry sweep
        assert p.gateway.counters["commands_expired"] == 1
        assert p.uplink.records == []
    async with pair(fleet, tmp_path) as p:  # the laptop restarted
        await trio.sleep(5)
        assert p.uplink.outcomes() == [("ab-9", "expired")]
        assert "ab-9" not in p.gateway.awaiting, "committed: forgotten"
    async with pair(fleet, tmp_path) as p:
        await trio.sleep(5)
        assert p.uplink.outcomes() == [], "reported once"
