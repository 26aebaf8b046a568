"""A durable outbox every node uses: messages wait in SQLite until confirmed.

`store.py` is the synchronous core (one connection, one thread) over the file that
`schema.py` describes, holding the `records.py` items and raising the `errors.py` errors;
`service.py` puts it under trio with a worker thread and group commit; `cli.py` is the
operator's view.
"""

from .errors import (
    OutboxCorrupt,
    OutboxDiskFull,
    OutboxError,
    OutboxFull,
    OutboxSchemaError,
)
from .records import OutboxItem, OutboxStats, StoredMessage, new_key
from .service import Outbox, OutboxClosed, open_outbox
from .store import Store

__all__ = [
    "Outbox",
    "OutboxClosed",
    "OutboxCorrupt",
    "OutboxDiskFull",
    "OutboxError",
    "OutboxFull",
    "OutboxItem",
    "OutboxSchemaError",
    "OutboxStats",
    "Store",
    "StoredMessage",
    "new_key",
    "open_outbox",
]
