"""The outbox file's schema: its tables, its versions and the steps between them.

Rules:
- Rows hold dialect bytes and plain columns, never pickle. PRAGMA user_version carries the
  schema version; MIGRATIONS upgrades older files step by step (`Store.open` runs them), a
  newer file is refused.
- New files use 1 KiB pages: rows are small and a commit dirties a leaf in each index (one
  per destination in the destination index, one per row for random keys); smaller pages
  make each of those WAL frames (and its fsync) smaller.
  A file keeps the page size it was made with.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

MIGRATIONS: Mapping[int, tuple[str, ...]] = MappingProxyType(
    {
        1: (
            "CREATE TABLE messages (id INTEGER PRIMARY KEY, msg_key TEXT NOT NULL UNIQUE,"
            " destination INTEGER NOT NULL, priority INTEGER NOT NULL, created REAL NOT NULL,"
            " expires REAL NOT NULL, state TEXT NOT NULL DEFAULT 'pending'"
            " CHECK (state IN ('pending', 'in_flight')), attempts INTEGER NOT NULL DEFAULT 0,"
            " payload BLOB NOT NULL)",
            "CREATE INDEX messages_by_destination"
            " ON messages (destination, state, priority, created)",
        ),
        2: (
            "CREATE INDEX messages_by_rank ON messages (priority, created)",
            "CREATE INDEX messages_by_expiry ON messages (expires)",
            "CREATE TABLE quarantine (id INTEGER PRIMARY KEY, msg_key TEXT NOT NULL,"
            " destination INTEGER NOT NULL, priority INTEGER NOT NULL, created REAL NOT NULL,"
            " reason TEXT NOT NULL, payload BLOB)",
            "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        ),
    }
)
"""Schema version -> statements that bring a file from the previous version to it."""
SCHEMA_VERSION = max(MIGRATIONS)
PAGE_SIZE = 1024
"""Bytes per page of a new file (SQLite ignores the setting for an existing one)."""
