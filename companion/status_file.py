"""A daemon's status file: its counters as JSON, replaced atomically for readers.

Rules:
- Written to a temporary name beside the target, then renamed over it, so a reader
  (an operator's dashboard, the swarm demo) sees the old file or the new, never half.
- No fsync: the file is a view of the moment, rewritten every few seconds, not a record.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from .outbox.records import OutboxStats


def write_status(path: Path, status: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(status, default=str), encoding="utf-8")
    os.replace(partial, path)


def outbox_status(stats: OutboxStats) -> dict[str, Any]:
    """An outbox's depth and lifetime counters, as status.json carries them."""
    return {"depth": stats.depth, **dataclasses.asdict(stats)}
