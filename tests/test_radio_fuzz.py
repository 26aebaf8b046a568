"""Hostile radio input against the RUNNING daemons (issue 17): the agent's and the ground
station's radio each get random bytes, mutated signed frames, replays of captured frames,
validly framed MAVLink with bad signatures, unsigned and truncated frames.

Each daemon must stay up, its memory within 20 % of where it was after a warm-up, count
every input (status.json: datagrams received == accepted + refused by reason, and one
refusal per hostile input), log within limits, and still carry valid traffic after.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import trio

from companion.link import Drop
from companion.link.frame import SIGNATURE_LEN
from sitl.provisioning import provision_fleet
from tests.companion.link.helpers import strip_signature
from tests.radio.air import SIDES, UAV, Daemons, open_daemons, other, receive_queue

WARM_UP = 2_000
INPUTS = 10_000
QUEUE_LIMIT = 32 * 1024
"""Bytes waiting at a daemon's socket before the fuzzer waits: the kernel's buffer (about
200 KB) must never overflow, or a datagram would go uncounted."""
EXPECTED = {Drop.NOISE, Drop.BAD_CRC, Drop.BAD_SIGNATURE, Drop.REPLAY, Drop.TRUNCATED}


def random_bytes(rng: random.Random, frames: Sequence[bytes]) -> bytes:
    noise = rng.randbytes(rng.randrange(0, 300))
    return b"\xfd" + noise if rng.random() < 0.5 else noise


def mutated(rng: random.Random, frames: Sequence[bytes]) -> bytes:
    frame = bytearray(rng.choice(frames))
    for index in rng.sample(range(len(frame)), rng.randint(1, 3)):
        frame[index] ^= rng.randrange(1, 256)
    return bytes(frame)


def replayed(rng: random.Random, frames: Sequence[bytes]) -> bytes:
    return rng.choice(frames)


def badly_signed(rng: random.Random, frames: Sequence[bytes]) -> bytes:
    """Framing and checksum intact; the signature (or its timestamp) is not the key's."""
    frame = bytearray(rng.choice(frames))
    frame[-rng.randrange(1, SIGNATURE_LEN)] ^= rng.randrange(1, 256)
    return bytes(frame)


def unsigned(rng: random.Random, frames: Sequence[bytes]) -> bytes:
    return strip_signature(rng.choice(frames))


def truncated(rng: random.Random, frames: Sequence[bytes]) -> bytes:
    frame = rng.choice(frames)
    return frame[: rng.randrange(1, len(frame))]


KINDS: tuple[Callable[[random.Random, Sequence[bytes]], bytes], ...] = (
    random_bytes,
    mutated,
    replayed,
    badly_signed,
    unsigned,
    truncated,
)


def hostile(rng: random.Random, frames: Sequence[bytes], count: int) -> Iterator[bytes]:
    for n in range(count):
        yield KINDS[n % len(KINDS)](rng, frames)


def refused(status: dict[str, Any]) -> int:
    return sum(status["stack"]["link"]["datagrams_refused"].values())


async def send(daemons: Daemons, side: str, inputs: Iterator[bytes]) -> int:
    """Inject `inputs` into `side`'s radio, never faster than it reads them; how many."""
    port = daemons.air.addresses[side][1]
    sent = 0
    for data in inputs:
        await daemons.air.inject(side, data)
        sent += 1
        if sent % 20 == 0:
            while receive_queue(port)[0] > QUEUE_LIMIT:
                await trio.sleep(0.001)
    assert receive_queue(port)[1] == 0, "the kernel dropped datagrams: they went uncounted"
    return sent


async def fuzz(daemons: Daemons, side: str, rng: random.Random) -> dict[str, Any]:
    await daemons.until(lambda: bool(daemons.status(side).get("stack")), f"{side}'s status.json")
    frames = [f for f in daemons.air.heard[other(side)] if f[2] & 1]  # signed, already relayed
    assert frames
    before = daemons.status(side)
    sent = await send(daemons, side, hostile(rng, frames, WARM_UP))
    await daemons.until(
        lambda: refused(daemons.status(side)) >= refused(before) + sent, f"{side} counts warm-up"
    )
    rss_before = daemons.rss(side)
    started = trio.current_time()
    sent += await send(daemons, side, hostile(rng, frames, INPUTS))
    await daemons.until(
        lambda: refused(daemons.status(side)) >= refused(before) + sent, f"{side} counts all"
    )
    after = daemons.status(side)
    link, earlier = after["stack"]["link"], before["stack"]["link"]
    reasons = {
        Drop(reason)
        for reason, count in link["datagrams_refused"].items()
        if count > earlier["datagrams_refused"].get(reason, 0)
    }
    figures = {
        "sent": sent,
        "seconds": round(trio.current_time() - started, 1),
        "rss_kb": (rss_before, daemons.rss(side)),
        "refused": link["datagrams_refused"],
        "received": link["datagrams_received"],
        "accepted": link["datagrams_accepted"],
    }
    print(side, figures)
    assert daemons.alive(side)
    assert link["datagrams_received"] == link["datagrams_accepted"] + refused(after)
    assert refused(after) - refused(before) == sent, figures  # every input, and only those
    assert EXPECTED | {Drop.UNSIGNED} <= reasons, figures
    assert daemons.rss(side) <= rss_before * 1.2, figures
    return figures


async def test_hostile_radio_input_is_refused_counted_and_survived(tmp_path: Path) -> None:
    files = provision_fleet(tmp_path / "fleet", (UAV,))
    rng = random.Random(17)
    async with open_daemons(files, tmp_path / "logs") as daemons:
        for side in SIDES:
            await fuzz(daemons, side, rng)
        assert all(daemons.alive(side) for side in SIDES)
        await daemons.detect(track_id=1)
        await daemons.until(
            lambda: daemons.status("station").get("gateway", {}).get("arrived", 0) >= 1,
            "a detection after the fuzz reaches the ground station",
        )
        exits = await daemons.stop()
    assert exits == {"station": 0, "agent": 0}
    for side in SIDES:
        log = (tmp_path / "logs" / f"{side}.log").read_text()
        lines = log.count("event=radio_drop reason=")
        assert 1 <= lines <= 2 * len(Drop), f"{side} logged {lines} drop lines"
