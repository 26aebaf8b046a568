"""The outbox's errors, named by meaning: each says the operation did not happen."""

from __future__ import annotations


class OutboxError(Exception):
    """Base of the outbox's errors: the operation did not happen."""


class OutboxFull(OutboxError):
    """Refused: at capacity, with nothing of equal or lower priority to evict."""


class OutboxDiskFull(OutboxFull):
    """Refused: the disk (or the `max_bytes` budget) is full; committed rows are intact."""


class OutboxCorrupt(OutboxError):
    """The file is not a sound SQLite database: restore it or move it aside, never ignore."""


class OutboxSchemaError(OutboxError):
    """The file's schema version is one this program cannot use."""
