"""The reference command center's SQLite file: the records it received, the commands it queued.

Rules:
- One connection per Store, shared by the server's request threads under one lock
  (a reference service: simplicity over write concurrency). WAL mode and a busy timeout,
  so the CLI (`queue`, `list`) can use the same file while `serve` runs.
- Records are stored once per msg_id: storing a batch answers which ids were new
  (`accepted`) and which the file already held (`duplicates`); both mean "safe with us",
  so a client may forget both. A repeated id keeps the first copy.
- Commands get a cursor (an increasing integer) when queued; gateways read the commands
  after a cursor. A command_id is unique: queueing the same command again is a no-op,
  a different command under a used id is refused (`CommandConflict`).
- A command's status starts "queued", becomes "delivered" when a gateway fetched it, and
  then follows the outcome names of the "ack" records that name it (accepted, completed,
  invalid, ...); a final outcome stays (acks can overtake each other on the way).
- The schema carries a version (PRAGMA user_version); a newer file is refused.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..records import Record

SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE messages (id INTEGER PRIMARY KEY, msg_id TEXT NOT NULL UNIQUE,"
    " msg_type TEXT NOT NULL, source TEXT NOT NULL, destination TEXT NOT NULL,"
    " priority INTEGER NOT NULL, timestamp REAL NOT NULL, payload TEXT NOT NULL,"
    " received REAL NOT NULL, received_from TEXT NOT NULL)",
    "CREATE TABLE commands (cursor INTEGER PRIMARY KEY AUTOINCREMENT,"
    " command_id TEXT UNIQUE, uav INTEGER, body TEXT NOT NULL, queued REAL NOT NULL,"
    " queued_by TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'queued', reason TEXT NOT NULL"
    " DEFAULT '')",
)


class StoreError(Exception):
    """The command center's file cannot be used (damaged, too new, not SQLite)."""


class CommandConflict(StoreError):
    """A different command already uses this command_id."""


@dataclass(frozen=True, slots=True)
class Stored:
    """What storing a batch did: ids new to the file, and ids it already held."""

    accepted: list[str]
    duplicates: list[str]


@dataclass(frozen=True, slots=True)
class QueuedCommand:
    """A queued command as gateways and operators see it."""

    cursor: int
    body: dict[str, Any]
    queued: float
    status: str
    reason: str

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        """The command's own JSON plus the service's fields (parse_command ignores them);
        given `now`, also `age`: seconds since it was queued, by this service's clock."""
        served = {
            **self.body,
            "cursor": self.cursor,
            "queued_at": self.queued,
            "status": self.status,
        }
        if now is not None:
            served["age"] = round(max(0.0, now - self.queued), 3)
        return served


class CommandCenterStore:
    """Records and commands in one SQLite file; every method is one transaction. As a
    context manager it closes on leaving the block."""

    def __init__(self, path: str | Path) -> None:
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._migrate(path)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot use {path}: {exc}") from exc
        self._lock = threading.Lock()

    def _migrate(self, path: str | Path) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self._db.close()
            raise StoreError(f"{path} has schema {version}, newer than {SCHEMA_VERSION}")
        if version == 0:
            self._db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> CommandCenterStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.rollback()
                raise
            self._db.execute("COMMIT")

    # -- records -------------------------------------------------------------------------

    def store(self, records: Sequence[Record], received: float, received_from: str) -> Stored:
        """Store `records` once each by msg_id; ack records update their command's status."""
        accepted: list[str] = []
        duplicates: list[str] = []
        with self._transaction() as db:
            for record in records:
                cursor = db.execute(
                    "INSERT INTO messages (msg_id, msg_type, source, destination, priority,"
                    " timestamp, payload, received, received_from) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (msg_id) DO NOTHING",
                    (
                        record.msg_id,
                        record.msg_type,
                        record.source,
                        record.destination,
                        record.priority,
                        record.timestamp,
                        json.dumps(record.payload),
                        received,
                        received_from,
                    ),
                )
                new = cursor.rowcount == 1
                (accepted if new else duplicates).append(record.msg_id)
                if new and record.msg_type == "ack":
                    _apply_outcome(db, record.payload)
        return Stored(accepted, duplicates)

    def records(
        self, *, after: int = 0, limit: int = 100, msg_type: str | None = None
    ) -> list[tuple[int, Record, float]]:
        """Stored records after row `after`, oldest first: (row, record, received)."""
        sql = (
            "SELECT id, msg_id, msg_type, source, destination, priority, timestamp, payload,"
            " received FROM messages WHERE id > ?"
        )
        args: list[Any] = [after]
        if msg_type is not None:
            sql += " AND msg_type = ?"
            args.append(msg_type)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id LIMIT ?", [*args, limit]).fetchall()
        return [(row[0], _record(row[1:8]), row[8]) for row in rows]

    def newest_row(self) -> int:
        """The row number of the newest record (0 if none)."""
        with self._lock:
            return int(self._db.execute("SELECT max(id) FROM messages").fetchone()[0] or 0)

    def count(self) -> int:
        """How many records are stored."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])

    # -- commands ------------------------------------------------------------------------

    def queue(self, body: dict[str, Any], queued: float, queued_by: str) -> int:
        """Queue a command body; its cursor. The same body again returns the same cursor.

        The body is stored as given: the server validates with parse_command first; tests
        may queue a malformed body on purpose to exercise the gateway's refusal.
        """
        command_id = body.get("command_id")
        key = command_id if isinstance(command_id, str) else None
        uav = body.get("uav") if type(body.get("uav")) is int else None
        text = json.dumps(body, sort_keys=True)
        with self._transaction() as db:
            if key is not None:
                found = db.execute(
                    "SELECT cursor, body FROM commands WHERE command_id = ?", (key,)
                ).fetchone()
                if found is not None:
                    if found[1] != text:
                        raise CommandConflict(f"command_id {key!r} is taken by another command")
                    return int(found[0])
            cursor = db.execute(
                "INSERT INTO commands (command_id, uav, body, queued, queued_by)"
                " VALUES (?, ?, ?, ?, ?)",
                (key, uav, text, queued, queued_by),
            )
            return int(cursor.lastrowid or 0)

    def commands_after(self, after: int, limit: int) -> list[QueuedCommand]:
        """Commands with a cursor above `after`, oldest first; marked delivered."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE cursor > ? ORDER BY cursor LIMIT ?",
                (after, limit),
            ).fetchall()
        if rows:
            with self._transaction() as db:
                db.execute(
                    "UPDATE commands SET status = 'delivered' WHERE status = 'queued'"
                    " AND cursor > ? AND cursor <= ?",
                    (after, rows[-1][0]),
                )
        return [_command(row) for row in rows]

    def latest_cursor(self) -> int:
        """The cursor of the newest command (0 if none)."""
        with self._lock:
            found = self._db.execute("SELECT max(cursor) FROM commands").fetchone()[0]
        return int(found or 0)

    def command(self, command_id: str) -> QueuedCommand | None:
        """The command queued under `command_id`, with its status (None if there is none)."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE command_id = ?", (command_id,)
            ).fetchone()
        return None if row is None else _command(row)

    def commands(self, limit: int = 100) -> list[QueuedCommand]:
        """The newest `limit` commands with their status, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COMMAND_COLUMNS} FROM commands ORDER BY cursor DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_command(row) for row in reversed(rows)]


_COMMAND_COLUMNS = "cursor, body, queued, status, reason"


def _command(row: Sequence[Any]) -> QueuedCommand:
    """A commands row (_COMMAND_COLUMNS) as a QueuedCommand."""
    cursor, body, queued, status, reason = row
    return QueuedCommand(cursor, json.loads(body), queued, status, reason)


def _record(columns: Sequence[Any]) -> Record:
    msg_id, msg_type, source, destination, priority, timestamp, payload = columns
    return Record(msg_id, msg_type, source, destination, priority, timestamp, json.loads(payload))


def _apply_outcome(db: sqlite3.Connection, payload: dict[str, Any]) -> None:
    """An ack record that names a command (by command_id, else cursor) sets its status."""
    status = payload.get("outcome_name")
    if not isinstance(status, str):
        return
    reason = str(payload.get("reason", ""))[:200]
    command_id, cursor = payload.get("command_id"), payload.get("cursor")
    # A final outcome is not overwritten by a late "accepted" that was overtaken.
    update = "UPDATE commands SET status = ?, reason = ? WHERE status IN (?, ?, ?) AND "
    open_states = ("queued", "delivered", "accepted")
    if isinstance(command_id, str):
        db.execute(update + "command_id = ?", (status, reason, *open_states, command_id))
    elif type(cursor) is int:
        db.execute(update + "cursor = ?", (status, reason, *open_states, cursor))
