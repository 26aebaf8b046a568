"""Link benchmark: frames per second through the link layer, and bytes on the air.

Measures, in one run on this machine:
- frame + sign: `Link.send` of a detection (pymavlink packing, MAVLink 2 signature);
- verify + parse: `Link.receive_data` of the same frames (checksum, signature, replay
  guard, decode);
- the peer: pymavlink's own signed send and parse path (`MAVLink.send` and
  `MAVLink.parse_buffer` with signing on), the same messages, the same run;
- bytes on the air for one detection frame, signed, and sealed (the envelope adds 24
  bytes), beside the seed design's (../shared/peers/seed_baseline.py, when present).
Absolute rates on a shared machine are noisy; the ratios are the figures to read.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

from companion.link import Link, LinkConfig
from dialects import event

from . import seed
from .table import Row, render

KEY = bytes(range(32))
NOW = 1_750_000_000.0
SEAL_OVERHEAD = 24
FRAME_OVERHEAD = 25
"""MAVLink 2 header, checksum and signature block: what each signed frame adds."""


def detection(seq: int, now: float = NOW) -> Any:
    """A detection as the agent sends it, number `seq`, stamped `now` (Unix s) + seq ms."""
    return event.MAVLink_event_detection_message(
        seq, int(now * 1000) + seq, -353632621, 1491652374, 584, 12, [120, 88, 64, 40], 0, 3, 91
    )


def rate(n: int, work: Callable[[], object]) -> float:
    """Operations per second: best of three timed runs of `work` doing n operations."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return n / best


def ours(n: int) -> dict[str, float]:
    messages = [detection(i) for i in range(n)]
    sender = Link(LinkConfig(system_id=3, key=KEY))
    frames: list[bytes] = []

    def send() -> None:
        frames.clear()
        frames.extend(sender.send(m, NOW) for m in messages)

    def receive() -> None:
        receiver = Link(LinkConfig(system_id=255, key=KEY))
        got = receiver.receive_data(b"".join(frames), NOW)
        assert len(got) == n

    return {"send": rate(n, send), "receive": rate(n, receive)}


def pymavlink_peer(n: int) -> dict[str, float]:
    messages = [detection(i) for i in range(n)]
    out = io.BytesIO()

    def send() -> None:
        out.seek(0)
        out.truncate()
        mav = event.MAVLink(out, 3, 191)
        mav.signing.secret_key, mav.signing.sign_outgoing = KEY, True
        mav.signing.timestamp = 1
        for m in messages:
            mav.send(m)

    def receive() -> None:
        mav = event.MAVLink(None, 255, 191)
        mav.signing.secret_key = KEY
        got = mav.parse_buffer(out.getvalue())
        assert got is not None
        assert len(got) == n

    return {"send": rate(n, send), "receive": rate(n, receive)}


def rows(*, quick: bool = False) -> list[Row]:
    """Frame rates beside pymavlink's (the peer here), bytes on the air beside the seed's."""
    n = 500 if quick else 5000
    mine, peer = ours(n), pymavlink_peer(n)
    frame = Link(LinkConfig(system_id=3, key=KEY)).send(detection(1), NOW)
    sealed = len(frame) + SEAL_OVERHEAD
    found = [
        Row("link", "frame + sign", mine["send"], "frames/s", peer["send"], note="peer: pymavlink"),
        Row(
            "link",
            "verify + parse",
            mine["receive"],
            "frames/s",
            peer["receive"],
            note="peer: pymavlink",
        ),
    ]
    seed_figures = seed.figures(20)
    seed_bytes = None
    if seed_figures is not None:
        frames_needed = seed_figures["mavlink2_frames_needed"]
        seed_bytes = seed_figures["detection_on_air_bytes"] + frames_needed * FRAME_OVERHEAD
    found.append(
        Row(
            "link",
            "detection on the air, signed + sealed",
            sealed,
            "bytes",
            seed_bytes,
            higher_is_better=False,
            note="peer: seed design",
        )
    )
    return found


if __name__ == "__main__":
    print(render(rows()))
