"""Sessions over a seeded lossy, duplicating, reordering radio, on trio's autojump clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from companion.link import Drop
from companion.security.certificate import Role
from companion.security.revocation import RevocationState
from dialects import event
from tests.samples import detection

from .fleet import Fleet
from .network import Medium, TestNode, wall

GS, UAV_A, UAV_B = 255, 3, 4


def command(seq: int) -> object:
    return event.MAVLink_event_retask_message(seq, -353630000, 1491650000, 500, 0, 0, 0, 0)


Body = Callable[[dict[int, "TestNode"]], Awaitable[None]]


async def with_network(
    fleet: Fleet, seed: int, roles: dict[int, Role], body: Body
) -> dict[int, TestNode]:
    async with trio.open_nursery() as nursery:
        medium = Medium(nursery, seed)
        nodes = {
            n: TestNode(fleet.identity(n, role), medium, RevocationState())
            for n, role in roles.items()
        }
        for node in nodes.values():
            nursery.start_soon(node.run)
        await body(nodes)
        nursery.cancel_scope.cancel()
    return nodes


async def settle(nodes: dict[int, TestNode], limit: float = 600) -> None:
    with trio.fail_after(limit):
        while any(node.pending() for node in nodes.values()):
            await trio.sleep(1)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_two_nodes_exact_delivery(
    fleet: Fleet, seed: int, autojump_clock: trio.testing.MockClock
) -> None:
    async def body(nodes: dict[int, TestNode]) -> None:
        for i in range(1, 31):
            nodes[GS].send(UAV_A, command(i))
            nodes[UAV_A].send(GS, detection(i))
            await trio.sleep(0.5)
        await settle(nodes)

    nodes = await with_network(fleet, seed, {GS: Role.GROUND_STATION, UAV_A: Role.UAV}, body)
    assert set(nodes[UAV_A].accepted) == {(GS, "EVENT_RETASK", i) for i in range(1, 31)}
    assert set(nodes[GS].accepted) == {(UAV_A, "EVENT_DETECTION", i) for i in range(1, 31)}
    assert all(count == 1 for n in nodes.values() for count in n.accepted.values())
    for node in nodes.values():
        assert node.sessions.counters["bad_tag"] == 0
        assert node.link.drops[Drop.BAD_SIGNATURE] == 0


async def test_three_nodes_exact_delivery_and_a_forged_command(
    fleet: Fleet, autojump_clock: trio.testing.MockClock
) -> None:
    async def body(nodes: dict[int, TestNode]) -> None:
        for i in range(1, 21):
            nodes[GS].send(UAV_A, command(i))
            nodes[GS].send(UAV_B, command(100 + i))
            nodes[UAV_A].send(GS, detection(i))
            nodes[UAV_B].send(GS, detection(100 + i))
            await trio.sleep(0.7)
        abort = event.MAVLink_event_mission_abort_message(77, 0, event.EVENT_ABORT_ACTION_LAND)
        nodes[UAV_A].send(UAV_B, abort, priority=0)  # a UAV may not abort another UAV
        await settle(nodes)

    roles = {GS: Role.GROUND_STATION, UAV_A: Role.UAV, UAV_B: Role.UAV}
    nodes = await with_network(fleet, 7, roles, body)
    assert set(nodes[UAV_A].accepted) == {(GS, "EVENT_RETASK", i) for i in range(1, 21)}
    assert set(nodes[UAV_B].accepted) == {(GS, "EVENT_RETASK", 100 + i) for i in range(1, 21)}
    assert set(nodes[GS].accepted) == {
        *((UAV_A, "EVENT_DETECTION", i) for i in range(1, 21)),
        *((UAV_B, "EVENT_DETECTION", 100 + i) for i in range(1, 21)),
    }
    assert nodes[UAV_B].authorizer.counters["denied"] >= 1
    assert nodes[UAV_A].acks[(UAV_B, 77)] == event.EVENT_OUTCOME_DENIED


async def test_reboot_mid_flight_recovers(
    fleet: Fleet, autojump_clock: trio.testing.MockClock
) -> None:
    async def body(nodes: dict[int, TestNode]) -> None:
        for i in range(1, 11):
            nodes[GS].send(UAV_A, command(i))
            await trio.sleep(1)
        await settle(nodes)
        nodes[UAV_A].restart()
        for i in range(11, 21):
            nodes[GS].send(UAV_A, command(i))
            await trio.sleep(1)
        await settle(nodes)

    nodes = await with_network(fleet, 11, {GS: Role.GROUND_STATION, UAV_A: Role.UAV}, body)
    assert {seq for _, _, seq in nodes[UAV_A].accepted} == set(range(1, 21))
    assert nodes[UAV_A].sessions.counters["no_session"] >= 1


async def test_revocation_travels_over_the_radio_and_is_honoured(
    fleet: Fleet, autojump_clock: trio.testing.MockClock
) -> None:
    async def body(nodes: dict[int, TestNode]) -> None:
        gs, uav_b = nodes[GS], nodes[UAV_B]
        crl = fleet.authority.revoke(uav_b.identity.certificate.serial, now=wall())
        assert gs.revocations.offer(crl.encode(), fleet.authority.public_key)
        encoded = crl.encode()
        data = list(encoded) + [0] * (220 - len(encoded))
        gs.send(UAV_A, event.MAVLink_event_revocation_message(len(encoded), data))
        await trio.sleep(30)
        heartbeat = event.MAVLink_event_heartbeat_message(1, 3, 0)
        uav_b.send(UAV_A, heartbeat)
        uav_b.send(GS, heartbeat)
        await trio.sleep(60)

    roles = {GS: Role.GROUND_STATION, UAV_A: Role.UAV, UAV_B: Role.UAV}
    nodes = await with_network(fleet, 5, roles, body)
    uav_a = nodes[UAV_A]
    assert uav_a.sessions.counters["revocation_list_updated"] == 1
    assert uav_a.sessions.counters["handshake_revoked_certificate"] >= 1
    assert nodes[GS].sessions.counters["handshake_revoked_certificate"] >= 1
    assert not any(src == UAV_B for src, _, _ in uav_a.accepted)
    assert nodes[UAV_B].sessions.rejections == {
        UAV_A: event.EVENT_OUTCOME_CERT_REVOKED,
        GS: event.EVENT_OUTCOME_CERT_REVOKED,
    }
