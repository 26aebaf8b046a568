"""Security benchmark: seal+open rate and bytes on the air, against the seed design.

Measures, in one run on this machine:
- this project: a detection sealed by one node's `SessionManager` (bundle encoding,
  ChaCha20-Poly1305, envelope) and opened by the other's (replay window, tag, bundle
  decoding, certificate checks), over an established session;
- the seed design: ../shared/peers/seed_baseline.py (JSON, RSA-2048 + AES-256-CBC,
  RSA-PSS signature), run as a subprocess in the same run.
Bytes on the air count the MAVLink 2 frames that carry one detection, signed (25 bytes
of header, checksum and signature per frame), for both.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from companion.link import SigningClock
from companion.link.payload import encode_payload
from companion.security.authority import FleetAuthority
from companion.security.certificate import Role
from companion.security.revocation import RevocationState
from companion.security.session import SessionManager
from dialects import event

from .table import Row

SEED_PEER = Path(__file__).resolve().parents[2] / "shared" / "peers" / "seed_baseline.py"
FRAME_OVERHEAD = 25
WALL = 1_780_000_000.0


def detection(seq: int) -> Any:
    return event.MAVLink_event_detection_message(
        seq, 1_780_000_000_000 + seq, -353632621, 1491652374, 584, 12, [120, 88, 64, 40], 0, 3, 91
    )


def manager(authority: FleetAuthority, node_id: int, role: Role) -> SessionManager:
    _, keys = authority.issue(node_id, role, valid_for=86_400, now=WALL)
    return SessionManager(keys, RevocationState(), SigningClock())


def connected_pair() -> tuple[SessionManager, SessionManager]:
    authority = FleetAuthority.create("bench")
    uav, gs = manager(authority, 3, Role.UAV), manager(authority, 255, Role.GROUND_STATION)
    uav.send(255, [detection(0)], 1, 0.0, WALL)
    for _ in range(3):
        for a, b in ((uav, gs), (gs, uav)):
            for frame in a.frames_to_send():
                b.receive(frame, 0.0, WALL)
    assert uav.established(255)
    assert gs.established(3)
    return uav, gs


def ours(n: int) -> dict[str, float]:
    uav, gs = connected_pair()
    messages = [detection(i) for i in range(n)]
    start = time.perf_counter()
    for m in messages:
        uav.send(255, [m], 1, 0.0, WALL)
    frames = uav.frames_to_send()
    sealed = time.perf_counter()
    opened = sum(len(gs.receive(f, 0.0, WALL)) for f in frames)
    done = time.perf_counter()
    assert opened == n
    data = bytes(frames[0].data).rstrip(b"\x00")
    return {
        "seal_per_s": n / (sealed - start),
        "open_per_s": n / (done - sealed),
        "seal_open_per_s": n / (done - start),
        "on_air": 7 + len(data) + FRAME_OVERHEAD,
        "overhead": 7 + len(data) - len(encode_payload(messages[0])),
    }


def seed(n: int) -> dict[str, Any] | None:
    if not SEED_PEER.exists():
        return None
    done = subprocess.run(
        [sys.executable, str(SEED_PEER), str(n)], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def rows(*, quick: bool = False) -> list[Row]:
    """Seal + open rate and sealed detection size, beside the seed design's."""
    mine = ours(500 if quick else 5000)
    peer = seed(50 if quick else 200)
    seed_rate = None
    if peer is not None:
        seed_rate = 1 / (1 / peer["seal_and_sign_per_s"] + 1 / peer["open_per_s"])
    return [
        Row(
            "security",
            "seal + open a detection",
            mine["seal_open_per_s"],
            "msg/s",
            seed_rate,
            note="peer: seed design",
        ),
        Row(
            "security", "sealing overhead", mine["overhead"], "bytes", None, higher_is_better=False
        ),
    ]


def main() -> None:
    mine = ours(5000)
    print("security benchmark (one detection per message, established session)")
    print(f"this project: seal {mine['seal_per_s']:,.0f}/s, open {mine['open_per_s']:,.0f}/s,")
    print(f"  seal+open {mine['seal_open_per_s']:,.0f}/s; sealing adds {mine['overhead']} B;")
    print(f"  one detection on the air: {mine['on_air']} B in 1 frame")
    peer = seed(200)
    if peer is None:
        print("seed design: ../shared/peers/seed_baseline.py not found, skipped")
        return
    seed_rate = 1 / (1 / peer["seal_and_sign_per_s"] + 1 / peer["open_per_s"])
    frames = peer["mavlink2_frames_needed"]
    seed_air = peer["detection_on_air_bytes"] + FRAME_OVERHEAD * frames
    print(
        f"seed design:  seal+sign {peer['seal_and_sign_per_s']:,.0f}/s, open "
        f"{peer['open_per_s']:,.0f}/s, seal+open {seed_rate:,.0f}/s;"
    )
    print(
        f"  one detection on the air: {seed_air} B in {frames} frames, "
        f"overhead {peer['detection_on_air_bytes'] - peer['detection_plaintext_bytes']} B"
    )
    print(
        f"ratios: {seed_air / mine['on_air']:.1f}x fewer bytes on the air, "
        f"{mine['seal_open_per_s'] / seed_rate:.1f}x faster seal+open"
    )


if __name__ == "__main__":
    main()
