"""The control plane: neighbours, the gateway advert, discovery, breaks, bad input."""

from __future__ import annotations

from typing import Any

from companion.mesh.neighbors import COST_UNIT
from companion.mesh.router import HELLO_INTERVAL, Router
from dialects import event

from .harness import Mesh

GS = 255


def line() -> Mesh:
    """The ground station and four UAVs in a line; each hears only its neighbours."""
    return Mesh([GS, 1, 2, 3, 4], [(GS, 1), (1, 2), (2, 3), (3, 4)], gateway=GS)


def test_neighbours_and_perfect_link_cost() -> None:
    mesh = line()
    mesh.run(10 * HELLO_INTERVAL)
    assert mesh.routers[2].neighbors.cost(1) == COST_UNIT
    assert 4 not in mesh.routers[2].neighbors


def test_gateway_route_needs_no_discovery() -> None:
    mesh = line()
    mesh.run(10 * HELLO_INTERVAL)
    assert mesh.route(4, GS) == [4, 3, 2, 1, GS]
    route = mesh.routers[4].routes.lookup(GS, mesh.now)
    assert route is not None
    assert (route.hops, route.cost) == (4, 4 * COST_UNIT)
    assert all(r.counters["request_sent"] == 0 for r in mesh.routers.values())


def test_discovery_of_a_uav_by_another() -> None:
    mesh = line()
    mesh.run(10 * HELLO_INTERVAL)
    mesh.routers[4].discover(1, mesh.now)
    mesh.run(1)
    assert mesh.route(4, 1) == [4, 3, 2, 1]
    assert mesh.route(1, 4) == [1, 2, 3, 4]  # the reverse route the request laid
    assert mesh.routers[4].counters["route_discovered"] == 1


def test_link_break_is_repaired_through_another_relay() -> None:
    mesh = Mesh([GS, 1, 2, 3], [(GS, 1), (GS, 2), (1, 3), (2, 3)], gateway=GS)
    mesh.run(10 * HELLO_INTERVAL)
    first = mesh.route(3, GS)
    relay = first[1]
    mesh.cut(3, relay)
    broke = mesh.now
    while mesh.route(3, GS)[1:2] == [relay] and mesh.now < broke + 60:
        mesh.run(0.5)
    assert mesh.route(3, GS) == [3, 3 - relay, GS]
    assert mesh.now - broke <= 4 * HELLO_INTERVAL


def test_route_error_reaches_upstream() -> None:
    mesh = line()
    mesh.run(10 * HELLO_INTERVAL)
    mesh.routers[4].discover(1, mesh.now)
    mesh.run(1)
    mesh.routers[3].link_failed(2, mesh.now)
    mesh.deliver()
    assert mesh.routers[4].routes.lookup(1, mesh.now) is None
    assert mesh.routers[3].counters["error_sent"] == 1


def request(origin: int, request_id: int, hop_count: int = 0, hops_left: int = 15) -> Any:
    return event.MAVLink_event_route_request_message(
        request_id, 5, 0, 0, origin, 200, hop_count, hops_left, 1
    )


def test_impossible_hop_counts_are_refused() -> None:
    router = Router(7)
    router.receive(request(9, 1, hop_count=200), 9, 0.0)
    router.receive(request(9, 2, hops_left=99), 9, 0.0)
    assert router.counters["bad_hop_count"] == 2
    assert router.frames_to_send() == []


def test_duplicate_and_own_requests_are_dropped() -> None:
    router = Router(7)
    router.receive(request(9, 1), 9, 0.0)
    router.receive(request(9, 1), 8, 0.0)
    router.receive(request(7, 1), 9, 0.0)
    assert router.counters["duplicate_request"] == 1
    assert router.counters["own_request_returned"] == 1
    assert len(router.frames_to_send()) == 1


def test_request_flood_is_rate_limited() -> None:
    router = Router(7)
    for origin in range(10, 110):
        router.receive(request(origin, 1), origin, 0.5)
    assert router.counters["request_forwarded"] == 10
    assert router.counters["request_rate_limited"] == 90


def test_sequence_number_jump_is_refused() -> None:
    router = Router(7)
    router.receive(request(9, 1), 9, 0.0)
    absurd = event.MAVLink_event_route_request_message(2, 5 + (1 << 24), 0, 0, 9, 200, 0, 15, 1)
    router.receive(absurd, 9, 0.0)
    assert router.counters["seq_jump"] == 1


def test_overheard_reply_is_not_taken() -> None:
    router = Router(7)
    reply = event.MAVLink_event_route_reply_message(3, 60, 0, 1, 9, 0, 8)
    router.receive(reply, 9, 0.0)
    assert router.counters["reply_overheard"] == 1
    assert router.routes.lookup(9, 0.0) is None


def test_non_mesh_messages_are_counted() -> None:
    router = Router(7)
    router.receive(event.MAVLink_event_heartbeat_message(1, 3, 0), 9, 0.0)
    assert router.counters["not_mesh_control"] == 1
