"""Outbox benchmark: committed enqueues per second, drain rate, and the seed's buffer.

Measures, in one run on this machine, on real files in a temporary directory:
- enqueue: 1, 8 and 64 concurrent trio producers, each awaiting its own committed
  `enqueue` of a 60-byte payload (the size of a sealed detection) under a key from
  `new_key`, as OutboxSync.submit makes one, fsync included;
- drain: `next_for` + `mark_in_flight` + `confirm` in batches of 16;
- the peer: the seed design's OfflineBuffer insert (connect per insert, pickle, commit),
  `buffer_rate` from ../shared/peers/seed_baseline.py when present, else the same code
  reproduced here; and the seed's insert run from 8 threads at once, the closest the
  seed comes to 8 concurrent producers. The ratio with 8 producers is the figure to read;
- the same enqueues and the same seed inserts again under slow_flush.c, a storage double
  whose every flush takes FLUSH_DELAY_US longer (the order of an SD card's flush), in a
  child process; those rows also count flushes per message, ours and the seed's.

Each producer waits for its own commit, so 8 producers make groups of at most 8 and the
rate with 8 is bounded by 8 / (one commit + the thread round trip). On this machine's
disk a flush takes about 0.1 ms, so the CPU and the round trip weigh most and the ratio
is about 15x. Where flushes are slow they weigh most: the seed pays about 4 per insert
(rollback journal), we pay one per group, and the slow-flush rows show that ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from functools import partial
from pathlib import Path
from typing import NamedTuple

import trio

from companion.outbox import OutboxItem, new_key, open_outbox
from companion.reliability.priority import Priority

from . import seed, slow_flush
from .table import Row, render

PAYLOAD = bytes(60)
PER_RUN = 4000
FLUSH_DELAY_US = 2000
"""What the slow-flush double adds to each flush by default: the order of an SD card's
flush (`python -m bench.outbox --flush-delay-us N` tries another)."""
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


class Enqueued(NamedTuple):
    rate: float
    """Committed enqueues per second."""
    per_commit: float
    """Items per commit (one fsync each)."""
    flushes: float | None
    """Flushes per message, counted by the slow-flush double; None without it."""


def flush_meter(flushes: Callable[[], int] | None) -> Callable[[int], float | None]:
    """Start counting flushes now; the function returned gives flushes per message once
    `messages` were made (None when nothing counts flushes)."""
    before = flushes() if flushes else 0
    return lambda messages: None if flushes is None else (flushes() - before) / messages


async def enqueue_rate(
    path: Path, producers: int, n: int, flushes: Callable[[], int] | None
) -> Enqueued:
    """Committed enqueues with `producers` tasks, about `n` in all."""
    async with open_outbox(path, max_messages=10 * n) as outbox:
        per_task = n // producers
        commits = outbox.commits
        per_message = flush_meter(flushes)
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
        elapsed = time.perf_counter() - start
        done = per_task * producers
        return Enqueued(done / elapsed, done / max(1, outbox.commits - commits), per_message(done))


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


async def measure(
    directory: Path, per_run: int, flushes: Callable[[], int] | None, *, drain: bool
) -> dict[str, float]:
    """Enqueue rates (items per commit; flushes per message when counted) with 1, 8 and 64
    producers into one outbox file, then its drain when `drain`."""
    found: dict[str, float] = {}
    path = directory / "outbox.db"
    for producers in (1, 8, 64):
        run = await enqueue_rate(path, producers, per_run, flushes)
        found[f"enqueue x{producers}"] = run.rate
        found[f"per commit x{producers}"] = run.per_commit
        if run.flushes is not None:
            found[f"flushes x{producers}"] = run.flushes
    if drain:
        found["drain"] = await drain_rate(path)
    return found


def figures(*, quick: bool, slow: bool) -> dict[str, float]:
    """Ours and the seed's figures, measured in this process. `slow`: the run under the
    slow-flush double (smaller runs, no drain, flushes per message counted)."""
    per_run = (800 if quick else PER_RUN) // (4 if slow else 1)
    seed_runs = (200 if quick else 1000) // (5 if slow else 1)
    flushes = slow_flush.flush_counter()
    with tempfile.TemporaryDirectory() as directory:
        found = trio.run(partial(measure, Path(directory), per_run, flushes, drain=not slow))
    for name, measure_seed in (
        ("seed x1", seed_buffer_rate()),
        ("seed x8", partial(seed_concurrent_rate, 8)),
    ):
        per_message = flush_meter(flushes)
        found[name] = measure_seed(seed_runs)
        if (counted := per_message(seed_runs)) is not None:
            found[f"flushes {name}"] = counted
    return found


PEERS = (
    (1, "seed x1", "seed design's buffer insert"),
    (8, "seed x8", "seed's insert, 8 threads"),
    (64, "seed x8", "seed's insert, 8 threads"),
)
"""Producers -> the seed figure beside them, and how the note names it."""


def _enqueues(producers: int) -> str:
    return f"committed enqueues, {producers} producer{'s' if producers > 1 else ''}"


def native_rows(found: dict[str, float]) -> list[Row]:
    """Committed enqueues with 1, 8 and 64 producers and the drain on this machine's disk,
    beside the seed's buffer insert (sequential for x1, from 8 threads for x8 and x64)."""
    rows = [
        Row(
            "outbox",
            _enqueues(producers),
            found[f"enqueue x{producers}"],
            "msg/s",
            found[seed],
            note=f"peer: {peer}; {found[f'per commit x{producers}']:.1f} per fsync",
        )
        for producers, seed, peer in PEERS
    ]
    return [*rows, Row("outbox", "drain (take, mark, confirm)", found["drain"], "msg/s")]


def slow_rows(found: dict[str, float], delay_us: int) -> list[Row]:
    """The same enqueue rows under the slow-flush double, with flushes per message."""
    return [
        Row(
            "outbox",
            f"{_enqueues(producers)}, flush +{delay_us / 1000:g} ms",
            found[f"enqueue x{producers}"],
            "msg/s",
            found[seed],
            note=f"slow-flush double; flushes/msg: ours {found[f'flushes x{producers}']:.2f},"
            f" seed {found[f'flushes {seed}']:.1f}",
        )
        for producers, seed, _ in PEERS
    ]


def rows(*, quick: bool = False, flush_delay_us: int = FLUSH_DELAY_US) -> list[Row]:
    """The native rows, then the rows under the slow-flush double (run in a child process)
    when this machine can build it; else why not, on standard error."""
    found = native_rows(figures(quick=quick, slow=False))
    args = ["-m", "bench.outbox", "--figures", "--slow", *(["--quick"] if quick else [])]
    try:
        slow = slow_flush.run_python(args, flush_delay_us)
    except slow_flush.SlowFlushUnavailable as exc:
        print(f"bench outbox: no slow-flush rows: {exc}", file=sys.stderr)
        return found
    return [*found, *slow_rows(slow, flush_delay_us)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outbox", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs (the test suite's)")
    parser.add_argument("--figures", action="store_true", help="print the figures as JSON")
    parser.add_argument("--slow", action="store_true", help="the slow-flush run's figures")
    parser.add_argument(
        "--flush-delay-us",
        type=int,
        default=FLUSH_DELAY_US,
        help=f"what the slow-flush double adds to each flush (default {FLUSH_DELAY_US})",
    )
    args = parser.parse_args(argv)
    if args.figures:
        print(json.dumps(figures(quick=args.quick, slow=args.slow)))
    else:
        print(render(rows(quick=args.quick, flush_delay_us=args.flush_delay_us)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
