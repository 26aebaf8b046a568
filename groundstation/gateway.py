"""The ground station: the mesh's gateway, relaying between the radio swarm and the cloud.

    radio --> NodeStack (gateway) --> arrivals --> FleetState
                                             \\--> Record --> uplink (durable) --> cloud
    cloud --> uplink --> Command --> OutboxSync (durable) --> NodeStack --> radio --> UAV
                     <-- "ack" Record <-- ACK events (ACCEPTED, then the final outcome)

Rules:
- A detection is acknowledged to its UAV only once its record is committed to the
  uplink outbox (the stack's `ack_after_commit`); a copy that comes while that commit
  runs is ignored (the UAV asks again), one that comes after is acknowledged at once.
- Every authenticated arrival becomes a cloud record (`groundstation.records`), except
  bulk parts, which become one record per complete transfer (image chips, logs) once
  `BulkAssembler` has every byte. Records go through the uplink's own durable outbox:
  publish returns once committed, so an internet outage only grows the backlog.
- Arrivals are queued (bounded) for the publisher tasks (several, so a burst shares the
  uplink outbox's group commits); if the uplink is full the record is counted as
  `uplink_refused` and logged, and the radio side goes on.
- A cloud command is checked (`commands.parse_command` did it), turned into dialect
  messages and submitted to the radio outbox keyed by its command id: a retried command
  with the same id is stored once. Each ACK from the UAV goes back to the cloud as an
  "ack" record naming the command (ACCEPTED when the UAV received it, then what
  executing it gave).
- A command the radio outbox gave up on (its time to live ended before the UAV
  acknowledged it: out of reach, switched off, not in the fleet) goes back as EXPIRED.
- A final outcome is written in the ledger before its record is queued, and the command
  is forgotten only once that record is committed to the uplink outbox; `resume`
  reports again what a stop or crash left uncommitted (an expiry, decided here, is
  repeated by nobody else).
- Which commands wait for an outcome, and under which (UAV, seq) they went, is kept on
  disk (`awaiting.py`): the radio outbox lets go of a command at the UAV's ACCEPTED, but
  its final outcome may come after a restart of this station, as an ACK for a seq this
  run never sent (the stack reports those) or in the UAV's status. `resume` also takes
  the commands still in the radio outbox (every row there is a command keyed by its id).
- The gateway never invents outcomes for the UAV: it reports what came back, from the
  EVENT_ACKs or, when the final ACK was lost, from the UAV's EVENT_STATUS naming its
  last command (sender, seq), outcome and reason. The record id is the same either way
  and the cloud keeps the first copy, so the recovered record must carry the reason: a
  later ACK with it would be a duplicate.
"""

from __future__ import annotations

import base64
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from companion.agent.bulk import BulkAssembler
from companion.node import Arrived
from companion.outbox import OutboxFull
from companion.outbox.sync import OutboxSync
from companion.reliability.events import Acknowledged, Event
from companion.reliability.priority import Priority
from companion.runtime import StackRuntime
from dialects import event

from .awaiting import AwaitingOutcomes
from .commands import Command, to_messages
from .fleet import FleetState
from .records import Record, RecordError, command_outcome_record, record_from_message
from .uplink.base import Uplink

log = logging.getLogger("event.groundstation")
QUEUE = 4096
PUBLISHERS = 8
"""Concurrent publishers: records committed in groups of up to this many."""


@dataclass(frozen=True, slots=True)
class Queued:
    """A record for the uplink, what to do once it is committed, and what if it is not."""

    record: Record
    committed: Callable[[], None] | None = None
    refused: Callable[[], None] | None = None


BULK_NAMES = {event.EVENT_MSG_TYPE_IMAGE: "image", event.EVENT_MSG_TYPE_LOG: "log"}


class Gateway:
    """Wires one node stack, its radio outbox sync and one cloud uplink."""

    def __init__(
        self,
        runtime: StackRuntime,
        sync: OutboxSync,
        *,
        wall_clock: Callable[[], float],
        awaiting: AwaitingOutcomes | None = None,
        queue: int = QUEUE,
    ) -> None:
        self.runtime = runtime
        self.sync = sync
        self.uplink: Uplink | None = None
        self.fleet = FleetState()
        self.bulk = BulkAssembler()
        self.counters: Counter[str] = Counter()
        self._wall = wall_clock
        self.awaiting = awaiting if awaiting is not None else AwaitingOutcomes()
        """Commands stored and not yet final, with each (UAV, seq) they went as; on disk."""
        self._records, self._record_inbox = trio.open_memory_channel[Queued](queue)
        self._committing: set[tuple[int, int]] = set()
        self._committed: OrderedDict[tuple[int, int], None] = OrderedDict()
        """(UAV, seq) of detections whose records are committed, for their copies' ACKs."""
        sync.on_handed = self._handed
        sync.on_expired = self._expired

    @property
    def node_id(self) -> int:
        return self.runtime.stack.node_id

    # -- radio to cloud ------------------------------------------------------------------

    def on_arrival(self, arrived: Arrived) -> None:
        head = arrived.messages[0]
        if not arrived.repeat:
            self.fleet.heard(arrived.src, head, trio.current_time())
        self.counters["arrived_again" if arrived.repeat else "arrived"] += 1
        if head.get_msgId() == event.MAVLINK_MSG_ID_EVENT_BULK_HEADER:
            self._bulk(arrived)
            return
        if head.get_msgId() == event.MAVLINK_MSG_ID_EVENT_STATUS:
            self._outcome_from_status(arrived.src, head)
        try:
            record = record_from_message(
                arrived.src,
                head,
                arrived.priority,
                gateway=self.node_id,
                received=self._wall(),
            )
        except RecordError as exc:
            self.counters["not_for_cloud"] += 1
            log.info(
                "event=not_forwarded src=%d type=%s reason=%r",
                arrived.src,
                head.get_type(),
                str(exc),
            )
            return
        if arrived.ack is None:
            self._queue(Queued(record))
        elif self._commit_once(arrived):
            key = (arrived.src, head.seq)
            # Not committed: the UAV's next copy tries again.
            let_go = lambda: self._committing.discard(key)  # noqa: E731
            self._queue(Queued(record, lambda: self._acknowledge(arrived), let_go))

    def _commit_once(self, arrived: Arrived) -> bool:
        """Whether this copy's record must be committed: not if an earlier copy's was (it
        is acknowledged at once) or is being committed (the UAV will ask again)."""
        key = (arrived.src, arrived.messages[0].seq)
        if key in self._committed:
            self.runtime.acknowledge(arrived)
            return False
        if key in self._committing:
            return False
        self._committing.add(key)
        return True

    def _bulk(self, arrived: Arrived) -> None:
        completed = self.bulk.receive(arrived.src, arrived.messages)
        if completed is None:
            return
        kind = BULK_NAMES.get(completed.kind, "bulk")
        self._queue(
            Queued(
                Record(
                    msg_id=f"{completed.src}-{kind}-{completed.transfer_id}-{len(completed.data)}",
                    msg_type=kind,
                    source=f"uav-{completed.src}",
                    destination="command",
                    priority=int(Priority.LOW),
                    timestamp=self._wall(),
                    payload={
                        "transfer_id": completed.transfer_id,
                        "size": len(completed.data),
                        "data_base64": base64.b64encode(completed.data).decode("ascii"),
                    },
                )
            )
        )

    def _queue(self, queued: Queued) -> None:
        """For the publishers: `queued.committed` runs once the record is in the uplink's
        outbox (durable before acknowledged or forgotten), `queued.refused` if it never
        gets there."""
        try:
            self._records.send_nowait(queued)
        except trio.WouldBlock:
            self.counters["uplink_queue_full"] += 1
            log.warning("event=uplink_queue_full msg_id=%s", queued.record.msg_id)
            if queued.refused is not None:
                queued.refused()

    async def publish_loop(self, publishers: int = PUBLISHERS) -> None:
        """Hand queued records to the uplink: `publishers` tasks, each awaiting its own
        committed write, so a burst shares the outbox's group commits."""
        async with trio.open_nursery() as nursery:
            for _ in range(publishers):
                nursery.start_soon(self._publisher)

    async def _publisher(self) -> None:
        async for queued in self._record_inbox:
            assert self.uplink is not None
            record = queued.record
            try:
                await self.uplink.publish(record)
            except (OutboxFull, RecordError) as exc:
                self.counters["uplink_refused"] += 1
                log.warning("event=uplink_refused msg_id=%s reason=%r", record.msg_id, str(exc))
                if queued.refused is not None:
                    queued.refused()
            else:
                self.counters["published"] += 1
                if queued.committed is not None:
                    queued.committed()

    def _acknowledge(self, committed: Arrived) -> None:
        key = (committed.src, committed.messages[0].seq)
        self._committing.discard(key)
        self._committed[key] = None
        while len(self._committed) > QUEUE:
            self._committed.popitem(last=False)
        self.runtime.acknowledge(committed)

    # -- cloud to radio ------------------------------------------------------------------

    async def resume(self) -> int:
        """Take up the commands an earlier run stored and the UAVs have not answered (call
        before the sync runs); how many."""
        for row in await self.sync.outbox.pending():
            self.awaiting.stored(row.key, row.destination)
        for command_id, _, (outcome, reason) in self.awaiting.ended():
            self._report_outcome(command_id, outcome, reason)  # not committed last time
        return len(self.awaiting)

    async def on_command(self, command: Command) -> None:
        """A valid command from the cloud: store it for its UAV's radio outbox."""
        head, attached = to_messages(command)
        self.awaiting.stored(command.command_id, command.uav)
        await self.sync.submit(
            command.uav, head, attached=attached, key=command.command_id, held=command.waited
        )
        self.counters["commands"] += 1
        log.info(
            "event=command_queued command_id=%s uav=%d type=%s",
            command.command_id,
            command.uav,
            command.type,
        )

    def _expired(self, keys: list[str]) -> None:
        """Commands whose radio time to live ended unacknowledged: the UAV never had them
        (out of reach, switched off, unknown); the cloud hears EXPIRED."""
        for key in keys:
            uav = self.awaiting.uav(key)
            if uav is None:
                continue
            self.counters["commands_expired"] += 1
            log.warning("event=command_expired command_id=%s uav=%d", key, uav)
            self._report_outcome(
                key, event.EVENT_OUTCOME_EXPIRED, "not delivered to the UAV in time"
            )

    def _handed(self, key: str, dst: int, seq: int) -> None:
        self.awaiting.handed(key, dst, seq)

    def _outcome_from_status(self, src: int, status: Any) -> None:
        """A UAV's status names its last command's outcome and reason: report them if its
        final ACK never came (the record id is the same either way, so the cloud sees it
        once)."""
        if status.last_source != self.node_id or not status.last_seq:
            return
        if status.last_outcome == event.EVENT_OUTCOME_ACCEPTED:
            return
        command_id = self.awaiting.command_of(src, status.last_seq)
        if command_id is None:
            return
        self.counters["outcomes_from_status"] += 1
        self._report_outcome(command_id, status.last_outcome, status.last_reason)

    def on_event(self, reliability: Event) -> None:
        self.sync.on_event(reliability)
        if not isinstance(reliability, Acknowledged):
            return
        command_id = self.awaiting.command_of(reliability.dst, reliability.seq)
        if command_id is None:
            return
        self._report_outcome(command_id, reliability.outcome, reliability.reason)

    def _report_outcome(self, command_id: str, outcome: int, reason: str) -> None:
        """An "ack" record for the cloud. A final outcome is written down first and the
        command forgotten only once its record is committed (`awaiting.py`)."""
        uav = self.awaiting.uav(command_id)
        if uav is None:
            return
        record = command_outcome_record(
            command_id, uav, outcome, reason=reason, timestamp=self._wall()
        )
        if outcome == event.EVENT_OUTCOME_ACCEPTED:
            self._queue(Queued(record))
            return
        self.awaiting.ending(command_id, outcome, reason)
        self._queue(Queued(record, lambda: self.awaiting.final(command_id)))

    # -- fleet view ----------------------------------------------------------------------

    def refresh_routes(self) -> None:
        """Copy the mesh's view of each UAV into the fleet table."""
        router = self.runtime.stack.router
        now = trio.current_time()

        def route_of(node: int) -> tuple[int, int] | None:
            route = router.routes.lookup(node, now)
            return None if route is None else (route.next_hop, route.hops)

        def cost_of(node: int) -> int | None:
            return router.neighbors.cost(node) if router.neighbors.usable(node) else None

        self.fleet.routes(route_of, cost_of)

    def snapshot(self) -> dict[str, Any]:
        return {
            "gateway": dict(self.counters),
            "sync": dict(self.sync.counters),
            "stack": self.runtime.stack.status(),
            "bulk": dict(self.bulk.counters),
            "uplink": {} if self.uplink is None else self.uplink.stats(),
            "node_clock": self.runtime.node_clock_status(),
        }
