"""The executor's scheduling: one at a time, BUSY for the same kind, aborts preempt."""

from __future__ import annotations

from typing import Any

import trio

from companion.autopilot.executor import CommandExecutor
from dialects import event
from tests.companion.autopilot import events
from tests.companion.autopilot.events import HOME_LAT, HOME_LON, route
from tests.companion.autopilot.harness import MuteAutopilot, adapter_with

INT8 = event.MAV_PARAM_TYPE_INT8
INT32 = event.MAV_PARAM_TYPE_INT32


async def answer(executor: CommandExecutor, bundle: list[Any]) -> Any:
    ack = await executor.execute(bundle)
    assert ack is not None
    return ack


class Acks:
    """Runs commands in their own tasks, as the agent does, and keeps each ACK with its time."""

    def __init__(self, executor: CommandExecutor, nursery: trio.Nursery) -> None:
        self.executor = executor
        self.nursery = nursery
        self.acks: dict[int, tuple[Any, float]] = {}

    def submit(self, bundle: list[Any]) -> None:
        self.nursery.start_soon(self._run, bundle)

    async def _run(self, bundle: list[Any]) -> None:
        ack = await self.executor.execute(bundle)
        self.acks[bundle[0].seq] = (ack, trio.current_time())

    def outcome(self, seq: int) -> tuple[int, str]:
        ack, _ = self.acks[seq]
        return ack.outcome, ack.reason


async def test_abort_preempts_a_running_upload_at_once(autojump_clock: object) -> None:
    async with adapter_with(MuteAutopilot()) as adapter:
        assert await adapter.wait_connected()
        executor = CommandExecutor(adapter)
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            acks = Acks(executor, nursery)
            acks.submit(events.assign(route(20), seq=10))
            await trio.sleep(1.0)
            acks.submit(events.param_update(b"FENCE_ENABLE", 1, INT8, seq=11))  # waits
            await trio.sleep(1.0)
            acks.submit(events.abort(event.EVENT_ABORT_ACTION_RTL, seq=12))
            await trio.sleep(0.1)
            acks.submit(events.param_update(b"RTL_ALT", 1500, INT32, seq=13))  # after abort
        assign, assigned_at = acks.acks[10]
        assert (assign.seq, assign.msg_type) == (10, event.EVENT_MSG_TYPE_MISSION_ASSIGN)
        assert acks.outcome(10) == (event.EVENT_OUTCOME_FAILED, "preempted by abort")
        assert assigned_at - start == 2.0  # the moment the abort arrived
        assert acks.outcome(11) == (event.EVENT_OUTCOME_FAILED, "preempted by abort")
        # The abort ran next (the mute autopilot never answers it) ...
        assert acks.outcome(12) == (event.EVENT_OUTCOME_TIMEOUT, "mode RTL: no COMMAND_ACK")
        assert acks.acks[12][1] - start == 2.0 + 9.0
        # ... and the command that arrived after it ran after it.
        assert acks.outcome(13) == (event.EVENT_OUTCOME_INVALID, "unknown parameter RTL_ALT")
        assert acks.acks[13][1] > acks.acks[12][1]
        assert executor.counters["preempted"] == 2


async def test_a_second_command_of_the_same_kind_is_busy(autojump_clock: object) -> None:
    async with adapter_with(MuteAutopilot()) as adapter:
        assert await adapter.wait_connected()
        executor = CommandExecutor(adapter)
        async with trio.open_nursery() as nursery:
            acks = Acks(executor, nursery)
            acks.submit(events.param_update(b"FENCE_ENABLE", 1, INT8, seq=20))
            await trio.sleep(0.5)
            acks.submit(events.param_update(b"FENCE_ENABLE", 0, INT8, seq=21))
        assert acks.outcome(21) == (event.EVENT_OUTCOME_BUSY, "same command running")
        assert acks.acks[21][1] < acks.acks[20][1]
        assert acks.outcome(20)[0] == event.EVENT_OUTCOME_INVALID  # unknown to a mute FC


async def test_a_later_abort_replaces_an_earlier_one(autojump_clock: object) -> None:
    async with adapter_with(MuteAutopilot()) as adapter:
        assert await adapter.wait_connected()
        executor = CommandExecutor(adapter)
        async with trio.open_nursery() as nursery:
            acks = Acks(executor, nursery)
            acks.submit(events.abort(event.EVENT_ABORT_ACTION_RTL, seq=30))
            await trio.sleep(1.0)
            acks.submit(events.abort(event.EVENT_ABORT_ACTION_LAND, seq=31))
        assert acks.outcome(30) == (event.EVENT_OUTCOME_FAILED, "preempted by abort")
        assert acks.outcome(31) == (event.EVENT_OUTCOME_TIMEOUT, "mode LAND: no COMMAND_ACK")


async def test_invalid_commands_are_answered_without_the_autopilot(autojump_clock: object) -> None:
    async with adapter_with(None) as adapter:
        executor = CommandExecutor(adapter)
        bad = [
            events.assign([], seq=40),
            events.assign(route(3), item_count=5, seq=41),
            events.abort(9, seq=42),
            events.reposition(0, 0, 100, seq=43),
            events.jump(2, seq=44),
            events.param_update(b"fence_enable", 1, INT8, seq=45),
        ]
        start = trio.current_time()
        acks = [await answer(executor, bundle) for bundle in bad]
        assert trio.current_time() == start  # nothing waited for the (absent) autopilot
        assert [(ack.seq, ack.outcome) for ack in acks] == [
            (seq, event.EVENT_OUTCOME_INVALID) for seq in range(40, 46)
        ]
        assert [ack.reason for ack in acks] == [
            "empty mission",
            "3 items for item_count 5",
            "unknown abort action 9",
            "no position (0, 0)",
            "no mission assigned to jump in",
            "bad parameter name 'fence_enable'",
        ]
        assert executor.counters["invalid_input"] == 6
        assert executor.outcomes == {event.EVENT_OUTCOME_INVALID: 6}
        assert executor.last_outcome == event.EVENT_OUTCOME_INVALID


async def test_messages_that_are_not_commands_get_no_ack(autojump_clock: object) -> None:
    async with adapter_with(None) as adapter:
        executor = CommandExecutor(adapter)
        telemetry = event.MAVLink_event_heartbeat_message(0, 3, 0)
        assert await executor.execute([telemetry]) is None
        assert await executor.execute([]) is None
        assert executor.counters["not_a_command"] == 2


async def test_reposition_on_the_ground_fails_with_a_reason(autojump_clock: object) -> None:
    async with adapter_with(MuteAutopilot()) as adapter:
        assert await adapter.wait_connected()
        executor = CommandExecutor(adapter)
        ack = await answer(executor, events.reposition(HOME_LAT, HOME_LON, 300, seq=50))
        assert (ack.seq, ack.msg_type) == (50, event.EVENT_MSG_TYPE_RETASK)
        assert (ack.outcome, ack.reason) == (
            event.EVENT_OUTCOME_FAILED,
            "retask: vehicle is not flying",
        )
