"""The outbox under trio: one worker thread owns the SQLite connection; group commit.

Rules:
- Threading: one plain `threading.Thread` opens the Store and runs every call on it,
  taken from a `queue.SimpleQueue` in order. sqlite3 connections belong to the thread that
  made them, and `trio.to_thread` may pick a different cached thread per call, so a
  dedicated thread is the simple correct owner. Results come back through
  `TrioToken.run_sync_soon`, which never blocks the worker.
- Group commit, in the worker: `enqueue` puts its item straight on the worker's queue.
  The worker takes every write queued behind the first (up to `batch_size`) into one
  transaction and one fsync, and answers the whole batch with one `run_sync_soon`. Writes
  that arrive while a batch is being written form the next one. When fewer have come than
  the previous batch held (its producers are likely to come back), it waits up to
  `batch_wait` seconds for them; a lone producer never waits for company.
- Order: a write is never moved past a call queued before or after it (a call closes the
  batch in front of it).
- `enqueue` returns only once its own row is committed. The producer parks without an
  Event (`wait_task_rescheduled`, as trio's own primitives do) and cannot be cancelled
  while parked: it never walks away not knowing (keys are idempotent anyway).
- A batch refused as a whole (full outbox or disk) is retried item by item, so each
  producer gets its own answer and one refusal does not sink its neighbours.
- Leaving the context refuses new calls with OutboxClosed, writes everything queued before
  it, then stops and joins the worker.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import outcome
import trio

from .store import OutboxError, OutboxFull, OutboxItem, OutboxStats, Store, StoredMessage

T = TypeVar("T")


class OutboxClosed(OutboxError):
    """The outbox was closed before this item could be written."""


@dataclass(frozen=True, slots=True)
class _Write:
    """An enqueue waiting for its commit: the item, its producer and the time it came."""

    item: OutboxItem
    task: trio.lowlevel.Task
    now: float


@dataclass(frozen=True, slots=True)
class _Call:
    """Any other operation: run `job` on the store, hand its outcome to `finish`."""

    job: Callable[[Store], object]
    finish: Callable[[outcome.Outcome[object]], None]


_Entry = _Write | _Call | None
"""What the worker's queue carries; None stops the worker."""


def _uncancellable(_: object) -> trio.lowlevel.Abort:
    """A producer's wait for its commit cannot be cancelled: it must learn the outcome."""
    return trio.lowlevel.Abort.FAILED


def _answer(answers: Sequence[tuple[trio.lowlevel.Task, outcome.Outcome[int]]]) -> None:
    """Wake the producers parked in `Outbox.enqueue`, each with its own result."""
    for task, result in answers:
        trio.lowlevel.reschedule(task, result)


def _enqueue_one(store: Store, item: OutboxItem, now: float) -> int:
    return store.enqueue_many([item], now)[0]


class Outbox:
    """Async face of a Store: build it with `open_outbox`."""

    def __init__(self, *, batch_size: int, batch_wait: float, clock: Callable[[], float]):
        self._entries: queue.SimpleQueue[_Entry] = queue.SimpleQueue()
        self._store: Store | None = None
        self._stopped = False
        self._token = trio.lowlevel.current_trio_token()
        self._batch_size = batch_size
        self._batch_wait = batch_wait
        self._expected = 1
        """Writes the last batch held: how many to wait for before closing the next."""
        self._clock = clock

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
        """The worker thread's loop: calls in order, writes in batches, until None."""
        try:
            carried: list[_Entry] = []
            while (entry := carried.pop() if carried else self._entries.get()) is not None:
                if isinstance(entry, _Call):
                    entry.finish(outcome.capture(entry.job, store))
                    continue
                batch, carried = self._gather(entry)
                self._token.run_sync_soon(_answer, self._write(store, batch))
        finally:
            store.close()

    def _gather(self, first: _Write) -> tuple[list[_Write], list[_Entry]]:
        """`first` and the writes queued behind it; the entry that ended the batch, if any.

        Waits up to `batch_wait` while fewer than the last batch's count have come.
        """
        batch = [first]
        deadline = time.monotonic() + self._batch_wait
        while len(batch) < self._batch_size:
            try:
                entry = self._entries.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if len(batch) >= self._expected or remaining <= 0:
                    break
                try:
                    entry = self._entries.get(timeout=remaining)
                except queue.Empty:
                    break
            if not isinstance(entry, _Write):
                return batch, [entry]
            batch.append(entry)
        return batch, []

    def _write(
        self, store: Store, batch: Sequence[_Write]
    ) -> list[tuple[trio.lowlevel.Task, outcome.Outcome[int]]]:
        """Commit `batch` as one transaction; each producer's outcome."""
        self._expected = len(batch)
        items = [write.item for write in batch]
        now = max(write.now for write in batch)
        results: list[outcome.Outcome[int]]
        try:
            results = [outcome.Value(row) for row in store.enqueue_many(items, now)]
        except OutboxFull:  # one answer per producer: a refusal does not sink its neighbours
            results = [outcome.capture(_enqueue_one, store, item, now) for item in items]
        except Exception as exc:  # the whole batch failed the same way: tell everyone
            results = [outcome.Error(exc) for _ in batch]
        return [(write.task, result) for write, result in zip(batch, results, strict=True)]

    async def _call(self, job: Callable[[Store], T]) -> T:
        """Run `job` on the worker thread and return its result (shielded wait)."""
        done = trio.Event()
        box: list[outcome.Outcome[object]] = []

        def finish(result: outcome.Outcome[object]) -> None:
            box.append(result)
            self._token.run_sync_soon(done.set)

        if self._stopped:
            raise OutboxClosed("outbox closed")
        self._entries.put(_Call(job, finish))
        with trio.CancelScope(shield=True):
            await done.wait()
        return box[0].unwrap()  # type: ignore[return-value]

    async def enqueue(self, item: OutboxItem) -> int:
        """Store `item`; return its row id once the row is committed (group commit).

        Raises OutboxFull (or OutboxDiskFull) when refused, OutboxClosed after close.
        """
        if self._stopped:
            raise OutboxClosed("outbox closed")
        self._entries.put(_Write(item, trio.lowlevel.current_task(), self._clock()))
        row_id: int = await trio.lowlevel.wait_task_rescheduled(_uncancellable)
        return row_id

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

    async def expire(self) -> list[str]:
        """Delete rows past their time to live; their keys."""
        now = self._clock()
        return await self._call(lambda store: store.expire(now))

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

    `clock` is the wall clock used for `now` (creation, expiry). Open errors (OutboxCorrupt,
    OutboxSchemaError, OutboxError) are raised here.
    """
    outbox = Outbox(batch_size=batch_size, batch_wait=batch_wait, clock=clock)
    worker = await outbox._start(
        lambda: Store.open(path, max_messages=max_messages, max_bytes=max_bytes, validate=validate)
    )
    try:
        await outbox._call(lambda store: store.release_all())
        yield outbox
    finally:
        outbox._stopped = True
        outbox._entries.put(None)
        await trio.to_thread.run_sync(worker.join)
