"""The trio driver of a `NodeStack`: receive, transmit and timer loops, nothing more.

Rules (aioquic's asyncio/protocol.py is the model: send what the machine wants, re-arm
the timer, repeat):
- One task receives and feeds in what the radio gives: whole datagrams (UDP), or chunks
  of a byte stream cut anywhere (a serial radio), joined into frames, with a frame that
  stopped short given up after `IDLE_FLUSH` seconds of quiet; one transmits whatever the scheduler
  gives, one frame at a time, awaiting the transport (on a radio that takes airtime,
  so the node paces itself to the channel); one sleeps until the stack's next deadline.
- Before a frame leaves, the signing clock's and the seq counter's reservations are saved
  if they need to be (`reservation.py`), so a restart never reuses a signing timestamp
  nor a seq. The node clock (`node_clock.py`), when given, is checkpointed by its own
  task.
- Any input or timer may create work: the transmitter and the timer are woken after each.
- What the radio refused is logged within limits (`link/drop_report.py`): each reason at
  most once a minute, and a summary by reason every `SUMMARY_EVERY` seconds with drops.
- Delivery: given `on_arrival` / `on_event`, the runtime hands each arrived message and
  each reliability event to them once, as soon as the stack produces it, and keeps none.
  Without them the stack's `arrived` and `events` deques accumulate, for inspection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import trio

from .link.drop_report import SUMMARY_EVERY, DropReport
from .link.endpoint import IDLE_FLUSH
from .link.timestamp_store import TimestampStore
from .node import Arrived, NodeStack
from .node_clock import NodeClock
from .reliability.events import Event
from .reliability.seq_store import SeqStore
from .reservation import save_reservation
from .transport import Transport

log = logging.getLogger("event.radio")


class StackRuntime:
    """Runs one node's stack over one transport until cancelled."""

    def __init__(
        self,
        stack: NodeStack,
        transport: Transport,
        *,
        wall_clock: Callable[[], float] = time.time,
        store: TimestampStore | None = None,
        seq_store: SeqStore | None = None,
        node_clock: NodeClock | None = None,
        on_arrival: Callable[[Arrived], None] | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.stack = stack
        self.transport = transport
        self._wall = wall_clock
        self._store = store
        self._seq_store = seq_store
        self.node_clock = node_clock
        self.on_arrival = on_arrival
        self.on_event = on_event
        self._work = trio.Event()
        self.drop_report = DropReport(stack.link.drops, log)

    def send(self, dst: int, message: Any, **options: Any) -> int:
        """Hand an inner message to the stack (see `NodeStack.send`); returns its seq."""
        seq = self.stack.send(dst, message, trio.current_time(), self._wall(), **options)
        self._wake()
        return seq

    def acknowledge(self, arrived: Arrived) -> None:
        """Send the ACK of an arrival the application has committed (`NodeStack.acknowledge`)."""
        self.stack.acknowledge(arrived, trio.current_time(), self._wall())
        self._wake()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._receive_loop)
            nursery.start_soon(self._transmit_loop)
            nursery.start_soon(self._timer_loop)
            nursery.start_soon(self._drop_summary_loop)
            if self.node_clock is not None:
                nursery.start_soon(self.node_clock.run)

    def wall(self) -> float:
        """The wall clock this runtime gives its stack."""
        return self._wall()

    def signing_status(self) -> dict[str, Any]:
        """The signing clock, what loading its saved timestamp refused, and the seq
        counter (the link's frames and drops are in `NodeStack.status`)."""
        status: dict[str, Any] = {"clock": self.stack.clock.status()}
        if self._store is not None:
            status["saved_timestamp"] = self._store.status()
        status["seq"] = dict(self.stack.reliable.numbering.status())
        if self._seq_store is not None:
            status["seq"].update(self._seq_store.status())
        return status

    def node_clock_status(self) -> dict[str, Any]:
        """The node clock's reading and counters (checkpoints, wall clock gone back)."""
        return {} if self.node_clock is None else dict(self.node_clock.status())

    def _wake(self) -> None:
        self._deliver()
        self._work.set()
        self._work = trio.Event()

    def _deliver(self) -> None:
        if self.on_event is not None:
            while self.stack.events:
                self.on_event(self.stack.events.popleft())
        if self.on_arrival is not None:
            while self.stack.arrived:
                self.on_arrival(self.stack.arrived.popleft())

    async def _receive_loop(self) -> None:
        stream = not self.transport.is_datagram
        partial = False
        while True:
            if not partial:
                data = await self.transport.receive()
            else:  # the chunk may have ended inside a frame: wait a little for the rest
                with trio.move_on_after(IDLE_FLUSH) as idle:
                    data = await self.transport.receive()
                if idle.cancelled_caught:
                    self.stack.receive_idle(trio.current_time(), self._wall())
                    partial = False
                    self._after_input()
                    continue
            if stream:
                self.stack.receive_stream(data, trio.current_time(), self._wall())
                partial = True
            else:
                self.stack.receive_datagram(data, trio.current_time(), self._wall())
            self._after_input()

    def _after_input(self) -> None:
        self.drop_report.after_input(trio.current_time())
        self._wake()

    async def _transmit_loop(self) -> None:
        while True:
            frame = self.stack.next_frame(trio.current_time(), self._wall())
            if frame is None:
                await self._work.wait()
                continue
            await save_reservation(self.stack.clock, self._store)
            await save_reservation(self.stack.reliable.numbering, self._seq_store)
            await self.transport.send(frame)

    async def _timer_loop(self) -> None:
        while True:
            work = self._work
            with trio.move_on_at(self.stack.next_deadline()):
                await work.wait()
                continue
            self.stack.on_timer(trio.current_time(), self._wall())
            self._wake()

    async def _drop_summary_loop(self) -> None:
        while True:
            await trio.sleep(SUMMARY_EVERY)
            self.drop_report.summarise(SUMMARY_EVERY)
