"""The outbox's durable core: one SQLite file of messages that wait for a confirmation.

Rules:
- One connection, used only by the thread that opened it (sqlite3's default
  `check_same_thread` enforces it); the service's worker thread is that owner.
- Durability: WAL with `synchronous=FULL`. In WAL mode NORMAL only fsyncs at checkpoints,
  so a commit survives a killed process but not a power cut; FULL fsyncs the WAL on every
  commit, so a commit that returned is on the disk. Group commit (service.py) pays for it.
- A message leaves only by `confirm` (delivered), expiry, eviction or quarantine; the last
  three are counted in the `meta` table, so the counters survive restarts.
- A row may be kept beyond its priority's time to live (`expires` later than `created` +
  TTL: a detection is data even when its alert is moot). Once that TTL has passed it is
  demoted to LOW instead of expiring (`demote`), counted as a demotion; it expires at its
  own `expires`. A row kept no longer than its TTL (a command) just expires.
- Bounded: at `max_messages` a newcomer displaces expired rows first, then the lowest
  priority, oldest row, never one of higher priority than itself; else `OutboxFull`.
- Enqueue is idempotent by `msg_key` while the row is stored. `enqueue_many` is atomic.
- Time comes in as `now` (the node clock's seconds, `companion/node_clock.py`); nothing
  here reads a clock.
- Opening migrates the file to the schema of `schema.py` (page size, versions).
- Open errors are loud: a damaged file is `OutboxCorrupt`, a full disk `OutboxDiskFull`,
  and a rolled-back transaction leaves committed rows as they were.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..reliability.priority import TTL, Priority
from .errors import OutboxCorrupt, OutboxDiskFull, OutboxError, OutboxFull, OutboxSchemaError
from .records import OutboxItem, OutboxStats, StoredMessage
from .schema import MIGRATIONS, PAGE_SIZE, SCHEMA_VERSION

COUNTERS = ("evictions", "expiries", "quarantined", "demotions")
_TTL_OF_PRIORITY = "CASE priority {} END".format(
    " ".join(f"WHEN {int(p)} THEN {TTL[p]!r}" for p in Priority)
)
_OUTLIVES_TTL = f"expires > created + {_TTL_OF_PRIORITY}"
"""SQL: the row is kept beyond its priority's time to live (it may be demoted)."""
_COLUMNS = "id, msg_key, destination, priority, created, expires, attempts, payload"


def _code(exc: sqlite3.Error) -> int:
    """The primary SQLite result code of `exc` (extended codes carry it in the low byte)."""
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF


class Store:
    """The outbox table and its operations, each one transaction. Build with `Store.open`."""

    def __init__(
        self,
        db: sqlite3.Connection,
        *,
        max_messages: int,
        validate: Callable[[bytes], bool] | None,
    ) -> None:
        self._db = db
        self.max_messages = max_messages
        self._validate = validate
        self.commits = 0
        """Write transactions committed by this connection: one fsync each."""
        self._depth = 0
        """Rows stored, kept in step with every committed change (no count(*) per write)."""

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        max_messages: int = 10_000,
        max_bytes: int | None = None,
        validate: Callable[[bytes], bool] | None = None,
        readonly: bool = False,
    ) -> Store:
        """Open (creating and migrating unless `readonly`) the outbox at `path`.

        `max_bytes` caps the database file (SQLite's max_page_count); past it writes fail
        with OutboxDiskFull. Raises OutboxCorrupt, OutboxSchemaError or OutboxError.
        """
        target = f"{Path(path).resolve().as_uri()}?mode=ro" if readonly else str(path)
        try:
            db = sqlite3.connect(target, uri=readonly, isolation_level=None)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox {path}: {exc}") from exc
        try:
            store = cls(db, max_messages=max_messages, validate=validate)
            store._prepare(path, max_bytes, readonly)
        except sqlite3.Error as exc:
            db.close()
            if _code(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
                raise OutboxCorrupt(f"outbox {path} is damaged: {exc}") from exc
            raise OutboxError(f"cannot open outbox {path}: {exc}") from exc
        except OutboxError:
            db.close()
            raise
        return store

    def _prepare(self, path: str | Path, max_bytes: int | None, readonly: bool) -> None:
        problems = [row[0] for row in self._db.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise OutboxCorrupt(f"outbox {path} is damaged: {'; '.join(problems[:3])}")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise OutboxSchemaError(
                f"outbox {path} has schema version {version}, newer than this program's"
                f" {SCHEMA_VERSION}: upgrade the program, do not edit the file"
            )
        if readonly:
            if version < SCHEMA_VERSION:
                raise OutboxSchemaError(f"outbox {path} has schema {version}: open it to migrate")
            return
        self._db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        for step in range(version + 1, SCHEMA_VERSION + 1):
            with self._transaction() as db:
                for statement in MIGRATIONS[step]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {step}")
        if max_bytes is not None:
            page = self._db.execute("PRAGMA page_size").fetchone()[0]
            self._db.execute(f"PRAGMA max_page_count = {max(1, max_bytes // page)}")
        self._depth = self._db.execute("SELECT count(*) FROM messages").fetchone()[0]

    def close(self) -> None:
        """Close the connection (WAL checkpointed by SQLite when it is the last one)."""
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; any failure rolls back and is reported by meaning."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield self._db
            self._db.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.rollback()
            if isinstance(exc, sqlite3.Error) and _code(exc) == sqlite3.SQLITE_FULL:
                raise OutboxDiskFull(f"outbox storage is full, nothing written: {exc}") from exc
            if isinstance(exc, sqlite3.Error) and _code(exc) == sqlite3.SQLITE_CORRUPT:
                raise OutboxCorrupt(f"outbox is damaged: {exc}") from exc
            raise
        self.commits += 1

    def enqueue_many(self, items: Sequence[OutboxItem], now: float) -> list[int]:
        """Store `items` in one transaction, all or none; the row id of each, in order.

        An item whose key is already stored gets that row's id and changes nothing.
        """
        with self._transaction() as db:
            if self._depth + len(items) <= self.max_messages:
                ids, added = self._insert_all(db, items)
            else:
                ids, added = self._insert_making_room(db, items, now)
        self._depth += added
        return ids

    def _insert_all(
        self, db: sqlite3.Connection, items: Sequence[OutboxItem]
    ) -> tuple[list[int], int]:
        """One multi-row INSERT for a batch that fits; (ids in order, rows added)."""
        rows = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(items))
        values = [value for item in items for value in _row(item)]
        inserted = dict(
            db.execute(
                f"INSERT INTO messages ({_INSERTED}) VALUES {rows}"
                " ON CONFLICT (msg_key) DO NOTHING RETURNING msg_key, id",
                values,
            ).fetchall()
        )
        ids = [inserted.get(item.key) or self._row_of(item.key) or 0 for item in items]
        return ids, len(inserted)

    def _insert_making_room(
        self, db: sqlite3.Connection, items: Sequence[OutboxItem], now: float
    ) -> tuple[list[int], int]:
        """Insert one at a time, evicting as `_make_room` allows; (ids, net rows added)."""
        ids: list[int] = []
        depth = self._depth
        for item in items:
            if depth >= self.max_messages and self._row_of(item.key) is None:
                depth -= self._make_room(db, item, now)
            cursor = db.execute(
                f"INSERT INTO messages ({_INSERTED}) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (msg_key) DO NOTHING",
                _row(item),
            )
            if cursor.rowcount == 1:
                ids.append(int(cursor.lastrowid or 0))
                depth += 1
            else:
                ids.append(self._row_of(item.key) or 0)
        return ids, depth - self._depth

    def _row_of(self, key: str) -> int | None:
        """The id of the row stored under `key`, if any."""
        found = self._db.execute("SELECT id FROM messages WHERE msg_key = ?", (key,)).fetchone()
        return None if found is None else int(found[0])

    def _make_room(self, db: sqlite3.Connection, item: OutboxItem, now: float) -> int:
        """Delete expired rows, else one lower-or-equal priority row; how many went."""
        expired = db.execute("DELETE FROM messages WHERE expires <= ?", (now,)).rowcount
        if expired:
            self._count(db, "expiries", expired)
            return expired
        victim = db.execute(
            "SELECT id, priority FROM messages ORDER BY priority DESC, created, id LIMIT 1"
        ).fetchone()
        if victim is None or victim[1] < item.priority:
            raise OutboxFull(
                f"outbox holds {self.max_messages} messages, none of priority"
                f" {item.priority.name} or lower to evict for {item.key!r}"
            )
        db.execute("DELETE FROM messages WHERE id = ?", (victim[0],))
        self._count(db, "evictions", 1)
        return 1

    @staticmethod
    def _count(db: sqlite3.Connection, name: str, n: int) -> None:
        db.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (name, n),
        )

    def next_for(self, destination: int, now: float, limit: int) -> list[StoredMessage]:
        """Pending, unexpired messages for `destination`: by priority, then age.

        Rows whose payload the `validate` callback rejects are moved to quarantine and
        left out, so the result may hold fewer than `limit`.
        """
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE destination = ? AND state = 'pending'"
            " AND expires > ? ORDER BY priority, created, id LIMIT ?",
            (destination, now, limit),
        ).fetchall()
        messages = [StoredMessage(*row) for row in rows]
        rejected = {m.id: reason for m in messages if (reason := self._reject(m)) is not None}
        if rejected:
            self._quarantine(rejected)
        return [m for m in messages if m.id not in rejected]

    def pending_destinations(self, now: float) -> list[int]:
        """Destinations with pending, unexpired messages."""
        sql = (
            "SELECT DISTINCT destination FROM messages WHERE state = 'pending' AND expires > ?"
            " ORDER BY destination"
        )
        return [row[0] for row in self._db.execute(sql, (now,))]

    def _reject(self, message: StoredMessage) -> str | None:
        """Why `message` must not be sent, or None when it may."""
        if not isinstance(message.payload, bytes):
            return f"payload stored as {type(message.payload).__name__}, not bytes"
        if self._validate is None:
            return None
        try:
            return None if self._validate(message.payload) else "rejected by validate"
        except Exception as exc:  # the callback judges untrusted bytes: any failure rejects
            return f"validate raised {exc!r}"

    def _quarantine(self, reasons: Mapping[int, str]) -> None:
        with self._transaction() as db:
            for row_id, reason in reasons.items():
                db.execute(
                    "INSERT INTO quarantine (msg_key, destination, priority, created, reason,"
                    " payload) SELECT msg_key, destination, priority, created, ?, payload"
                    " FROM messages WHERE id = ?",
                    (reason, row_id),
                )
                db.execute("DELETE FROM messages WHERE id = ?", (row_id,))
            self._count(db, "quarantined", len(reasons))
        self._depth -= len(reasons)

    def _update(self, sql: str, ids: Iterable[int]) -> int:
        wanted = list(ids)
        if not wanted:
            return 0
        marks = ", ".join("?" * len(wanted))
        with self._transaction() as db:
            return int(db.execute(sql.format(ids=marks), wanted).rowcount)

    def mark_in_flight(self, ids: Iterable[int]) -> int:
        """Pending rows `ids` become in flight (handed to the link); how many changed."""
        sql = "UPDATE messages SET state = 'in_flight' WHERE state = 'pending' AND id IN ({ids})"
        return self._update(sql, ids)

    def confirm(self, ids: Iterable[int]) -> int:
        """Delete delivered rows `ids`: the only way a sent message leaves; how many did."""
        gone = self._update("DELETE FROM messages WHERE id IN ({ids})", ids)
        self._depth -= gone
        return gone

    def release(self, ids: Iterable[int]) -> int:
        """In-flight rows `ids` go back to pending with one more attempt counted."""
        sql = (
            "UPDATE messages SET state = 'pending', attempts = attempts + 1"
            " WHERE state = 'in_flight' AND id IN ({ids})"
        )
        return self._update(sql, ids)

    def release_all(self) -> int:
        """After a restart nothing is in flight: every in-flight row goes back to pending."""
        with self._transaction() as db:
            sql = "UPDATE messages SET state = 'pending' WHERE state = 'in_flight'"
            return int(db.execute(sql).rowcount)

    @property
    def depth(self) -> int:
        """Rows stored, pending or in flight, as kept in step with every committed change."""
        return self._depth

    def expire(self, now: float) -> list[str]:
        """Delete every row whose time to live has passed at `now`; their keys, counted."""
        with self._transaction() as db:
            keys = [
                key
                for (key,) in db.execute(
                    "DELETE FROM messages WHERE expires <= ? RETURNING msg_key", (now,)
                ).fetchall()
            ]
            if keys:
                self._count(db, "expiries", len(keys))
        self._depth -= len(keys)
        return keys

    def demote(self, now: float) -> int:
        """Rows past their priority's time to live, kept longer, become LOW; how many."""
        with self._transaction() as db:
            demoted = db.execute(
                f"UPDATE messages SET priority = {int(Priority.LOW)}"
                f" WHERE priority < {int(Priority.LOW)} AND expires > ? AND {_OUTLIVES_TTL}"
                f" AND created + {_TTL_OF_PRIORITY} <= ?",
                (now, now),
            ).rowcount
            if demoted:
                self._count(db, "demotions", demoted)
        return int(demoted)

    def expired_at_destination(self, ids: Iterable[int]) -> tuple[int, list[str]]:
        """In-flight rows `ids` that their destination answered EXPIRED: a row kept beyond
        its priority's TTL goes on at LOW (pending again, a demotion), any other row is
        deleted as expired. How many were demoted, and the keys of the deleted."""
        wanted = list(ids)
        if not wanted:
            return 0, []
        marks = ", ".join("?" * len(wanted))
        chosen = f"state = 'in_flight' AND id IN ({marks})"
        with self._transaction() as db:
            demoted = db.execute(
                f"UPDATE messages SET state = 'pending', attempts = attempts + 1,"
                f" priority = {int(Priority.LOW)} WHERE {chosen} AND {_OUTLIVES_TTL}",
                wanted,
            ).rowcount
            keys = [
                key
                for (key,) in db.execute(
                    f"DELETE FROM messages WHERE {chosen} RETURNING msg_key", wanted
                ).fetchall()
            ]
            for name, n in (("demotions", demoted), ("expiries", len(keys))):
                if n:
                    self._count(db, name, n)
        self._depth -= len(keys)
        return int(demoted), keys

    def pending(self) -> list[StoredMessage]:
        """Every pending row, in sending order (for operators: `event-outbox --export`)."""
        sql = f"SELECT {_COLUMNS} FROM messages WHERE state = 'pending' ORDER BY priority, created"
        return [StoredMessage(*row) for row in self._db.execute(sql)]

    def stats(self, now: float) -> OutboxStats:
        """Depth by priority and destination, oldest age and the lifetime counters."""
        db = self._db
        counters = dict(db.execute("SELECT name, value FROM meta").fetchall())
        oldest = db.execute("SELECT min(created) FROM messages").fetchone()[0]
        return OutboxStats(
            by_priority=dict(db.execute(_GROUP.format(column="priority")).fetchall()),
            by_destination=dict(db.execute(_GROUP.format(column="destination")).fetchall()),
            in_flight=db.execute(
                "SELECT count(*) FROM messages WHERE state = 'in_flight'"
            ).fetchone()[0],
            oldest_age=None if oldest is None else max(0.0, now - oldest),
            **{name: int(counters.get(name, 0)) for name in COUNTERS},
        )


_INSERTED = "msg_key, destination, priority, created, expires, payload"


def _row(item: OutboxItem) -> tuple[str, int, int, float, float, bytes]:
    """The `_INSERTED` columns of `item`."""
    return (
        item.key,
        item.destination,
        int(item.priority),
        item.created,
        item.deadline,
        item.payload,
    )


_GROUP = "SELECT {column}, count(*) FROM messages GROUP BY {column} ORDER BY {column}"
