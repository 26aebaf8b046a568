"""`event-outbox PATH`: an operator's read-only view of a node's outbox.

Rules:
- Read only: the file is opened with `mode=ro`, never migrated or changed.
- Prints depth by priority and destination, oldest message age, in flight, evictions,
  expiries and quarantined; `--json-lines` prints the same as one JSON object;
  `--export` prints each pending message as a JSON line, payload in hex.
- Errors (missing, damaged or too new a file) are one line on stderr and exit status 2,
  never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from ..reliability.priority import Priority
from .errors import OutboxError
from .records import OutboxStats
from .store import Store


def _priority(value: int) -> str:
    return Priority(value).name if value in Priority._value2member_map_ else str(value)


def summary(stats: OutboxStats) -> dict[str, object]:
    """The figures an operator reads, as plain JSON values."""
    return {
        "depth": stats.depth,
        "by_priority": {_priority(p): n for p, n in stats.by_priority.items()},
        "by_destination": {str(d): n for d, n in stats.by_destination.items()},
        "in_flight": stats.in_flight,
        "oldest_age_s": None if stats.oldest_age is None else round(stats.oldest_age, 3),
        "evictions": stats.evictions,
        "expiries": stats.expiries,
        "quarantined": stats.quarantined,
    }


def _table(figures: dict[str, object]) -> str:
    lines = []
    for name, value in figures.items():
        if isinstance(value, dict):
            parts = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
            lines.append(f"{name:<16}{parts}")
        else:
            lines.append(f"{name:<16}{'-' if value is None else value}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `event-outbox`; returns the exit status."""
    parser = argparse.ArgumentParser(prog="event-outbox", description=__doc__.splitlines()[0])
    parser.add_argument("path", help="the outbox database file")
    parser.add_argument("--json-lines", action="store_true", help="print the summary as JSON")
    parser.add_argument("--export", action="store_true", help="print pending messages as JSON")
    args = parser.parse_args(argv)
    try:
        store = Store.open(args.path, readonly=True)
    except OutboxError as exc:
        print(f"event-outbox: {exc}", file=sys.stderr)
        return 2
    try:
        if args.export:
            for message in store.pending():
                row = {"id": message.id, "key": message.key, "destination": message.destination}
                row |= {"priority": _priority(message.priority), "created": message.created}
                row |= {"expires": message.expires, "attempts": message.attempts}
                print(json.dumps(row | {"payload": bytes(message.payload).hex()}))
        elif args.json_lines:
            print(json.dumps(summary(store.stats(time.time()))))
        else:
            print(_table(summary(store.stats(time.time()))))
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
