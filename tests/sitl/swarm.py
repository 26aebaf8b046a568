"""Helpers for radio tests: listeners that log what each node hears, and frames to send."""

from __future__ import annotations

import trio

from sitl.radio import RadioPort

Heard = list[tuple[float, bytes]]
"""(time handed over, frame) in arrival order."""


async def listen(port: RadioPort, heard: Heard) -> None:
    """Log every frame `port` receives, with the time it was handed over."""
    while True:
        data = await port.receive()
        heard.append((trio.current_time(), data))


def frame(tag: int, size: int = 280) -> bytes:
    """A frame of `size` bytes that says which one it is in its first two bytes."""
    return tag.to_bytes(2, "big") + bytes(size - 2)


def tags(heard: Heard) -> list[int]:
    """The tags of the frames in `heard`, in order."""
    return [int.from_bytes(data[:2], "big") for _, data in heard]
