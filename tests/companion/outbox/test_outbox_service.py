"""The trio service: commit before return, group commit, async wrappers, refusals, close."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from companion.outbox import (
    OutboxClosed,
    OutboxDiskFull,
    OutboxError,
    OutboxFull,
    OutboxItem,
    Store,
    open_outbox,
)
from companion.reliability.priority import Priority

NOW = 1_750_000_000.0
DEST = 4


def item(key: str, priority: Priority = Priority.HIGH, size: int = 60) -> OutboxItem:
    return OutboxItem(
        key=key, destination=DEST, priority=priority, payload=bytes(size), created=NOW
    )


def clock() -> float:
    return NOW


async def test_enqueue_returns_once_committed(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    async with open_outbox(path, clock=clock) as outbox:
        row = await outbox.enqueue(item("a"))
        other = Store.open(path, readonly=True)  # a second connection sees the commit
        assert [m.id for m in other.next_for(DEST, NOW, 10)] == [row]
        other.close()


async def test_concurrent_enqueues_share_commits(tmp_path: Path) -> None:
    async with open_outbox(tmp_path / "o.db", clock=clock, batch_wait=0.05) as outbox:
        before = outbox.commits
        ids: dict[str, int] = {}

        async def produce(key: str) -> None:
            ids[key] = await outbox.enqueue(item(key))

        async with trio.open_nursery() as nursery:
            for i in range(64):
                nursery.start_soon(produce, f"k{i}")
        commits = outbox.commits - before
        assert 1 <= commits <= 4  # 64 items, a handful of fsyncs
        assert len(set(ids.values())) == 64
        assert (await outbox.stats()).depth == 64


async def test_async_delivery_cycle(tmp_path: Path) -> None:
    async with open_outbox(tmp_path / "o.db", clock=clock) as outbox:
        low = await outbox.enqueue(item("low", Priority.LOW))
        high = await outbox.enqueue(item("high"))
        batch = await outbox.next_for(DEST)
        assert [m.id for m in batch] == [high, low]
        assert await outbox.mark_in_flight([high, low]) == 2
        assert await outbox.next_for(DEST) == []
        assert await outbox.release([low]) == 1
        assert await outbox.confirm([high]) == 1
        assert await outbox.expire() == []
        assert [m.key for m in await outbox.next_for(DEST)] == ["low"]


async def test_in_flight_rows_return_to_pending_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    async with open_outbox(path, clock=clock) as outbox:
        row = await outbox.enqueue(item("a"))
        await outbox.mark_in_flight([row])
    async with open_outbox(path, clock=clock) as outbox:
        assert [m.id for m in await outbox.next_for(DEST)] == [row]


async def test_refusal_goes_to_its_own_producer(tmp_path: Path) -> None:
    async with open_outbox(tmp_path / "o.db", clock=clock, max_messages=2) as outbox:
        await outbox.enqueue(item("h1"))
        await outbox.enqueue(item("h2"))
        results: dict[str, object] = {}

        async def produce(new: OutboxItem) -> None:
            try:
                results[new.key] = await outbox.enqueue(new)
            except OutboxFull as exc:
                results[new.key] = exc

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce, item("low", Priority.LOW))
            nursery.start_soon(produce, item("crit", Priority.CRITICAL))
        assert isinstance(results["low"], OutboxFull)
        assert isinstance(results["crit"], int)


async def test_full_disk_reaches_producers_and_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "small.db"
    committed: list[str] = []
    async with open_outbox(path, clock=clock, max_bytes=64 * 1024) as outbox:
        for i in range(1000):
            try:
                await outbox.enqueue(item(f"k{i}", size=1000))
            except OutboxDiskFull:
                break
            committed.append(f"k{i}")
        with pytest.raises(OutboxDiskFull, match="storage is full"):
            await outbox.enqueue(item("more", size=1000))
        assert [m.key for m in await outbox.next_for(DEST, 1000)] == committed
    store = Store.open(path)
    assert [m.key for m in store.next_for(DEST, NOW, 1000)] == committed
    assert len(committed) > 10


async def test_enqueue_after_close_is_refused(tmp_path: Path) -> None:
    async with open_outbox(tmp_path / "o.db", clock=clock) as outbox:
        pass
    with pytest.raises(OutboxClosed):
        await outbox.enqueue(item("late"))
    with pytest.raises(OutboxClosed):
        await outbox.stats()


async def test_open_error_is_raised_from_open(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(OutboxError):
        async with open_outbox(path):
            pytest.fail("opened a damaged file")
