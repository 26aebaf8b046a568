"""The gateway between two real node stacks over the simulated radio (mock clock): records
for the cloud, commands to the radio outbox, and outcomes back, from ACKs or from the
UAV's status when a final ACK was lost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio
import trio.testing

from companion.node import NodeStack
from companion.outbox import Outbox, OutboxStats, open_outbox
from companion.outbox.sync import OutboxSync, valid_bundle
from companion.runtime import StackRuntime
from companion.security.certificate import Role
from dialects import event
from groundstation.awaiting import AwaitingOutcomes
from groundstation.command_center.store import CommandCenterStore
from groundstation.commands import parse_command
from groundstation.gateway import Gateway
from groundstation.records import Record
from sitl.radio import RadioConfig, RadioMedium, Stationary
from tests.companion.security.fleet import NOW_WALL, Fleet

GS, UAV = 255, 4
LINK_KEY = bytes(range(40, 72))
DISK = 0.002
"""Real seconds of idleness before the mock clock jumps: room for the outbox's commits."""


def wall() -> float:
    return NOW_WALL + trio.current_time()


@dataclass
class RecordingUplink:
    """A double of the cloud uplink: keeps what it is given (no network)."""

    records: list[Record] = field(default_factory=list)

    async def publish(self, record: Record) -> None:
        self.records.append(record)

    async def backlog(self) -> OutboxStats:
        return OutboxStats()  # it holds nothing: publish hands records straight to a list

    def stats(self) -> dict[str, int]:
        return {"published": len(self.records)}

    def outcomes(self) -> list[tuple[str, str]]:
        return [
            (r.payload["command_id"], r.payload["outcome_name"])
            for r in self.records
            if r.msg_type == "ack"
        ]


@dataclass
class Pair:
    gateway: Gateway
    uav: StackRuntime
    uplink: RecordingUplink


def ground_station(fleet: Fleet, medium: RadioMedium) -> StackRuntime:
    """The ground station's node stack on `medium`, at the origin."""
    return StackRuntime(
        NodeStack(fleet.identity(GS, Role.GROUND_STATION), LINK_KEY, gateway=True),
        medium.attach(GS, Stationary((0.0, 0.0, 0.0))),
        wall_clock=wall,
    )


def radio_outbox(tmp_path: Path) -> AbstractAsyncContextManager[Outbox]:
    """The ground station's radio outbox file, the same across restarts."""
    return open_outbox(tmp_path / "radio.db", validate=valid_bundle, clock=wall)


def ledger(tmp_path: Path) -> AwaitingOutcomes:
    """The ground station's commands awaiting an outcome, the same file across restarts."""
    return AwaitingOutcomes.load(tmp_path / "awaiting.json")


@asynccontextmanager
async def pair(
    fleet: Fleet, tmp_path: Path, uplink: RecordingUplink | None = None
) -> AsyncIterator[Pair]:
    medium = RadioMedium(seed=5, config=RadioConfig(range_m=2000.0))
    ground = ground_station(fleet, medium)
    uav = StackRuntime(
        NodeStack(fleet.identity(UAV, Role.UAV), LINK_KEY),
        medium.attach(UAV, Stationary((200.0, 0.0, 30.0))),
        wall_clock=wall,
    )
    async with (
        radio_outbox(tmp_path) as outbox,
        trio.open_nursery() as nursery,
    ):
        sync = OutboxSync(outbox, ground)
        gateway = Gateway(ground, sync, wall_clock=wall, awaiting=ledger(tmp_path))
        await gateway.resume()
        uplink = RecordingUplink() if uplink is None else uplink
        gateway.uplink = uplink
        ground.on_event = gateway.on_event
        ground.on_arrival = gateway.on_arrival
        for task in (ground.run, uav.run, sync.run, gateway.publish_loop):
            nursery.start_soon(task)
        await trio.sleep(15)  # hellos: the two become neighbours
        yield Pair(gateway, uav, uplink)
        nursery.cancel_scope.cancel()


def status(last_seq: int, outcome: int, source: int = GS, reason: bytes = b"") -> object:
    return event.MAVLink_event_status_message(
        time=int(wall()),
        uptime=60,
        mission_id=0,
        outbox_depth=0,
        state=event.EVENT_AGENT_STATE_IDLE,
        flags=0,
        last_outcome=outcome,
        gateway_hops=1,
        last_seq=last_seq,
        last_source=source,
        last_reason=reason,
    )


ABORT = {"command_id": "ab-1", "uav": UAV, "type": "mission_abort", "params": {"action": "rtl"}}


def abort_completed(seq: int) -> object:
    """The UAV's final ACK for the abort it was sent as `seq`."""
    return event.MAVLink_event_ack_message(
        seq=seq,
        msg_type=event.EVENT_MSG_TYPE_MISSION_ABORT,
        outcome=event.EVENT_OUTCOME_COMPLETED,
        reason=b"mode RTL",
    )


async def command_arrives(p: Pair) -> int:
    """The cloud's abort goes out; the UAV's stack receives it; its seq."""
    await p.gateway.on_command(parse_command(ABORT))
    with trio.fail_after(60):
        while not p.uav.stack.arrived:
            await trio.sleep(0.5)
    seq: int = p.uav.stack.arrived.popleft().messages[0].seq
    await trio.sleep(5)  # the ACCEPTED ACK goes back
    return seq


async def test_a_lost_final_ack_is_recovered_from_the_uav_status(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    async with pair(fleet, tmp_path) as p:
        seq = await command_arrives(p)
        assert p.uplink.outcomes() == [("ab-1", "accepted")]
        # The UAV executed it, but its final EVENT_ACK never arrived; its status tells.
        p.uav.send(GS, status(seq + 7, event.EVENT_OUTCOME_COMPLETED))  # another command
        p.uav.send(GS, status(seq, event.EVENT_OUTCOME_COMPLETED, source=9))  # another GS
        await trio.sleep(5)
        assert p.uplink.outcomes() == [("ab-1", "accepted")]
        for _ in range(2):
            p.uav.send(GS, status(seq, event.EVENT_OUTCOME_COMPLETED))
            await trio.sleep(5)
        assert p.uplink.outcomes() == [("ab-1", "accepted"), ("ab-1", "completed")]
        assert p.gateway.counters["outcomes_from_status"] == 1


async def test_a_recovered_outcome_keeps_its_reason_when_the_ack_comes_later(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """The status recovers the outcome before the final ACK (the agent repeats it with its
    next statuses) comes: the cloud keeps the first record of an id, so that one must
    carry the reason."""
    mock_clock.autojump_threshold = DISK
    async with pair(fleet, tmp_path) as p:
        seq = await command_arrives(p)
        p.uav.send(GS, status(seq, event.EVENT_OUTCOME_COMPLETED, reason=b"mode RTL"))
        await trio.sleep(5)
        p.uav.send(GS, abort_completed(seq))
        await trio.sleep(5)
        assert p.gateway.counters["outcomes_from_status"] == 1
    with CommandCenterStore(tmp_path / "cloud.db") as cloud:
        cloud.queue(ABORT, wall(), "operator")
        cloud.store(p.uplink.records, wall(), "gateway")
        (command,) = cloud.commands()
        assert (command.status, command.reason) == ("completed", "mode RTL")
        acks = [r for _, r, _ in cloud.records(msg_type="ack")]
        assert [(r.payload["outcome_name"], r.payload["reason"]) for r in acks] == [
            ("accepted", ""),
            ("completed", "mode RTL"),
        ]


async def test_the_final_ack_reports_the_outcome_and_status_adds_nothing(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    async with pair(fleet, tmp_path) as p:
        seq = await command_arrives(p)
        p.uav.send(GS, abort_completed(seq))
        await trio.sleep(5)
        p.uav.send(GS, status(seq, event.EVENT_OUTCOME_COMPLETED))
        await trio.sleep(5)
        assert p.uplink.outcomes() == [("ab-1", "accepted"), ("ab-1", "completed")]
        assert p.gateway.counters["outcomes_from_status"] == 0
        kinds = [r.msg_type for r in p.uplink.records]
        assert kinds.count("status") == 1, "the status itself still goes to the cloud"


async def test_a_command_for_a_uav_out_of_reach_comes_back_expired(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    async with pair(fleet, tmp_path) as p:
        body = {**ABORT, "command_id": "ab-9", "uav": 9}  # no node 9 in this fleet
        await p.gateway.on_command(parse_command(body))
        await trio.sleep(120)  # its 5 s time to live, then the outbox's expiry sweep
        assert p.uplink.outcomes() == [("ab-9", "expired")]
        assert p.gateway.counters["commands_expired"] == 1
        assert (await p.gateway.sync.outbox.stats()).depth == 0


async def stored_then_stopped(fleet: Fleet, tmp_path: Path, body: dict[str, object]) -> None:
    """A gateway stores the cloud's command in its radio outbox and stops before sending it
    (the laptop restarts)."""
    ground = ground_station(fleet, RadioMedium(seed=6))
    async with radio_outbox(tmp_path) as outbox:
        sync = OutboxSync(outbox, ground)
        gateway = Gateway(ground, sync, wall_clock=wall, awaiting=ledger(tmp_path))
        await gateway.on_command(parse_command(body))


async def test_after_a_restart_the_stored_command_still_reports_its_outcome(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    retask = {
        "command_id": "rt-1",
        "uav": UAV,
        "type": "retask",
        "params": {"lat": -35.36, "lon": 149.16, "alt": 40.0},
    }
    await stored_then_stopped(fleet, tmp_path, retask)
    async with pair(fleet, tmp_path) as p:
        with trio.fail_after(60):
            while not p.uav.stack.arrived:
                await trio.sleep(0.5)
        seq = p.uav.stack.arrived.popleft().messages[0].seq
        ack = event.MAVLink_event_ack_message(
            seq=seq,
            msg_type=event.EVENT_MSG_TYPE_RETASK,
            outcome=event.EVENT_OUTCOME_COMPLETED,
            reason=b"holding",
        )
        await trio.sleep(5)
        p.uav.send(GS, ack)
        await trio.sleep(5)
        assert p.uplink.outcomes() == [("rt-1", "accepted"), ("rt-1", "completed")]
        assert (await p.gateway.sync.outbox.stats()).depth == 0


async def test_after_a_restart_a_stored_command_that_expires_is_reported(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    await stored_then_stopped(fleet, tmp_path, {**ABORT, "command_id": "ab-7", "uav": 9})
    async with pair(fleet, tmp_path) as p:
        await trio.sleep(120)  # no node 9: its 5 s time to live ends unacknowledged
        assert p.uplink.outcomes() == [("ab-7", "expired")]


async def test_a_final_outcome_that_comes_after_a_restart_is_reported(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """The UAV accepted the command (the radio outbox let go of it), then the ground
    station restarted; the UAV's final ACK, and its status, still reach the cloud."""
    mock_clock.autojump_threshold = DISK
    async with pair(fleet, tmp_path) as p:
        seq = await command_arrives(p)
        assert p.uplink.outcomes() == [("ab-1", "accepted")]
    async with pair(fleet, tmp_path) as p:  # the laptop restarted
        p.uav.send(GS, abort_completed(seq))
        await trio.sleep(10)
        assert p.uplink.outcomes() == [("ab-1", "completed")]
        assert "ab-1" not in p.gateway.awaiting, "final: forgotten"
    async with pair(fleet, tmp_path) as p:
        p.uav.send(GS, status(seq, event.EVENT_OUTCOME_COMPLETED))
        await trio.sleep(10)
        assert p.uplink.outcomes() == [], "reported once; the ledger no longer has it"


async def test_an_outcome_in_the_status_after_a_restart_is_reported(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    async with pair(fleet, tmp_path) as p:
        seq = await command_arrives(p)
    async with pair(fleet, tmp_path) as p:
        for _ in range(2):
            p.uav.send(GS, status(seq, event.EVENT_OUTCOME_FAILED))
            await trio.sleep(5)
        assert p.uplink.outcomes() == [("ab-1", "failed")]


def test_an_unreadable_ledger_is_set_aside_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "awaiting.json"
    path.write_text('[["ab-1", 4, [[4, "x"]]]]')
    loaded = AwaitingOutcomes.load(path)
    assert len(loaded) == 0
    assert loaded.counters["unreadable"] == 1
    assert (tmp_path / "awaiting.json.unreadable").exists()
    loaded.stored("ab-2", 4)
    loaded.handed("ab-2", 4, 77)
    again = AwaitingOutcomes.load(path)
    assert again.command_of(4, 77) == "ab-2"


def test_a_final_outcome_is_kept_until_committed_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "awaiting.json"
    path.write_text('[["ab-1", 4, [[4, 70]]]]')  # written before final outcomes were kept
    ledger = AwaitingOutcomes.load(path)
    assert ledger.command_of(4, 70) == "ab-1"
    assert ledger.ended() == []
    ledger.ending("ab-1", event.EVENT_OUTCOME_EXPIRED, "not delivered to the UAV in time")
    again = AwaitingOutcomes.load(path)
    assert again.ended() == [
        ("ab-1", 4, (event.EVENT_OUTCOME_EXPIRED, "not delivered to the UAV in time"))
    ]
    again.final("ab-1")
    assert len(AwaitingOutcomes.load(path)) == 0
