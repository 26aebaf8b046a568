"""The companion agent: one trio process wiring flight controller, detector, stack and radio.

    detector --UDP JSON lines--> Intake --> EVENT_DETECTION (+ chip as LOW bulk)
        --> OutboxSync (durable) --> NodeStack --> radio
    radio --> NodeStack --> commands --> Executor --> AutopilotAdapter --> flight controller
                                     <-- EVENT_ACK with the outcome <--
    AutopilotAdapter state --> EVENT_TELEMETRY / EVENT_STATUS (live, no ACK) --> radio

Rules:
- Everything ACK-required that the agent originates (detections, bulk) goes through the
  durable outbox: a power cut after `submit` returned loses nothing. The detector hears
  "stored" for a line only then (`intake.py`). Telemetry and status are live: the next
  one replaces a lost one.
- Commands execute one at a time, in arrival order, except that an abort cancels whatever
  command is running and goes first (`Executor`). The final outcome goes back in an
  EVENT_ACK, once; EVENT_STATUS repeats the last command's (sender, seq, outcome), so a
  sender whose final ACK was lost still learns it. A command interrupted by a restart is
  answered FAILED at the next start (`running.py`), never run again.
- Log lines are `key=value` pairs (logfmt) on stderr, one per event worth an operator's
  attention; counters are in `snapshot()`, also written to `state_dir/status.json` every
  status interval (`companion.status_file`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from dialects import event

from ..autopilot.adapter import AbortAction, AutopilotAdapter
from ..autopilot.executor import COMMAND_TYPES, CommandExecutor
from ..autopilot.identity import AutopilotIdentity
from ..autopilot.vehicle_state import LinkEvent
from ..node import Arrived
from ..outbox import OutboxFull
from ..outbox.sync import OutboxSync
from ..reliability.priority import Priority
from ..runtime import StackRuntime
from ..status_file import outbox_status, write_status
from ..transport.udp import open_udp_bind
from .bulk import bulk_parts
from .config import AgentConfig
from .detection import DetectionReport
from .intake import Intake, Refused
from .linkloss import Action, LinkLossPolicy
from .running import INTERRUPTED, RunningCommands
from .telemetry import AgentStatus, TelemetryClock, status, status_flags, telemetry

log = logging.getLogger("event.agent")
LINK_LOSS_ABORT = {Action.LOITER: AbortAction.HOLD, Action.RTL: AbortAction.RTL}


class Agent:
    """Build with `open_agent`; `run()` until cancelled."""

    def __init__(
        self,
        config: AgentConfig,
        runtime: StackRuntime,
        sync: OutboxSync,
        adapter: AutopilotAdapter,
        *,
        wall_clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.runtime = runtime
        self.sync = sync
        self.adapter = adapter
        self.identity = AutopilotIdentity(config.node_id, config.autopilot_id_mismatch)
        self.executor = CommandExecutor(adapter, gate=self.identity.refusal)
        self.intake = Intake()
        self.counters: Counter[str] = Counter()
        self.link_loss = LinkLossPolicy(config.link_loss_action, config.link_loss_timeout)
        self._wall = wall_clock
        self._started = trio.current_time()
        self._next_transfer = 1
        self._mission_id = 0
        self._last_outcome = event.EVENT_OUTCOME_ACCEPTED
        self._last_command = (0, 0)
        """(sender, seq) of the command `_last_outcome` belongs to, for EVENT_STATUS."""
        self._last_reason = ""
        self._nursery: trio.Nursery | None = None
        self.running, self._interrupted = RunningCommands.interrupted(
            config.state_dir / "running.json", runtime.node_clock or trio.current_time
        )
        self.detection_port: int | None = None
        """The UDP port the detector intake listens on, once it is bound."""

    @property
    def ground(self) -> int:
        return self.config.ground_station

    # -- run -----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.runtime.run)
            nursery.start_soon(self.sync.run)
            nursery.start_soon(self.adapter.run)
            self._nursery = nursery
            self._answer_interrupted()
            nursery.start_soon(self._report_loop)
            await nursery.start(self._intake_loop)
            log.info(
                "event=started node=%d radio=%s:%s autopilot=%s:%s detector_port=%s",
                self.config.node_id,
                self.config.radio.kind,
                self.config.radio.port,
                self.config.autopilot.kind,
                self.config.autopilot.port,
                self.detection_port,
            )
            task_status.started()

    def on_arrival(self, arrived: Arrived) -> None:
        """From the stack: each command gets a task; the executor puts them in turn."""
        head = arrived.messages[0]
        kind = COMMAND_TYPES.get(head.get_msgId())
        if kind is None or self._nursery is None:
            self.counters["ignored_inbound"] += 1
            return
        self.running.started((arrived.src, head.seq, kind))
        self._nursery.start_soon(self._execute, arrived)

    def _answer_interrupted(self) -> None:
        """Commands a restart interrupted: each sender hears FAILED, once, and the last
        one is what EVENT_STATUS repeats."""
        for src, seq, kind in self._interrupted:
            log.warning("event=command_interrupted src=%d seq=%d type=%d", src, seq, kind)
            ack = event.MAVLink_event_ack_message(
                seq, kind, event.EVENT_OUTCOME_FAILED, INTERRUPTED.encode()
            )
            self.runtime.send(src, ack)
            self.running.finished((src, seq, kind), event.EVENT_OUTCOME_FAILED, INTERRUPTED)
            self._last_outcome, self._last_command = event.EVENT_OUTCOME_FAILED, (src, seq)
            self._last_reason = INTERRUPTED
            self.counters["commands_interrupted"] += 1
        self._interrupted = []

    def _named_outcome(self) -> dict[str, Any]:
        """The command outcome this status report names: the final outcomes still being
        repeated take turns (a second way to the ground station, beside the repeated
        EVENT_ACKs), else the last command's."""
        pending = self.running.next_named()
        if pending is not None:
            src, seq, _, outcome, reason, *_ = pending
            return {
                "last_source": src,
                "last_seq": seq,
                "last_outcome": outcome,
                "last_reason": reason,
            }
        src, seq = self._last_command
        return {
            "last_source": src,
            "last_seq": seq,
            "last_outcome": self._last_outcome,
            "last_reason": self._last_reason,
        }

    def _repeat_outcomes(self) -> None:
        """Final outcomes go again with each status report, a few times (`running.py`)."""
        for src, seq, kind, outcome, reason, *_ in self.running.repeat():
            ack = event.MAVLink_event_ack_message(seq, kind, outcome, reason.encode("utf-8"))
            self.runtime.send(src, ack)
            self.counters["outcomes_repeated"] += 1

    def on_link_event(self, link: LinkEvent) -> None:
        """A change of the autopilot link (the adapter logs it, at a bounded rate)."""
        change = self.identity.observe(self.adapter.state.system_id)
        if change is None:
            return
        log.log(
            logging.INFO if change.matches else logging.WARNING,
            "event=autopilot_system_id system_id=%d previous=%s expected=%d matches=%s%s",
            change.system_id,
            change.previous,
            change.expected,
            change.matches,
            ""
            if change.matches
            else f" on_mismatch={self.identity.on_mismatch.value} advice={change.advice!r}",
        )

    async def _execute(self, arrived: Arrived) -> None:
        head = arrived.messages[0]
        ack = await self.executor.execute(arrived.messages)
        if ack is None:
            return
        self._last_outcome = ack.outcome
        self._last_command = (arrived.src, head.seq)
        if head.get_msgId() == event.MAVLINK_MSG_ID_EVENT_MISSION_ASSIGN and ack.outcome in (
            event.EVENT_OUTCOME_ACCEPTED,
            event.EVENT_OUTCOME_COMPLETED,
        ):
            self._mission_id = head.mission_id
        log.info(
            "event=command type=%s src=%d seq=%d outcome=%d reason=%r",
            head.get_type(),
            arrived.src,
            head.seq,
            ack.outcome,
            ack.reason,
        )
        self.runtime.send(arrived.src, ack, priority=Priority(arrived.priority))
        done = (arrived.src, head.seq, int(ack.msg_type))
        reason = (
            ack.reason.decode("utf-8", "replace") if isinstance(ack.reason, bytes) else ack.reason
        )
        self._last_reason = str(reason).rstrip("\x00")
        self.running.finished(done, int(ack.outcome), self._last_reason)

    # -- detections ----------------------------------------------------------------------

    async def _intake_loop(self, *, task_status: trio.TaskStatus[None]) -> None:
        detector = self.config.detector
        async with open_udp_bind(detector.host, detector.port) as intake:
            self.detection_port = intake.local_address[1]
            task_status.started()
            while True:
                data = await intake.receive()
                sender = intake.peer
                answers = self.intake.answers(len(data))
                for line in self.intake.lines(data, trio.current_time()):
                    answers.add(await self._store(line, len(data)), trio.current_time())
                if answers.data and sender is not None:
                    try:
                        await intake.send_to(answers.data, sender)
                    except OSError:
                        self.counters["intake_answers_unsent"] += 1

    async def _store(self, line: DetectionReport | Refused, size: int) -> DetectionReport | Refused:
        """A checked line's detection committed, or why not (the outbox had no room)."""
        if isinstance(line, Refused):
            return line
        try:
            await self.report_detection(line)
        except OutboxFull as exc:
            return self.intake.not_stored(f"outbox full: {exc}", size, trio.current_time())
        return line

    async def report_detection(self, report: DetectionReport) -> int:
        """Stamp `report` with the vehicle's position and time, store it, send it home.

        Returns once the detection (and its chip) is committed to the outbox; raises
        OutboxFull if the outbox has no room for it.
        """
        state = self.adapter.state
        chip_id = 0
        if report.chip is not None:
            chip_id = self._next_transfer
            self._next_transfer = self._next_transfer % 65535 + 1
            for header, chunks in bulk_parts(report.chip, chip_id, event.EVENT_MSG_TYPE_IMAGE):
                await self.sync.submit(
                    self.ground,
                    header,
                    priority=Priority.LOW,
                    attached=chunks,
                    keep_for=self.config.detection_keep_for,
                )
        taken = report.time if report.time is not None else self._wall()
        detection = event.MAVLink_event_detection_message(
            seq=0,
            time=int(taken * 1000),
            lat=round((state.lat or 0.0) * 1e7),
            lon=round((state.lon or 0.0) * 1e7),
            alt=max(-32768, min(32767, round(state.alt_amsl or 0.0))),
            track_id=report.track_id,
            bbox=list(report.bbox),
            chip_id=chip_id,
            class_id=report.class_id,
            confidence=round(report.confidence * 100),
        )
        row = await self.sync.submit(
            self.ground,
            detection,
            priority=report.priority,
            keep_for=self.config.detection_keep_for,
        )
        self.counters["detections"] += 1
        return row

    # -- telemetry, status, link loss ----------------------------------------------------

    async def _report_loop(self) -> None:
        reports = TelemetryClock(self.config.telemetry_interval)
        statuses = TelemetryClock(self.config.status_interval)
        while True:
            now = trio.current_time()
            self.intake.log_summary(now)
            routed = self.runtime.stack.router.next_hop(self.ground, now) is not None
            await self._apply_link_loss(now, routed)
            state = self.adapter.state
            flags = status_flags(state, routed=routed, failsafe=self.link_loss.lost)
            fleet_time = self.runtime.stack.fleet_time(self._wall())
            if reports.due(now):
                self.runtime.send(self.ground, telemetry(state, fleet_time, flags))
                self.counters["telemetry_sent"] += 1
            if statuses.due(now):
                depth = await self.sync.outbox.depth()
                report = AgentStatus(
                    uptime=now - self._started,
                    mission_id=self._mission_id,
                    outbox_depth=depth,
                    state=self._agent_state(),
                    gateway_hops=self._hops(),
                    **self._named_outcome(),
                )
                self.runtime.send(self.ground, status(report, fleet_time, flags))
                self.counters["status_sent"] += 1
                self._repeat_outcomes()
                outbox = outbox_status(await self.sync.outbox.stats())
                snapshot = {
                    "time": self._wall(),
                    "outbox_depth": depth,
                    "outbox": outbox,
                    **self.snapshot(),
                }
                await trio.to_thread.run_sync(write_status, self.status_path, snapshot)
            await trio.sleep(1.0)

    async def _apply_link_loss(self, now: float, routed: bool) -> None:
        state = self.adapter.state
        fired = self.link_loss.update(now, routed=routed, airborne=state.airborne, mode=state.mode)
        if fired is not None:
            log.warning(
                "event=link_loss action=%s silent=%.0f applied=%s mode=%s",
                fired.action.value,
                fired.silent,
                fired.applied,
                state.mode,
            )
            if fired.applied:
                result = await self.adapter.abort(LINK_LOSS_ABORT[fired.action])
                log.warning(
                    "event=link_loss_action outcome=%d reason=%r", result.outcome, result.reason
                )
        restored = self.link_loss.restored()
        if restored is not None:
            self.counters["link_losses"] += 1
            log.warning(
                "event=link_restored action=%s applied=%s lost_for=%.0f",
                restored.action.value,
                restored.applied,
                now - restored.at + restored.silent,
            )

    def _agent_state(self) -> int:
        state = self.adapter.state
        if not state.connected:
            chosen = event.EVENT_AGENT_STATE_NO_AUTOPILOT
        elif self.link_loss.lost:
            chosen = event.EVENT_AGENT_STATE_LINK_LOSS
        elif state.mode in ("RTL", "LAND"):
            chosen = event.EVENT_AGENT_STATE_RETURNING
        elif state.mode == "GUIDED" and state.airborne:
            chosen = event.EVENT_AGENT_STATE_RETASKED
        elif state.mode == "AUTO":
            chosen = event.EVENT_AGENT_STATE_MISSION
        else:
            chosen = event.EVENT_AGENT_STATE_IDLE
        return int(chosen)

    @property
    def status_path(self) -> Path:
        """Where the agent's counters are written every status interval (status.json)."""
        return self.config.state_dir / "status.json"

    def _hops(self) -> int:
        route = self.runtime.stack.router.routes.lookup(self.ground, trio.current_time())
        return 0 if route is None else route.hops

    def snapshot(self) -> dict[str, Any]:
        """Counters of every part, for logs and tests."""
        return {
            "agent": dict(self.counters),
            "autopilot": self.identity.status(),
            "autopilot_link": self.adapter.connection.status(),
            "intake": dict(self.intake.counters),
            "intake_refused_by": dict(self.intake.refused_by),
            "sync": dict(self.sync.counters),
            "stack": self.runtime.stack.status(),
            "signing": self.runtime.signing_status(),
            "node_clock": self.runtime.node_clock_status(),
        }
