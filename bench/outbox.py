"""Outbox benchmark: committed enqueues per second, drain rate, and the seed's buffer.

Measures, in one run on this machine, on real files in a temporary directory:
- enqueue: 1, 8 and 64 concurrent trio producers, each awaiting its own committed
  `enqueue` of a 60-byte payload (the size of a sealed detection), fsync included;
- drain: `next_for` + `mark_in_flight` + `confirm` in batches of 16;
- the peer: the seed design's OfflineBuffer insert (connect per insert, pickle, commit),
  `buffer_rate` from ../shared/peers/seed_baseline.py when present, else the same code
  reproduced here; and the seed's insert run from 8 threads at once, the closest the
  seed comes to 8 concurrent producers. The ratio with 8 producers is the figure to read.

Each producer waits for its own commit, so 8 producers make groups of at most 8 and the
rate with 8 is bounded by 8 / (one fsync + the thread round trip): on a disk whose fsync
takes 0.2 ms that is about 10x the seed; on an SD card, where fsync takes milliseconds and
the seed pays two per insert (rollback journal), the same code gains far more.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import trio

from companion.outbox import OutboxItem, open_outbox
from companion.reliability.priority import Priority

from .table import Row

SEED_PEER = Path(__file__).resolve().parents[2] / "shared" / "peers" / "seed_baseline.py"
PAYLOAD = bytes(60)
PER_RUN = 4000


def seed_buffer_rate() -> Callable[[int], float]:
    """The seed's `buffer_rate(n)`: the peer file's own when present."""
    if SEED_PEER.exists():
        spec = importlib.util.spec_from_file_location("seed_baseline", SEED_PEER)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        rate: Callable[[int], float] = module.buffer_rate
        return rate
    return reproduced_buffer_rate


def reproduced_buffer_rate(n: int) -> float:
    """The seed's OfflineBuffer insert, as in seed_baseline.py: connect, pickle, commit."""
    path = os.path.join(tempfile.mkdtemp(), "offline_buffer.db")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS message_buffer (msg_id TEXT PRIMARY KEY, message_data"
            " BLOB, buffered_at REAL, priority INTEGER, sync_attempts INTEGER DEFAULT 0,"
            " synced BOOLEAN DEFAULT 0)"
        )
    start = time.perf_counter()
    for i in range(n):
        message = {"msg_id": f"m{i}", "msg_type": "detection", "payload": {"confidence": 0.9}}
        conn = sqlite3.connect(path)
        conn.execute(
            "INSERT OR REPLACE INTO message_buffer VALUES (?,?,?,?,?,?)",
            (message["msg_id"], pickle.dumps(message), time.time(), 1, 0, 0),
        )
        conn.commit()
        conn.close()
    return n / (time.perf_counter() - start)


def seed_concurrent_rate(threads: int, n: int) -> float:
    """The seed's insert (connect, pickle, commit, close) from `threads` threads at once:
    the seed's buffer measured the same way as ours with concurrent producers."""
    path = os.path.join(tempfile.mkdtemp(), "offline_buffer.db")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS message_buffer (msg_id TEXT PRIMARY KEY, message_data"
            " BLOB, buffered_at REAL, priority INTEGER, sync_attempts INTEGER DEFAULT 0,"
            " synced BOOLEAN DEFAULT 0)"
        )

    def produce(task: int) -> None:
        for i in range(n // threads):
            message = {"msg_id": f"{task}:{i}", "msg_type": "detection", "payload": {"c": 0.9}}
            conn = sqlite3.connect(path, timeout=30)
            conn.execute(
                "INSERT OR REPLACE INTO message_buffer VALUES (?,?,?,?,?,?)",
                (message["msg_id"], pickle.dumps(message), time.time(), 1, 0, 0),
            )
            conn.commit()
            conn.close()

    workers = [threading.Thread(target=produce, args=(task,)) for task in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (n // threads) * threads / (time.perf_counter() - start)


async def enqueue_rate(path: Path, producers: int, n: int) -> tuple[float, float]:
    """Committed enqueues per second with `producers` tasks; items per commit."""
    async with open_outbox(path, max_messages=10 * n) as outbox:
        per_task = n // producers
        commits = outbox.commits
        start = time.perf_counter()

        async def produce(task: int) -> None:
            for seq in range(per_task):
                key = f"{producers}:{task}:{seq}"
                await outbox.enqueue(
                    OutboxItem(
                        key=key,
                        destination=task % 4,
                        priority=Priority.HIGH,
                        payload=PAYLOAD,
                        created=time.time(),
                    )
                )

        async with trio.open_nursery() as nursery:
            for task in range(producers):
                nursery.start_soon(produce, task)
        elapsed = time.perf_counter() - start
        done = per_task * producers
        return done / elapsed, done / max(1, outbox.commits - commits)


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


async def measure(directory: Path, per_run: int = PER_RUN) -> dict[str, float]:
    figures: dict[str, float] = {}
    path = directory / "outbox.db"
    for producers in (1, 8, 64):
        rate, per_commit = await enqueue_rate(path, producers, per_run)
        figures[f"enqueue x{producers}"] = rate
        figures[f"items/commit x{producers}"] = per_commit
    figures["drain"] = await drain_rate(path)
    return figures


def rows(*, quick: bool = False) -> list[Row]:
    """Committed enqueues with 1, 8 and 64 producers and the drain rate, beside the seed's
    buffer insert (sequential for x1, from 8 threads for x8 and x64)."""
    with tempfile.TemporaryDirectory() as directory:
        figures = trio.run(measure, Path(directory), 800 if quick else PER_RUN)
    seed = seed_buffer_rate()(200 if quick else 1000)
    seed8 = seed_concurrent_rate(8, 200 if quick else 1000)
    return [
        Row(
            "outbox",
            "committed enqueues, 1 producer",
            figures["enqueue x1"],
            "msg/s",
            seed,
            note="peer: seed design's buffer insert",
        ),
        Row(
            "outbox",
            "committed enqueues, 8 producers",
            figures["enqueue x8"],
            "msg/s",
            seed8,
            note="peer: seed design's insert, 8 threads",
        ),
        Row(
            "outbox",
            "committed enqueues, 64 producers",
            figures["enqueue x64"],
            "msg/s",
            seed8,
            note="peer: seed design's insert, 8 threads",
        ),
        Row("outbox", "drain (take, mark, confirm)", figures["drain"], "msg/s"),
    ]


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        figures = trio.run(measure, Path(directory))
    seed = seed_buffer_rate()(1000)
    seed8 = seed_concurrent_rate(8, 1000)
    source = "seed_baseline.py" if SEED_PEER.exists() else "reproduced"
    print(f"{'measure':<22}{'per second':>12}")
    for name, value in figures.items():
        unit = "" if name.startswith("items") else "/s"
        print(f"{name:<22}{value:>12,.1f}{unit}")
    print(f"{'seed buffer insert':<22}{seed:>12,.1f}/s  ({source})")
    print(f"{'seed, 8 threads':<22}{seed8:>12,.1f}/s  (its insert, 8 producers at once)")
    for producers in (1, 8, 64):
        ratio = figures[f"enqueue x{producers}"] / seed
        print(f"ratio to seed, x{producers:<8}{ratio:>12.1f}x")
    print(f"{'x8 / seed 8 threads':<22}{figures['enqueue x8'] / seed8:>12.1f}x")


if __name__ == "__main__":
    main()
