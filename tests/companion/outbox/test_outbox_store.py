"""Store on real SQLite files: ordering, delivery states, expiry, eviction, idempotency,
migration, damaged files, quarantine and a full disk."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from companion.outbox import (
    OutboxCorrupt,
    OutboxDiskFull,
    OutboxFull,
    OutboxItem,
    OutboxSchemaError,
    Store,
    new_key,
)
from companion.outbox.schema import MIGRATIONS, PAGE_SIZE, SCHEMA_VERSION
from companion.reliability.priority import TTL, Priority

NOW = 1_750_000_000.0
DEST = 7


def item(
    key: str, priority: Priority = Priority.MEDIUM, created: float = NOW, **kw: object
) -> OutboxItem:
    fields: dict[str, object] = {"destination": DEST, "payload": key.encode()} | kw
    return OutboxItem(key=key, priority=priority, created=created, **fields)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "outbox.db", max_messages=100)


def keys(store: Store, now: float = NOW, destination: int = DEST) -> list[str]:
    return [m.key for m in store.next_for(destination, now, 100)]


def test_next_for_orders_by_priority_then_age(store: Store) -> None:
    store.enqueue_many(
        [
            item("low", Priority.LOW, NOW),
            item("med-new", Priority.MEDIUM, NOW + 2),
            item("med-old", Priority.MEDIUM, NOW + 1),
            item("crit", Priority.CRITICAL, NOW + 3),
            item("other", Priority.CRITICAL, NOW, destination=9),
        ],
        NOW,
    )
    assert keys(store, NOW + 3) == ["crit", "med-old", "med-new", "low"]
    assert [m.key for m in store.next_for(DEST, NOW + 3, 2)] == ["crit", "med-old"]


def test_in_flight_confirm_release(store: Store) -> None:
    a, b = store.enqueue_many([item("a"), item("b")], NOW)
    assert store.mark_in_flight([a]) == 1
    assert keys(store) == ["b"]
    assert store.release([a, b]) == 1  # b was never in flight
    (again,) = [m for m in store.next_for(DEST, NOW, 10) if m.id == a]
    assert again.attempts == 1
    store.mark_in_flight([a, b])
    assert store.confirm([a]) == 1
    assert store.release_all() == 1
    assert keys(store) == ["b"]
    assert store.confirm([]) == 0


def test_expiry_at_ttl(store: Store) -> None:
    store.enqueue_many([item("c", Priority.CRITICAL), item("h", Priority.HIGH)], NOW)
    edge = NOW + TTL[Priority.CRITICAL]
    assert keys(store, edge - 0.001) == ["c", "h"]
    assert keys(store, edge) == ["h"]  # never sent at or after its TTL
    assert store.expire(edge) == ["c"]
    assert store.stats(edge).expiries == 1
    assert store.stats(edge).depth == store.depth == 1


def test_enqueue_is_idempotent_by_key(store: Store) -> None:
    first = store.enqueue_many([item("k", payload=b"one")], NOW)
    again = store.enqueue_many([item("k", payload=b"two"), item("k")], NOW)
    assert again == first * 2
    assert [m.payload for m in store.next_for(DEST, NOW, 10)] == [b"one"]


def test_eviction_prefers_expired_then_lowest_priority_oldest(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "o.db", max_messages=3)
    store.enqueue_many(
        [
            item("c", Priority.CRITICAL, NOW),
            item("l1", Priority.LOW, NOW),
            item("l2", Priority.LOW, NOW + 1),
        ],
        NOW,
    )
    store.enqueue_many([item("h1", Priority.HIGH, NOW + 10)], NOW + 10)  # c expired at +5
    assert keys(store, NOW + 10) == ["h1", "l1", "l2"]
    store.enqueue_many([item("h2", Priority.HIGH, NOW + 11)], NOW + 11)  # evicts l1, the oldest low
    assert keys(store, NOW + 11) == ["h1", "h2", "l2"]
    stats = store.stats(NOW + 11)
    assert (stats.expiries, stats.evictions, stats.depth) == (1, 1, 3)


def test_full_outbox_never_evicts_higher_priority(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "o.db", max_messages=2)
    store.enqueue_many([item("h1", Priority.HIGH), item("h2", Priority.HIGH)], NOW)
    with pytest.raises(OutboxFull, match="MEDIUM or lower"):
        store.enqueue_many([item("m", Priority.MEDIUM), item("l", Priority.LOW)], NOW)
    assert keys(store) == ["h1", "h2"]  # the batch rolled back whole, nothing evicted
    store.enqueue_many([item("c", Priority.CRITICAL)], NOW)
    assert keys(store) == ["c", "h2"]
    assert store.stats(NOW).evictions == 1
    assert store.enqueue_many([item("h2")], NOW)  # a stored key is accepted even when full


def test_counters_survive_restart(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "o.db")
    store.enqueue_many([item("c", Priority.CRITICAL)], NOW)
    store.expire(NOW + 60)
    store.close()
    assert Store.open(tmp_path / "o.db").stats(NOW).expiries == 1


def test_stats_depth_by_priority_and_destination(store: Store) -> None:
    store.enqueue_many([item("a", Priority.HIGH, NOW - 4), item("b", destination=3)], NOW)
    store.mark_in_flight([1])
    stats = store.stats(NOW)
    assert stats.by_priority == {Priority.HIGH: 1, Priority.MEDIUM: 1}
    assert stats.by_destination == {3: 1, DEST: 1}
    assert (stats.in_flight, stats.oldest_age, stats.depth) == (1, 4.0, 2)


def test_old_schema_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    db = sqlite3.connect(path)
    for statement in MIGRATIONS[1]:
        db.execute(statement)
    db.execute(
        "INSERT INTO messages (msg_key, destination, priority, created, expires, payload)"
        " VALUES ('old', ?, 2, ?, ?, x'01')",
        (DEST, NOW, NOW + 300),
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = Store.open(path)
    assert keys(store) == ["old"]
    assert store.stats(NOW).quarantined == 0  # version 2's tables exist
    store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA page_size").fetchone()[0] == 4096  # kept as it was made


def test_new_file_uses_small_pages(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    Store.open(path).close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 1024


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(OutboxSchemaError, match="newer than this program"):
        Store.open(path)


def test_garbage_file_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"not a database, just bytes " * 200)
    with pytest.raises(OutboxCorrupt, match="damaged"):
        Store.open(path)


def test_truncated_file_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    store = Store.open(path)
    store.enqueue_many([item(f"k{i}", payload=bytes(500)) for i in range(200)], NOW)
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(OutboxCorrupt):
        Store.open(path)


def test_rejected_payload_goes_to_quarantine(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    store = Store.open(path, validate=lambda payload: payload.startswith(b"ok"))
    store.enqueue_many([item("good", payload=b"ok!"), item("bad", payload=b"junk")], NOW)
    db = store._db
    db.execute("UPDATE messages SET payload = 'text' WHERE msg_key = 'good'")
    store.enqueue_many([item("fine", payload=b"ok")], NOW)
    assert keys(store) == ["fine"]
    assert store.stats(NOW).quarantined == 2
    rows = db.execute("SELECT msg_key, reason, payload FROM quarantine ORDER BY msg_key").fetchall()
    assert rows == [
        ("bad", "rejected by validate", b"junk"),
        ("good", "payload stored as str, not bytes", "text"),
    ]


def test_full_disk_refuses_and_keeps_committed_rows(tmp_path: Path) -> None:
    path = tmp_path / "small.db"
    store = Store.open(path, max_bytes=64 * 1024)
    committed: list[str] = []
    for i in range(1000):
        try:
            store.enqueue_many([item(f"k{i}", payload=bytes(1000))], NOW)
        except OutboxDiskFull:
            break
        committed.append(f"k{i}")
    with pytest.raises(OutboxDiskFull, match="storage is full"):
        store.enqueue_many([item("more", payload=bytes(1000))], NOW)
    assert 10 < len(committed) < 1000
    assert keys(store) == committed
    store.confirm([1])  # the connection still works
    store.close()
    assert keys(Store.open(path)) == committed[1:]


def test_new_keys_are_unique_and_follow_the_clock() -> None:
    made = [new_key() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert all(len(key) == 32 and int(key, 16) >= 0 for key in made)
    later = new_key()
    assert later[:16] > made[0][:16]  # the clock half orders keys made apart in time
    assert sorted([later, made[0]]) == [made[0], later]
