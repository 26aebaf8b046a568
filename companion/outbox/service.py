"""The outbox under trio: one worker thread owns the SQLite connection; group commit.

Rules:
- Threading: one plain `threading.Thread` opens the Store and runs every call on it,
  taken from a `queue.SimpleQueue` in order. sqlite3 connections belong to the thread that
  made them, and `trio.to_thread` may pick a different cached thread per call, so a
  dedicated thread is the simple correct owner. Results come back through
  `TrioToken.run_sync_soon`, which never blocks the worker.
- Group commit: `enqueue` hands its item to one flusher task, which ships a batch to the
  worker as one transaction and one fsync. A batch closes when it holds `batch_size`
  items, `batch_wait` seconds after its first item, or as soon as a scheduler pass brings
  no newcomer (a lone producer never waits for company). Items arriving while a batch is
  being written form the next one.
- `enqueue` returns only once its own row is committed. The producer parks without an
  Event (`wait_task_rescheduled`, as trio's own primitives do) and cannot be cancelled
  while parked: it never walks away not knowing (keys are idempotent anyway). The flusher
  wakes it with its own outcome.
- A batch refused as a whole (full outbox or disk) is retried item by item, so each
  producer gets its own answer and one refusal does not sink its neighbours.
- Leaving the context flushes what was accepted, then stops and joins the worker;
  anything still queued is answered with OutboxClosed.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import outcome
import trio

from .errors import OutboxError, OutboxFull
from .records import OutboxItem, OutboxStats, StoredMessage
from .store import Store

T = TypeVar("T")
Job = Callable[[Store], object]


class OutboxClosed(OutboxError):
    """The outbox was closed before this item could be written."""


def _uncancellable(_: object) -> trio.lowlevel.Abort:
    """A producer's wait for its commit cannot be cancelled: it must learn the outcome."""
    return trio.lowlevel.Abort.FAILED


def _answer(task: trio.lowlevel.Task, result: outcome.Outcome[int]) -> None:
    """Wake a producer parked in `Outbox.enqueue` with its own result."""
    trio.lowlevel.reschedule(task, result)


class Outbox:
    """Async face of a Store: build it with `open_outbox`."""

    def __init__(self, *, batch_size: int, batch_wait: float, clock: Callable[[], float]):
        self._jobs: queue.SimpleQueue[tuple[Job, Callable[[outcome.Outcome[object]], None]] | None]
        self._jobs = queue.SimpleQueue()
        self._store: Store | None = None
        self._stopped = False
        self._token = trio.lowlevel.current_trio_token()
        self._batch_size = batch_size
        self._batch_wait = batch_wait
        self._clock = clock
        send, receive = trio.open_memory_channel[tuple[OutboxItem, trio.lowlevel.Task]](math.inf)
        self._send, self._receive = send, receive

    @property
    def commits(self) -> int:
        """Write transactions committed so far (each one fsync)."""
        return 0 if self._store is None else self._store.commits

    async def _start(self, open_store: Callable[[], Store]) -> threading.Thread:
        """Start the worker thread and wait until it has opened the store (or failed)."""
        opened = trio.Event()
        box: list[outcome.Outcome[Store]] = []

        def serve() -> None:
            box.append(outcome.capture(open_store))
            self._token.run_sync_soon(opened.set)
            if isinstance(box[0], outcome.Value):
                self._serve(box[0].value)

        worker = threading.Thread(target=serve, name="outbox worker", daemon=True)
        worker.start()
        with trio.CancelScope(shield=True):
            await opened.wait()
        if isinstance(box[0], outcome.Error):
            await trio.to_thread.run_sync(worker.join)
        self._store = box[0].unwrap()
        return worker

    def _serve(self, store: Store) -> None:
        """The worker thread's loop: run jobs in order until the None sentinel."""
        try:
            while (entry := self._jobs.get()) is not None:
                job, finish = entry
                finish(outcome.capture(job, store))
        finally:
            store.close()

    async def _call(self, job: Callable[[Store], T]) -> T:
        """Run `job` on the worker thread and return its result (shielded wait)."""
        done = trio.Event()
        box: list[outcome.Outcome[object]] = []

        def finish(result: outcome.Outcome[object]) -> None:
            box.append(result)
            self._token.run_sync_soon(done.set)

        if self._stopped:
            raise OutboxClosed("outbox closed")
        self._jobs.put((job, finish))
        with trio.CancelScope(shield=True):
            await done.wait()
        return box[0].unwrap()  # type: ignore[return-value]

    async def enqueue(self, item: OutboxItem) -> int:
        """Store `item`; return its row id once the row is committed (group commit).

        Raises OutboxFull (or OutboxDiskFull) when refused, OutboxClosed after close.
        """
        try:
            self._send.send_nowait((item, trio.lowlevel.current_task()))
        except trio.ClosedResourceError:
            raise OutboxClosed("outbox closed") from None
        row_id: int = await trio.lowlevel.wait_task_rescheduled(_uncancellable)
        return row_id

    async def _flush_loop(self) -> None:
        """Collect batches from producers and commit each as one transaction."""
        try:
            async for first in self._receive:
                batch = [first]
                deadline = trio.current_time() + self._batch_wait
                while len(batch) < self._batch_size and trio.current_time() < deadline:
                    await trio.sleep(0)
                    if not self._take(batch):
                        break
                with trio.CancelScope(shield=True):
                    await self._commit(batch)
        finally:
            while True:
                try:
                    _answer(self._receive.receive_nowait()[1], self._closed())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break

    @staticmethod
    def _closed() -> outcome.Outcome[int]:
        return outcome.Error(OutboxClosed("outbox closed before this item was written"))

    def _take(self, batch: list[tuple[OutboxItem, trio.lowlevel.Task]]) -> int:
        """Move queued items into `batch` up to the batch size; how many came."""
        taken = 0
        while len(batch) < self._batch_size:
            try:
                batch.append(self._receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            taken += 1
        return taken

    async def _commit(self, batch: Sequence[tuple[OutboxItem, trio.lowlevel.Task]]) -> None:
        items = [item for item, _ in batch]
        now = self._clock()
        try:
            ids = await self._call(lambda store: store.enqueue_many(items, now))
        except OutboxFull:
            for item, task in batch:  # one answer per producer
                _answer(task, await outcome.acapture(self._call, self._single(item, now)))
            return
        except Exception as exc:  # the whole batch failed the same way: tell everyone
            for _, task in batch:
                _answer(task, outcome.Error(exc))
            return
        for (_, task), row_id in zip(batch, ids, strict=True):
            _answer(task, outcome.Value(row_id))

    @staticmethod
    def _single(item: OutboxItem, now: float) -> Callable[[Store], int]:
        return lambda store: store.enqueue_many([item], now)[0]

    async def next_for(self, destination: int, limit: int = 16) -> list[StoredMessage]:
        """Pending, unexpired messages for `destination`, by priority then age."""
        now = self._clock()
        return await self._call(lambda store: store.next_for(destination, now, limit))

    async def pending_destinations(self) -> list[int]:
        """Destinations with pending, unexpired messages."""
        now = self._clock()
        return await self._call(lambda store: store.pending_destinations(now))

    async def mark_in_flight(self, ids: Sequence[int]) -> int:
        """Mark rows as handed to the link."""
        return await self._call(lambda store: store.mark_in_flight(ids))

    async def confirm(self, ids: Sequence[int]) -> int:
        """Delete delivered rows (the only way a sent message leaves)."""
        return await self._call(lambda store: store.confirm(ids))

    async def release(self, ids: Sequence[int]) -> int:
        """Return in-flight rows to pending, one more attempt counted."""
        return await self._call(lambda store: store.release(ids))

    def now(self) -> float:
        """The outbox's clock: what rows' `created` and `expires` are measured on."""
        return self._clock()

    async def demote(self) -> int:
        """Rows kept beyond their priority's time to live, now past it, become LOW."""
        now = self._clock()
        return await self._call(lambda store: store.demote(now))

    async def expired_at_destination(self, ids: Sequence[int]) -> tuple[int, list[str]]:
        """Rows the destination answered EXPIRED: demoted if kept longer, else deleted."""
        return await self._call(lambda store: store.expired_at_destination(ids))

    async def expire(self) -> list[str]:
        """Delete rows past their time to live; their keys."""
        now = self._clock()
        return await self._call(lambda store: store.expire(now))

    async def pending(self) -> list[StoredMessage]:
        """Every pending row, in sending order (after open, that is every stored row)."""
        return await self._call(lambda store: store.pending())

    async def depth(self) -> int:
        """Messages stored, pending or in flight (kept by the store: no query)."""
        return await self._call(lambda store: store.depth)

    async def stats(self) -> OutboxStats:
        """Depth, oldest age and counters."""
        now = self._clock()
        return await self._call(lambda store: store.stats(now))


@asynccontextmanager
async def open_outbox(
    path: str | Path,
    *,
    max_messages: int = 10_000,
    max_bytes: int | None = None,
    validate: Callable[[bytes], bool] | None = None,
    batch_size: int = 64,
    batch_wait: float = 0.002,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Outbox]:
    """Open the outbox at `path` with its worker thread; in-flight rows go back to pending.

    `clock` gives `now` for creation and expiry: the node clock (`companion/node_clock.py`)
    in a node, which a wall-clock jump or a restart cannot move. Open errors (OutboxCorrupt,
    OutboxSchemaError, OutboxError) are raised here.
    """
    outbox = Outbox(batch_size=batch_size, batch_wait=batch_wait, clock=clock)
    worker = await outbox._start(
        lambda: Store.open(path, max_messages=max_messages, max_bytes=max_bytes, validate=validate)
    )
    try:
        await outbox._call(lambda store: store.release_all())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(outbox._flush_loop)
            try:
                yield outbox
            finally:
                outbox._send.close()
    finally:
        outbox._stopped = True
        outbox._jobs.put(None)
        await trio.to_thread.run_sync(worker.join)
