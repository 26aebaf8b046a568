"""Outbox benchmark: committed enqueues per second, drain rate, and the seed's buffer.

Measures, in one run on this machine, on real files in a temporary directory:
- enqueue: 1, 8 and 64 concurrent trio producers, each awaiting its own committed
  `enqueue` of a 60-byte payload (the size of a sealed detection) under a key from
  `new_key`, as OutboxSync.submit makes one, fsync included;
- drain: `next_for` + `mark_in_flight` + `confirm` in batches of 16;
- the peer: the seed design's OfflineBuffer insert (connect per insert, pickle, commit),
  `buffer_rate` from ../shared/peers/seed_baseline.py when present, else the same code
  reproduced here; and the seed's insert run from 8 threads at once, the closest the
  seed comes to 8 concurrent producers. The ratio with 8 producers is the figure to read.

Each producer waits for its own commit, so 8 producers make groups of at most 8 and the
rate with 8 is bounded by 8 / (one commit + the thread round trip): on a disk whose fsync
takes 0.2 ms that is about 15x the seed; on an SD card, where fsync takes milliseconds and
the seed pays two per insert (rollback journal), the same code gains far more.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import trio

from companion.outbox import OutboxItem, new_key, open_outbox
from companion.reliability.priority import Priority

from . import seed
from .table import Row, render

PAYLOAD = bytes(60)
PER_RUN = 4000
SEED_TABLE = (
    "CREATE TABLE IF NOT EXISTS message_buffer (msg_id TEXT PRIMARY KEY, message_data BLOB,"
    " buffered_at REAL, priority INTEGER, sync_attempts INTEGER DEFAULT 0,"
    " synced BOOLEAN DEFAULT 0)"
)
"""The seed's OfflineBuffer table, as in seed_baseline.py."""


def seed_buffer_rate() -> Callable[[int], float]:
    """The seed's `buffer_rate(n)`: the peer file's own when present, else reproduced."""
    module = seed.load()
    if module is None:
        return reproduced_buffer_rate
    rate: Callable[[int], float] = module.buffer_rate
    return rate


@contextmanager
def seed_buffer() -> Iterator[str]:
    """The path of a fresh database holding the seed's buffer table, removed on leaving."""
    with tempfile.TemporaryDirectory(prefix="bench-seed-buffer-") as directory:
        path = os.path.join(directory, "offline_buffer.db")
        with closing(sqlite3.connect(path)) as conn:
            conn.execute(SEED_TABLE)
            conn.commit()
        yield path


def seed_insert(path: str, msg_id: str) -> None:
    """One message into the seed's buffer as its OfflineBuffer adds it: connect, pickle,
    insert, commit, close."""
    message = {"msg_id": msg_id, "msg_type": "detection", "payload": {"confidence": 0.9}}
    with closing(sqlite3.connect(path, timeout=30)) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO message_buffer VALUES (?,?,?,?,?,?)",
            (msg_id, pickle.dumps(message), time.time(), 1, 0, 0),
        )
        conn.commit()


def reproduced_buffer_rate(n: int) -> float:
    """The seed's `buffer_rate(n)` as seed_baseline.py has it: n inserts, one after another."""
    with seed_buffer() as path:
        start = time.perf_counter()
        for i in range(n):
            seed_insert(path, f"m{i}")
        return n / (time.perf_counter() - start)


def seed_concurrent_rate(threads: int, n: int) -> float:
    """The seed's insert from `threads` threads at once: the seed's buffer measured the same
    way as ours with concurrent producers."""
    per_thread = n // threads

    def produce(path: str, thread: int) -> None:
        for i in range(per_thread):
            seed_insert(path, f"{thread}:{i}")

    with seed_buffer() as path:
        workers = [threading.Thread(target=produce, args=(path, t)) for t in range(threads)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - start
        with closing(sqlite3.connect(path)) as conn:
            stored = int(conn.execute("SELECT COUNT(*) FROM message_buffer").fetchone()[0])
    if stored != per_thread * threads:
        raise RuntimeError(f"the seed's buffer holds {stored} of {per_thread * threads} inserts")
    return stored / elapsed


async def enqueue_rate(path: Path, producers: int, n: int) -> tuple[float, float]:
    """Committed enqueues per second with `producers` tasks; items per commit (fsync)."""
    async with open_outbox(path, max_messages=10 * n) as outbox:
        per_task = n // producers
        commits = outbox.commits
        start = time.perf_counter()

        async def produce(task: int) -> None:
            for _ in range(per_task):
                await outbox.enqueue(
                    OutboxItem(
                        key=new_key(),
                        destination=task % 4,
                        priority=Priority.HIGH,
                        payload=PAYLOAD,
                        created=time.time(),
                    )
                )

        async with trio.open_nursery() as nursery:
            for task in range(producers):
                nursery.start_soon(produce, task)
        done = per_task * producers
        return done / (time.perf_counter() - start), done / max(1, outbox.commits - commits)


async def drain_rate(path: Path) -> float:
    """Messages per second through next_for + mark_in_flight + confirm, 16 at a time."""
    async with open_outbox(path, max_messages=1_000_000) as outbox:
        depth = (await outbox.stats()).depth
        start = time.perf_counter()
        for destination in range(4):
            while batch := await outbox.next_for(destination, 16):
                ids = [message.id for message in batch]
                await outbox.mark_in_flight(ids)
                await outbox.confirm(ids)
        return depth / (time.perf_counter() - start)


async def measure(directory: Path, per_run: int) -> dict[str, float]:
    """Enqueue rates (and items per commit) with 1, 8 and 64 producers into one outbox
    file, then its drain."""
    figures: dict[str, float] = {}
    path = directory / "outbox.db"
    for producers in (1, 8, 64):
        rate, per_commit = await enqueue_rate(path, producers, per_run)
        figures[f"enqueue x{producers}"] = rate
        figures[f"per commit x{producers}"] = per_commit
    figures["drain"] = await drain_rate(path)
    return figures


def rows(*, quick: bool = False) -> list[Row]:
    """Committed enqueues with 1, 8 and 64 producers and the drain rate, beside the seed's
    buffer insert (sequential for x1, from 8 threads for x8 and x64)."""
    with tempfile.TemporaryDirectory() as directory:
        figures = trio.run(measure, Path(directory), 800 if quick else PER_RUN)
    seed1 = seed_buffer_rate()(200 if quick else 1000)
    seed8 = seed_concurrent_rate(8, 200 if quick else 1000)
    return [
        Row(
            "outbox",
            "committed enqueues, 1 producer",
            figures["enqueue x1"],
            "msg/s",
            seed1,
            note=f"peer: seed design's buffer insert; {figures['per commit x1']:.1f} per fsync",
        ),
        Row(
            "outbox",
            "committed enqueues, 8 producers",
            figures["enqueue x8"],
            "msg/s",
            seed8,
            note=f"peer: seed's insert, 8 threads; {figures['per commit x8']:.1f} per fsync",
        ),
        Row(
            "outbox",
            "committed enqueues, 64 producers",
            figures["enqueue x64"],
            "msg/s",
            seed8,
            note=f"peer: seed's insert, 8 threads; {figures['per commit x64']:.1f} per fsync",
        ),
        Row("outbox", "drain (take, mark, confirm)", figures["drain"], "msg/s"),
    ]


if __name__ == "__main__":
    print(render(rows()))
