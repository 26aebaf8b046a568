"""The HTTP cloud uplink's settings (the uplink itself: http.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from companion.transport.backoff import Backoff

from .base import RETENTION

UPLINK_BACKOFF = Backoff(initial=0.5, maximum=60.0)
"""Half a second after the first failure, doubling to a minute: a cloud that is down for
an hour costs one request a minute."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpUplinkConfig:
    """Where the cloud is, how to prove who we are, and how patient to be."""

    base_url: str
    token: str = field(repr=False)
    outbox_path: str | Path
    cursor_path: str | Path | None = None
    """Default: the outbox path with ".cursor" appended."""
    ca_file: str | Path | None = None
    """PEM bundle to verify the cloud's certificate with; None: the system's trust."""
    gateway: int = 255
    capacity: int = 100_000
    """Outbox rows at most; then OutboxFull (or eviction of older rows of equal or lower
    priority, the outbox's rule)."""
    max_bytes: int | None = None
    """Cap on the outbox file; past it OutboxDiskFull."""
    retention: float = RETENTION
    batch_size: int = 200
    batch_wait: float = 1.0
    timeout: float = 10.0
    backoff: Backoff = UPLINK_BACKOFF
    command_wait: float = 25.0
    max_command_age: float | None = 300.0
    first_cursor: int | None = None

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be http(s)://..., got {self.base_url!r}")
        if self.batch_size < 1 or self.batch_wait < 0 or self.timeout <= 0:
            raise ValueError("need batch_size >= 1, batch_wait >= 0 and timeout > 0")

    @property
    def cursor_file(self) -> Path:
        """Where the command cursor is kept."""
        if self.cursor_path is not None:
            return Path(self.cursor_path)
        return Path(f"{self.outbox_path}.cursor")
