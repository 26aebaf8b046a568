"""examples/detector_client.py: a datagram that is not the agent's answer decides nothing."""

from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path
from types import ModuleType

CLIENT = Path(__file__).resolve().parents[1] / "examples" / "detector_client.py"


def client() -> ModuleType:
    spec = importlib.util.spec_from_file_location("detector_client", CLIENT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_garbage_answers_are_skipped_until_stored() -> None:
    stored = {"stored": True, "time": 5000, "track_id": 4}
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as agent,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as detector,
    ):
        agent.bind(("127.0.0.1", 0))
        detector.bind(("127.0.0.1", 0))
        detector.settimeout(30)
        for junk in (b"[not json\n", b"[1, 2]\n\xff\n", json.dumps(stored).encode()):
            agent.sendto(junk, detector.getsockname())
        said = client().hand_over(detector, agent.getsockname(), b"{}\n", stored)
    assert said == "stored"
