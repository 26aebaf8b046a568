"""The onboard detectors of the demo's UAVs: JSON lines to each agent's UDP intake.

Rules:
- A UAV's detector reports a target (a point of the plan) once, when the UAV is airborne
  within `DETECT_RADIUS` of it, with HIGH priority; and, while airborne, background
  detections drawn from the seeded RNG (class 0, MEDIUM), every third with an image chip
  (a real small JPEG), which the agent sends as a LOW-priority bulk transfer.
- Each line carries its own `time`, so the report can match it at the command center to
  the millisecond; every line sent is logged as a "detection_fed" event.
- The detectors speak the documented intake format and need none of the agent's code,
  like a real detector process.
"""

from __future__ import annotations

import base64
import io
import json
import math
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import trio
from matplotlib import image

from .plan import DETECT_RADIUS, Plan, Target


class Detectors:
    """Every UAV's detector; `feed()` runs until `feeding` is cleared."""

    def __init__(
        self,
        plan: Plan,
        port_base: int,
        vehicle: Callable[[int], dict[str, Any]],
        log: Callable[..., None],
    ) -> None:
        self.plan = plan
        self.port_base = port_base
        self.vehicle = vehicle
        self.log = log
        self.rng = random.Random(plan.seed)
        self.sent: set[tuple[int, int]] = set()
        """(UAV, track id) of every detection sent; a target's track id is sent once."""
        self.feeding = True

    async def feed(self) -> None:
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        background = 1000
        with sock:
            while self.feeding:
                for uav in self.plan.uavs:
                    vehicle = self.vehicle(uav.node)
                    if not vehicle or vehicle.get("landed", True):
                        continue
                    for target in self.plan.targets:
                        if (uav.node, target.track_id) not in self.sent and _near(vehicle, target):
                            await self.detect(sock, uav.node, target.track_id, target.class_id)
                    if self.rng.random() < 0.06:
                        background += 1
                        await self.detect(sock, uav.node, background, 0, background % 3 == 0)
                await trio.sleep(1.0)

    async def detect(
        self,
        sock: trio.socket.SocketType,
        node: int,
        track_id: int,
        class_id: int,
        chip_too: bool = False,
    ) -> None:
        self.sent.add((node, track_id))
        taken = round(time.time(), 3)
        priority = "high" if class_id else "medium"
        line: dict[str, Any] = {
            "class_id": class_id,
            "confidence": round(0.6 + 0.4 * self.rng.random(), 2),
            "bbox": [self.rng.randrange(600), self.rng.randrange(400), 48, 48],
            "track_id": track_id,
            "time": taken,
            "priority": priority,
        }
        jpeg = chip(self.rng) if chip_too else b""
        if jpeg:
            line["chip"] = base64.b64encode(jpeg).decode("ascii")
        data = (json.dumps(line) + "\n").encode()
        await sock.sendto(data, ("127.0.0.1", self.port_base + node))
        self.log(
            "detection_fed",
            f"UAV {node} detects track {track_id}" + (" (with image)" if jpeg else ""),
            uav=node,
            track_id=track_id,
            time=taken,
            priority=priority,
            chip_bytes=len(jpeg),
        )


def chip(rng: random.Random) -> bytes:
    """A small real JPEG (a 48x48 noisy patch), as an onboard detector would crop."""
    pixels = np.array(
        [[[rng.random(), rng.random() * 0.5, 0.3] for _ in range(48)] for _ in range(48)]
    )
    buffer = io.BytesIO()
    image.imsave(buffer, pixels, format="jpeg")
    return buffer.getvalue()


def _near(vehicle: dict[str, Any], target: Target) -> bool:
    return math.dist((vehicle["x"], vehicle["y"]), (target.east, target.north)) < DETECT_RADIUS
