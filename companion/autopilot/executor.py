"""EVENT commands, as they arrive at the agent, executed on the autopilot one at a time.

`CommandExecutor.execute(bundle)` takes one arrived command (EVENT_MISSION_ASSIGN with
its EVENT_MISSION_ITEMS, EVENT_MISSION_ABORT, EVENT_RETASK or EVENT_PARAM_UPDATE),
checks it (validation.py), runs it on the `AutopilotAdapter` and returns the EVENT_ACK
to send back: the command's seq and type, the outcome and a reason.

Rules:
- Call `execute` from its own task for each command (the agent starts one per arrived
  bundle): commands then run one at a time, in arrival order, here.
- An abort preempts: the running command is cancelled at once (its ACK says FAILED
  "preempted by abort"), commands that arrived before the abort and still wait are
  dropped the same way (they were meant for the flight the abort ends), and the abort
  runs next, ahead of anything else waiting. An abort never waits behind an upload.
- A command of the same kind as one running or waiting is answered BUSY, except an
  abort, which always preempts (a later abort may change RTL into LAND).
- Invalid input is answered INVALID before it waits for its turn, and counted.
- While `gate` gives a result (the agent refusing an autopilot that is not its UAV's,
  identity.py), every command, an abort too, is answered with it at once, and counted.
- EVENT item i is autopilot item i + offset of the last mission this executor uploaded;
  a JUMP needs that mission.
- A mission the vehicle's kind cannot fly (vehicle_kind.py: a rover told to take off, a
  start on a sub) is answered before anything is uploaded: UNSUPPORTED with a reason.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import trio

from dialects import event

from .adapter import NO_AUTOPILOT, AutopilotAdapter
from .result import Result, failed, invalid
from .validation import (
    MAX_MISSION_ITEMS,
    MissionPlan,
    abort_action,
    mission_plan,
    param_update,
    reposition_target,
)
from .vehicle_kind import fit_mission

logger = logging.getLogger(__name__)

COMMAND_TYPES: dict[int, int] = {
    event.MAVLINK_MSG_ID_EVENT_MISSION_ASSIGN: event.EVENT_MSG_TYPE_MISSION_ASSIGN,
    event.MAVLINK_MSG_ID_EVENT_MISSION_ABORT: event.EVENT_MSG_TYPE_MISSION_ABORT,
    event.MAVLINK_MSG_ID_EVENT_RETASK: event.EVENT_MSG_TYPE_RETASK,
    event.MAVLINK_MSG_ID_EVENT_PARAM_UPDATE: event.EVENT_MSG_TYPE_PARAM_UPDATE,
}
"""The messages this executor runs, and the EVENT_MSG_TYPE their ACK names."""

PREEMPTED = "preempted by abort"

Call = Callable[[], Awaitable[Result]]


@dataclass(frozen=True, slots=True)
class CurrentMission:
    """The mission this executor last uploaded and verified."""

    mission_id: int
    offset: int
    items: int


class CommandExecutor:
    """Runs EVENT commands on one autopilot adapter and answers each with an EVENT_ACK."""

    def __init__(
        self,
        adapter: AutopilotAdapter,
        *,
        max_items: int = MAX_MISSION_ITEMS,
        gate: Callable[[], Result | None] = lambda: None,
    ) -> None:
        self.adapter = adapter
        self.gate = gate
        self.max_items = max_items
        self.mission: CurrentMission | None = None
        self.last_outcome: int | None = None
        """Outcome of the last command answered (EVENT_STATUS.last_outcome)."""
        self.outcomes: Counter[int] = Counter()
        """ACKs sent, by EVENT_OUTCOME."""
        self.counters: Counter[str] = Counter()
        """invalid_input, busy, preempted, not_a_command, refused."""
        self._running: trio.CancelScope | None = None
        """The running command's scope; None while no command runs."""
        self._pending: Counter[tuple[int, int]] = Counter()
        """(kind, aborts seen on arrival) of each command running or waiting."""
        self._aborts = 0
        """Aborts arrived so far: a waiting command that sees this change was preempted."""
        self._aborts_waiting = 0
        self._changed = trio.Event()

    async def execute(self, bundle: Sequence[Any]) -> Any | None:
        """The EVENT_ACK for one arrived command bundle; None if it is not a command."""
        head = bundle[0] if bundle else None
        kind = None if head is None else COMMAND_TYPES.get(head.get_msgId())
        if head is None or kind is None:
            self.counters["not_a_command"] += 1
            return None
        refused = self.gate()
        if refused is not None:
            self.counters["refused"] += 1
            return self._ack(head, kind, refused)
        abort = kind == event.EVENT_MSG_TYPE_MISSION_ABORT
        if not abort and self._pending[kind, self._aborts]:
            self.counters["busy"] += 1
            return self._ack(head, kind, Result(event.EVENT_OUTCOME_BUSY, "same command running"))
        call = self._prepare(head, bundle)
        if isinstance(call, Result):
            self.counters["invalid_input"] += 1
            return self._ack(head, kind, call)
        if abort:
            self._preempt()
        entry = (kind, self._aborts)
        self._pending[entry] += 1
        try:
            result = await self._in_turn(call, abort=abort)
        finally:
            self._pending[entry] -= 1
            if not self._pending[entry]:
                del self._pending[entry]
        return self._ack(head, kind, result)

    # -- turns ---------------------------------------------------------------------------

    def _preempt(self) -> None:
        """An abort arrived: end the running command; the waiting ones see `_aborts` move."""
        self._aborts += 1
        if self._running is not None:
            self._running.cancel()

    async def _in_turn(self, call: Call, *, abort: bool) -> Result:
        if abort:
            self._aborts_waiting += 1
        aborts_seen = self._aborts
        try:
            while self._running is not None or (not abort and self._aborts_waiting):
                await self._changed.wait()
        finally:
            if abort:
                self._aborts_waiting -= 1
        if aborts_seen != self._aborts:
            self.counters["preempted"] += 1
            return failed(PREEMPTED)
        return await self._run(call)

    async def _run(self, call: Call) -> Result:
        try:
            with trio.CancelScope() as scope:
                self._running = scope
                return await call()
            self.counters["preempted"] += 1
            return failed(PREEMPTED)
        finally:
            self._running = None
            self._changed.set()
            self._changed = trio.Event()

    # -- commands ------------------------------------------------------------------------

    def _prepare(self, head: Any, bundle: Sequence[Any]) -> Call | Result:
        """Check a command; the call that executes it, or an INVALID result."""
        msgid = head.get_msgId()
        if msgid == event.MAVLINK_MSG_ID_EVENT_MISSION_ASSIGN:
            plan = mission_plan(bundle, self.max_items)
            return plan if isinstance(plan, Result) else lambda: self._assign(plan)
        if msgid == event.MAVLINK_MSG_ID_EVENT_MISSION_ABORT:
            return self._prepare_abort(head)
        if msgid == event.MAVLINK_MSG_ID_EVENT_RETASK:
            return self._prepare_retask(head)
        update = param_update(head)
        if isinstance(update, Result):
            return update
        name, value, param_type = update
        return lambda: self.adapter.set_param(name, value, param_type)

    async def _assign(self, plan: MissionPlan) -> Result:
        # What the vehicle's kind cannot fly is refused before anything is uploaded
        # (vehicle_kind.py), so the mission it holds stays the one we know.
        adapter = self.adapter
        if not await adapter.wait_connected():
            return NO_AUTOPILOT
        state = adapter.state
        fitted = fit_mission(plan, state.vehicle_type, airborne=state.airborne)
        if isinstance(fitted, Result):
            return fitted
        plan = fitted
        self.mission = None
        result = await self.adapter.assign_mission(
            plan.items, start=plan.start, takeoff_alt=plan.takeoff_alt
        )
        if self.adapter.mission is not None:
            self.mission = CurrentMission(plan.mission_id, plan.offset, plan.event_items)
        return result

    def _prepare_abort(self, message: Any) -> Call | Result:
        action = abort_action(message)
        if isinstance(action, Result):
            return action
        mission = self.mission
        if message.mission_id and mission is not None and mission.mission_id != message.mission_id:
            return invalid(f"mission {message.mission_id} is not the current one")
        return lambda: self.adapter.abort(action)

    def _prepare_retask(self, message: Any) -> Call | Result:
        if message.mode == event.EVENT_RETASK_MODE_REPOSITION:
            target = reposition_target(message)
            if isinstance(target, Result):
                return target
            return lambda: self.adapter.retask(*target)
        if message.mode == event.EVENT_RETASK_MODE_JUMP:
            mission = self.mission
            if mission is None:
                return invalid("no mission assigned to jump in")
            if message.item >= mission.items:
                return invalid(f"no item {message.item} in a {mission.items}-item mission")
            return lambda: self.adapter.jump(message.item + mission.offset)
        return invalid(f"unknown retask mode {message.mode}")

    def _ack(self, head: Any, kind: int, result: Result) -> Any:
        self.last_outcome = result.outcome
        self.outcomes[result.outcome] += 1
        logger.info("%s %d: %s", head.get_type(), head.seq, result)
        return event.MAVLink_event_ack_message(
            head.seq, kind, result.outcome, result.reason.encode("utf-8")
        )
