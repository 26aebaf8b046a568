"""A durable outbox every node uses: messages wait in SQLite until confirmed.

`store.py` is the synchronous core (one connection, one thread); `service.py` puts it
under trio with a worker thread and group commit; `cli.py` is the operator's view.
"""

from .service import Outbox, OutboxClosed, open_outbox
from .store import (
    OutboxCorrupt,
    OutboxDiskFull,
    OutboxError,
    OutboxFull,
    OutboxItem,
    OutboxSchemaError,
    OutboxStats,
    Store,
    StoredMessage,
    new_key,
)

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
