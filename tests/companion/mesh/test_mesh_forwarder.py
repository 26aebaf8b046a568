"""The data plane on its own: who takes a frame, loops, hop limits, duplicates, the store."""

from __future__ import annotations

from typing import Any

from companion.mesh.forwarder import STORE_LIMIT, Forwarder
from companion.mesh.router import Router
from companion.mesh.routes import Route
from dialects import event

ME, NEIGHBOR, FAR = 5, 6, 9


def envelope(
    counter: int = 1, dst: int = FAR, hops: int = 15, next_hop: int = ME, priority: int = 1
) -> Any:
    meta = priority | hops << 4
    return event.MAVLink_event_envelope_message(
        [counter, 0, 0], 3, dst, meta, next_hop, [7] * 20 + [0] * 228
    )


def forwarder_with_route() -> Forwarder:
    router = Router(ME)
    router.routes.offer(Route(FAR, NEIGHBOR, 2, 32, 4, expires=1e9), 0.0)
    return Forwarder(router)


def test_frame_for_another_next_hop_is_overheard() -> None:
    fwd = forwarder_with_route()
    assert fwd.receive(envelope(next_hop=8), 3, 0.0) is None
    assert fwd.counters == {"overheard": 1}
    assert fwd.frames_to_send() == []


def test_frame_is_passed_on_with_one_hop_less() -> None:
    fwd = forwarder_with_route()
    assert fwd.receive(envelope(hops=4), 3, 0.0) is None
    (out,) = fwd.frames_to_send()
    assert (out.message.next_hop, out.message.meta >> 4, out.priority) == (NEIGHBOR, 3, 1)


def test_frame_for_us_goes_up() -> None:
    fwd = forwarder_with_route()
    mine = envelope(dst=ME)
    assert fwd.receive(mine, 3, 0.0) is mine


def test_duplicates_are_passed_on_once() -> None:
    fwd = forwarder_with_route()
    fwd.receive(envelope(), 3, 0.0)
    fwd.receive(envelope(), 4, 0.0)
    assert len(fwd.frames_to_send()) == 1
    assert fwd.counters["duplicate"] == 1


def test_hop_limit_and_loops() -> None:
    fwd = forwarder_with_route()
    fwd.receive(envelope(counter=1, hops=1), 3, 0.0)
    fwd.receive(envelope(counter=2), NEIGHBOR, 0.0)  # would go straight back
    assert fwd.frames_to_send() == []
    assert fwd.counters["hop_limit"] == 1
    assert fwd.counters["loop"] == 1


def test_store_is_bounded_and_evicts_lowest_priority_first() -> None:
    fwd = Forwarder(Router(ME))
    for i in range(STORE_LIMIT):
        fwd.receive(envelope(counter=i + 1, dst=77, priority=3), 3, 0.0)
    fwd.receive(envelope(counter=9999, dst=77, priority=0), 3, 0.0)
    assert fwd.stored == STORE_LIMIT
    assert fwd.counters["store_evicted"] == 1
    fwd.on_timer(3600.0)
    assert fwd.stored == 0
    assert fwd.counters["expired"] == STORE_LIMIT


def test_a_later_copy_is_a_retransmission_and_goes_on_again() -> None:
    fwd = forwarder_with_route()
    fwd.receive(envelope(), 3, 0.0)
    fwd.receive(envelope(), 4, 0.5)  # another path, same moment: a duplicate
    fwd.receive(envelope(), 3, 2.0)  # the originator sent it again: pass it on
    assert len(fwd.frames_to_send()) == 2
    assert fwd.counters["duplicate"] == 1


def test_the_way_back_is_learned_from_what_passes() -> None:
    router = Router(ME)
    hello = event.MAVLink_event_hello_message(
        1, 0, 1, 0xFFFF, 30, 0, 255, 0, 1, [ME, 255] + [0] * 62
    )
    router.receive(hello, 3, 0.0)
    fwd = Forwarder(router)
    fwd.receive(envelope(dst=ME, hops=13), 3, 0.0)  # two relays decremented it: 3 hops
    route = router.routes.lookup(3, 0.0)
    assert route is not None
    assert (route.next_hop, route.hops, route.dest_seq) == (3, 3, None)
