"""Anything a neighbour with the link key can send: counted or used, never an exception,
and memory stays bounded."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from companion.mesh.forwarder import SEEN_LIMIT, STORE_LIMIT, Forwarder
from companion.mesh.router import SEEN_REQUESTS, Router
from dialects import event
from tests.samples import sample_message

CONTROL = [
    event.MAVLink_event_hello_message,
    event.MAVLink_event_route_request_message,
    event.MAVLink_event_route_reply_message,
    event.MAVLink_event_route_error_message,
]
SEALED = [
    event.MAVLink_event_envelope_message,
    event.MAVLink_event_fragment_message,
    event.MAVLink_event_handshake_message,
]


def hostile(classes: list[Any], rng: random.Random, me: int) -> Any:
    message = sample_message(rng.choice(classes), rng)
    for name in ("next_hop", "dst", "origin", "dest"):
        if hasattr(message, name) and rng.random() < 0.5:
            setattr(message, name, me)  # aim some of it at us
    return message


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 300))
def test_arbitrary_control_and_sealed_frames(seed: int, count: int) -> None:
    rng = random.Random(seed)
    router = Router(7)
    forwarder = Forwarder(router)
    now = 0.0
    for _ in range(count):
        now += rng.uniform(0, 2)
        src = rng.randrange(1, 256)
        if rng.random() < 0.5:
            router.receive(hostile(CONTROL, rng, 7), src, now)
        else:
            forwarder.receive(hostile(SEALED, rng, 7), src, now)
        if rng.random() < 0.1:
            router.on_timer(now)
            forwarder.on_timer(now)
        router.frames_to_send()
        forwarder.frames_to_send()
    assert forwarder.stored <= STORE_LIMIT
    assert len(forwarder._seen) <= SEEN_LIMIT
    assert len(router._seen) <= SEEN_REQUESTS
