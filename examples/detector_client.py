"""Example onboard-detector client: sends detections to the EVENT agent as JSON lines.

It needs nothing but the Python standard library, so a detector in any language can do
the same: one JSON object per line, in UDP datagrams to the agent's detector port.

    python examples/detector_client.py --port 14600 --count 5 --chip photo.jpg

Fields (docs/detector.md has the rules, limits and refusal reasons): class_id 0-255,
confidence 0.0-1.0, bbox [x, y, width, height] in pixels, track_id 0-65535, optional
priority (critical, high, medium, low), optional chip (base64 JPEG; a line must fit in one
datagram, MAX_LINE bytes, so about 48 KiB), optional time (Unix seconds the frame was
taken). The agent adds the vehicle's position and its clock.

The agent answers each line once the detection is committed to its durable outbox,
`{"stored":true,"time":MS,"track_id":N}`, or refuses it, `{"stored":false,"error":...}`.
This client keeps each detection until it hears "stored" and sends the very same line
again every `--resend` seconds meanwhile, so an agent that restarts (or a datagram lost
on the way) loses nothing: the same `time` and `track_id` make it one record at the
command center however often it was stored. A refused line is reported, not resent.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import time
from pathlib import Path

MAX_LINE = 65507
"""The most one UDP datagram over IPv4 carries: a longer line cannot be sent."""


def detection(track_id: int, taken: float, chip: bytes | None) -> dict[str, object]:
    report: dict[str, object] = {
        "class_id": 3,
        "confidence": 0.87,
        "bbox": [120, 88, 64, 40],
        "track_id": track_id,
        "time": taken,
    }
    if chip is not None:
        report["chip"] = base64.b64encode(chip).decode("ascii")
    return report


def hand_over(sock: socket.socket, agent: tuple[str, int], line: bytes, stored: object) -> str:
    """Send `line` until the agent answers `stored` (or refuses it); what it said."""
    while True:
        sock.sendto(line, agent)
        try:
            data = sock.recv(65535)
        except TimeoutError:
            continue  # the agent is down or a datagram was lost: the same line again
        for answer in data.splitlines():
            try:
                said = json.loads(answer)
            except ValueError:
                continue  # not the agent's answer: whoever sent it, it decides nothing
            if not isinstance(said, dict):
                continue
            if said == stored:
                return "stored"
            if said.get("stored") is False:
                return f"refused: {said.get('error', '')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=14600)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--resend", type=float, default=1.0, help="seconds between resends")
    parser.add_argument("--chip", type=Path, help="a small JPEG to attach to each detection")
    args = parser.parse_args()
    chip = args.chip.read_bytes() if args.chip else None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(args.resend)
        for track_id in range(1, args.count + 1):
            taken = time.time()
            line = (json.dumps(detection(track_id, taken, chip)) + "\n").encode()
            if len(line) > MAX_LINE:
                parser.error(
                    f"a line of {len(line)} bytes does not fit in a datagram: a smaller chip"
                )
            stored = {"stored": True, "time": int(taken * 1000), "track_id": track_id}
            outcome = hand_over(sock, (args.host, args.port), line, stored)
            print(f"detection track_id={track_id}: {outcome}")
            if track_id < args.count:
                time.sleep(args.interval)


if __name__ == "__main__":
    main()
