"""Security benchmark: seal+open rate against the seed design, and the bytes sealing adds.

Measures, in one run on this machine:
- this project: a detection sealed by one node's `SessionManager` (bundle encoding,
  ChaCha20-Poly1305, envelope) and opened by the other's (replay window, tag, bundle
  decoding, certificate checks), over an established session;
- the seed design: ../shared/peers/seed_baseline.py (JSON, RSA-2048 + AES-256-CBC,
  RSA-PSS signature), run as a subprocess in the same run.
The seed's rate is that of its seal + sign and its open in sequence, the same work as
ours. Bytes on the air for one detection, beside the seed's, are bench/link.py's row.
"""

from __future__ import annotations

import time

from companion.link import SigningClock
from companion.link.payload import encode_payload
from companion.security.authority import FleetAuthority
from companion.security.certificate import Role
from companion.security.revocation import RevocationState
from companion.security.session import SessionManager

from . import seed
from .link import detection
from .table import Row, render

WALL = 1_780_000_000.0


def manager(authority: FleetAuthority, node_id: int, role: Role) -> SessionManager:
    _, keys = authority.issue(node_id, role, valid_for=86_400, now=WALL)
    return SessionManager(keys, RevocationState(), SigningClock())


def connected_pair() -> tuple[SessionManager, SessionManager]:
    authority = FleetAuthority.create("bench")
    uav, gs = manager(authority, 3, Role.UAV), manager(authority, 255, Role.GROUND_STATION)
    uav.send(255, [detection(0, WALL)], 1, 0.0, WALL)
    for _ in range(3):
        for a, b in ((uav, gs), (gs, uav)):
            for frame in a.frames_to_send():
                b.receive(frame, 0.0, WALL)
    assert uav.established(255)
    assert gs.established(3)
    return uav, gs


def ours(n: int) -> tuple[float, int]:
    """Detections sealed and opened per second over an established session, and the bytes
    sealing adds to one."""
    uav, gs = connected_pair()
    messages = [detection(i, WALL) for i in range(n)]
    start = time.perf_counter()
    for m in messages:
        uav.send(255, [m], 1, 0.0, WALL)
    frames = uav.frames_to_send()
    opened = sum(len(gs.receive(f, 0.0, WALL)) for f in frames)
    done = time.perf_counter()
    assert opened == n
    data = bytes(frames[0].data).rstrip(b"\x00")
    return n / (done - start), 7 + len(data) - len(encode_payload(messages[0]))


def rows(*, quick: bool = False) -> list[Row]:
    """Seal + open rate beside the seed design's, and the sealing overhead."""
    rate, overhead = ours(500 if quick else 5000)
    seed_figures = seed.figures(50 if quick else 200)
    seed_rate = None
    if seed_figures is not None:
        seed_rate = 1 / (1 / seed_figures["seal_and_sign_per_s"] + 1 / seed_figures["open_per_s"])
    return [
        Row(
            "security",
            "seal + open a detection",
            rate,
            "msg/s",
            seed_rate,
            note="peer: seed design",
        ),
        Row("security", "sealing overhead", overhead, "bytes", None, higher_is_better=False),
    ]


if __name__ == "__main__":
    print(render(rows()))
