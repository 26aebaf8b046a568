"""Example onboard-detector client: sends detections to the EVENT agent as JSON lines.

It needs nothing but the Python standard library, so a detector in any language can do
the same: one JSON object per line, in UDP datagrams to the agent's detector port.

    python examples/detector_client.py --port 14600 --count 5 --chip photo.jpg

Fields (companion/agent/intake.py has the rules): class_id 0-255, confidence 0.0-1.0,
bbox [x, y, width, height] in pixels, track_id 0-65535, optional priority (critical,
high, medium, low), optional chip (base64 JPEG, at most 64 KiB), optional time (Unix
seconds the frame was taken). The agent adds the vehicle's position and its clock.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import time
from pathlib import Path


def detection(track_id: int, chip: bytes | None) -> dict[str, object]:
    report: dict[str, object] = {
        "class_id": 3,
        "confidence": 0.87,
        "bbox": [120, 88, 64, 40],
        "track_id": track_id,
        "time": time.time(),
    }
    if chip is not None:
        report["chip"] = base64.b64encode(chip).decode("ascii")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=14600)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--chip", type=Path, help="a small JPEG to attach to each detection")
    args = parser.parse_args()
    chip = args.chip.read_bytes() if args.chip else None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for track_id in range(1, args.count + 1):
            line = json.dumps(detection(track_id, chip)) + "\n"
            sock.sendto(line.encode(), (args.host, args.port))
            print(f"sent detection track_id={track_id}")
            if track_id < args.count:
                time.sleep(args.interval)


if __name__ == "__main__":
    main()
