"""The real link layer over the simulated radio: signed MAVLink 2 frames pass unchanged."""

from __future__ import annotations

import trio
import trio.testing

from companion.link import Link, LinkConfig
from companion.link.endpoint import LinkEndpoint
from companion.transport import Transport
from dialects import event
from sitl.channel import RadioConfig
from sitl.motion import Stationary
from sitl.radio import RadioMedium, kind_by_message_id

KEY = bytes(32)
WALL_EPOCH = 1_780_000_000.0


def wall() -> float:
    return WALL_EPOCH + trio.current_time()


def heartbeat(t: int) -> event.MAVLink_event_heartbeat_message:
    return event.MAVLink_event_heartbeat_message(
        t, event.EVENT_NODE_ROLE_UAV, event.EVENT_AGENT_STATE_MISSION
    )


CONTROL = kind_by_message_id({event.MAVLINK_MSG_ID_EVENT_HEARTBEAT: "control"})


async def test_signed_frames_cross_the_radio_byte_for_byte(
    autojump_clock: trio.testing.MockClock,
) -> None:
    medium = RadioMedium(seed=1, config=RadioConfig(extra_loss=0.3))
    uav = medium.attach(3, Stationary((0, 0, 0)), classify=CONTROL)
    ground = medium.attach(255, Stationary((400, 0, 0)))
    uav_link = Link(LinkConfig(system_id=3, key=KEY))
    ground_link = Link(LinkConfig(system_id=255, key=KEY))
    sent: list[bytes] = []
    arrived: list[bytes] = []

    async def receive_all() -> None:
        while True:
            data = await ground.receive()
            arrived.append(data)
            [received] = ground_link.receive_datagram(data, wall())
            assert received.authenticated
            assert received.message.get_type() == "EVENT_HEARTBEAT"
            assert received.message.time == 1_750_000_000 + sent.index(data)
            assert received.message.role == event.EVENT_NODE_ROLE_UAV

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive_all)
        for k in range(50):
            frame = uav_link.send(heartbeat(1_750_000_000 + k), wall())
            sent.append(frame)
            await uav.send(frame)
            await trio.sleep(0.5)
        nursery.cancel_scope.cancel()
    delivered = [sent[r.number] for r in medium.records if r.delivered_to()]
    assert arrived == delivered
    assert 20 < len(arrived) < 50
    assert ground_link.drops == {}
    assert set(medium.stats(3).airtime_by_kind) == {"control"}


async def test_link_endpoints_run_over_radio_ports(autojump_clock: trio.testing.MockClock) -> None:
    medium = RadioMedium(seed=1)
    ports: list[Transport] = [
        medium.attach(3, Stationary((0, 0, 0))),
        medium.attach(255, Stationary((10, 0, 0))),
    ]
    uav, ground = (
        LinkEndpoint(Link(LinkConfig(system_id=n, key=KEY)), port, wall_clock=wall)
        for n, port in zip((3, 255), ports, strict=True)
    )
    await uav.send(heartbeat(1_750_000_000))
    received = await ground.receive()
    assert received.authenticated
    assert received.message.time == 1_750_000_000
    [record] = medium.records
    assert record.size == len(received.frame.data)
    assert trio.current_time() == record.end + medium.config.processing_delay
