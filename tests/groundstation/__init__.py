"""Tests of the ground station: records, commands, HTTP uplink, reference command center.

Shared here: the reference command center on loopback, in a thread of the test process
(a real HTTP server on a real socket, with its SQLite file), and its tokens.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from groundstation.command_center import CommandCenterServer, CommandCenterStore, Tokens, serving

GATEWAY_TOKEN = "gateway-secret-1"
OPERATOR_TOKEN = "operator-secret-2"
ADMIN_TOKEN = "admin-secret-3"
TOKENS = {
    "gs-alpha": {"role": "gateway", "token": GATEWAY_TOKEN},
    "ops": {"role": "operator", "token": OPERATOR_TOKEN},
    "root": {"role": "admin", "token": ADMIN_TOKEN},
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def running_center(
    db: Path, *, tls: ssl.SSLContext | None = None, **options: Any
) -> Iterator[CommandCenterServer]:
    """The reference command center on 127.0.0.1 (free port) until the block ends."""
    store = CommandCenterStore(db)
    try:
        server = CommandCenterServer(
            ("127.0.0.1", 0), store, Tokens.from_mapping(TOKENS), tls=tls, **options
        )
        with serving(server):
            yield server
    finally:
        store.close()
