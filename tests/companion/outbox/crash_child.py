"""Child process of the crash test: enqueue forever, print each key once committed.

Run as `python -m tests.companion.outbox.crash_child PATH ROUND`. Four producers share
the outbox, so kills land inside group commits as well as between them.
"""

from __future__ import annotations

import sys
import time

import trio

from companion.outbox import Outbox, OutboxItem, open_outbox
from companion.reliability.priority import Priority

PRODUCERS = 4


async def produce(outbox: Outbox, round_id: str, producer: int) -> None:
    for seq in range(1_000_000):
        key = f"{round_id}:{producer}:{seq}"
        await outbox.enqueue(
            OutboxItem(
                key=key,
                destination=producer,
                priority=Priority.LOW,
                payload=key.encode().ljust(60, b"."),
                created=time.time(),
            )
        )
        print(key, flush=True)


async def main(path: str, round_id: str) -> None:
    async with open_outbox(path, max_messages=1_000_000) as outbox, trio.open_nursery() as nursery:
        for producer in range(PRODUCERS):
            nursery.start_soon(produce, outbox, round_id, producer)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2])
