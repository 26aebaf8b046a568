"""Link-level demo: a UAV companion and a ground station exchange EVENT messages over UDP.

Both nodes run in this process on trio, each with its own UDP socket on 127.0.0.1, and
share a fleet link key made for this run. The ground station assigns a mission, retasks
and aborts; the UAV answers with ACKs and sends telemetry, status and a detection. Then
an outsider without the key forges an abort, and someone replays a captured frame: both
are refused, and the counters say why. Exit status 0 means everything expected arrived
and nothing forged did.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import trio

from companion.link import Drop, Link, LinkConfig
from companion.link.endpoint import LinkEndpoint
from companion.transport import open_udp_bind, open_udp_connect
from dialects import event

UAV_ID, GS_ID, OUTSIDER_ID = 3, 255, 66
WAYPOINTS = 20


def mission() -> list[Any]:
    """A 20-waypoint survey: more than one frame, so it travels as ASSIGN + ITEMS."""
    assign = event.MAVLink_event_mission_assign_message(
        seq=1, mission_id=7, item_count=WAYPOINTS, flags=event.EVENT_MISSION_FLAGS_START, speed=80
    )
    messages = [assign]
    for start in range(0, WAYPOINTS, 16):
        count = min(16, WAYPOINTS - start)
        lat = [-353632621 + 1000 * (start + i) for i in range(count)] + [0] * (16 - count)
        lon = [1491652374 + 1500 * ((start + i) % 2) for i in range(count)] + [0] * (16 - count)
        messages.append(
            event.MAVLink_event_mission_items_message(
                mission_id=7,
                start_index=start,
                count=count,
                lat=lat,
                lon=lon,
                alt=[500] * 16,
                command=[event.EVENT_ITEM_WAYPOINT] * 16,
                param=[2] * 16,
            )
        )
    return messages


def uav_reports() -> list[Any]:
    return [
        event.MAVLink_event_heartbeat_message(
            1_750_000_000, event.EVENT_NODE_ROLE_UAV, event.EVENT_AGENT_STATE_MISSION
        ),
        event.MAVLink_event_telemetry_message(
            1_750_000_000, -353632621, 1491652374, 500, 850, 9000, 1610, 3, 3, 87, 3, 14
        ),
        event.MAVLink_event_detection_message(
            1, 1_750_000_000_123, -353630000, 1491650000, 584, 12, [120, 88, 64, 40], 0, 3, 91
        ),
        event.MAVLink_event_status_message(
            1_750_000_000,
            620,
            7,
            0,
            event.EVENT_AGENT_STATE_MISSION,
            15,
            event.EVENT_OUTCOME_COMPLETED,
            1,
        ),
    ]


def describe(message: Any) -> str:
    def short(value: Any) -> str:
        if isinstance(value, list) and len(value) > 3:
            return f"[{value[0]}, {value[1]}, ...]"
        return str(value)

    values = ", ".join(f"{k}={short(message.format_attr(k))}" for k in message.get_fieldnames()[:5])
    return f"{message.get_type():<22} {values}"


class Node:
    """One side of the demo: an endpoint plus what it heard."""

    def __init__(self, name: str, endpoint: LinkEndpoint) -> None:
        self.name = name
        self.endpoint = endpoint
        self.heard: list[str] = []
        self._changed = trio.Event()

    async def listen(self) -> None:
        while True:
            received = await self.endpoint.receive()
            size = len(received.frame.data)
            line = f"{self.name} <- node {received.frame.system_id:<3} {size:>3} B  "
            print(line + describe(received.message), flush=True)
            self.heard.append(received.message.get_type())
            self._changed.set()
            self._changed = trio.Event()

    async def wait_for(self, count: int) -> None:
        while len(self.heard) < count:
            await self._changed.wait()


async def wait_for_drops(link: Link, count: int) -> None:
    while sum(link.drops.values()) < count:
        await trio.sleep(0.01)


async def run(timeout: float) -> bool:
    print("EVENT link demo: MAVLink 2 frames, signed with a fleet link key, over UDP on 127.0.0.1")
    print("(end-to-end sealing of the inner messages comes on top of this layer)\n")
    key = os.urandom(32)
    gs_link = Link(LinkConfig(system_id=GS_ID, key=key))
    uav_link = Link(LinkConfig(system_id=UAV_ID, key=key))
    async with (
        open_udp_bind("127.0.0.1", 0) as gs_udp,
        open_udp_connect("127.0.0.1", gs_udp.local_address[1]) as uav_udp,
        open_udp_connect("127.0.0.1", gs_udp.local_address[1]) as outsider_udp,
    ):
        gs = Node("gs  ", LinkEndpoint(gs_link, gs_udp))
        uav = Node("uav ", LinkEndpoint(uav_link, uav_udp))
        outsider = LinkEndpoint(
            Link(LinkConfig(system_id=OUTSIDER_ID, key=os.urandom(32))), outsider_udp
        )
        commands = [
            *mission(),
            event.MAVLink_event_retask_message(2, -353631000, 1491651000, 600, 0, 12, 30, 0),
            event.MAVLink_event_mission_abort_message(3, 7, event.EVENT_ABORT_ACTION_RTL),
        ]
        reports = uav_reports()
        acks = [
            event.MAVLink_event_ack_message(seq, msg_type, event.EVENT_OUTCOME_COMPLETED, b"")
            for seq, msg_type in (
                (1, event.EVENT_MSG_TYPE_MISSION_ASSIGN),
                (2, event.EVENT_MSG_TYPE_RETASK),
                (3, event.EVENT_MSG_TYPE_MISSION_ABORT),
            )
        ]
        with trio.move_on_after(timeout):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(gs.listen)
                nursery.start_soon(uav.listen)
                await uav.endpoint.send(reports[0])  # the UAV speaks first: "udpin" answers it
                await gs.wait_for(1)
                for message in commands:
                    await gs.endpoint.send(message)
                await uav.wait_for(len(commands))
                for message in [*reports[1:], *acks]:
                    await uav.endpoint.send(message)
                await gs.wait_for(len(reports) + len(acks))
                # Hostile traffic: a forged abort from an outsider, and a replayed frame.
                forged = event.MAVLink_event_mission_abort_message(
                    9, 7, event.EVENT_ABORT_ACTION_LAND
                )
                await outsider.send(forged)
                captured = uav_link.send(reports[2], time.time())
                await uav.endpoint.send_raw(captured)
                await uav.endpoint.send_raw(captured)
                await gs.wait_for(len(reports) + len(acks) + 1)
                await wait_for_drops(gs.endpoint.link, 2)
                nursery.cancel_scope.cancel()
    return summarize(gs, uav, len(commands), len(reports) + len(acks) + 1)


def summarize(gs: Node, uav: Node, commands: int, reports: int) -> bool:
    print()
    for node in (gs, uav):
        link = node.endpoint.link
        drops = ", ".join(f"{k}={v}" for k, v in sorted(link.drops.items())) or "none"
        print(f"{node.name.strip()}: {link.frames_received} messages accepted; refused: {drops}")
    refused = gs.endpoint.link.drops
    ok = (
        len(uav.heard) == commands
        and len(gs.heard) == reports
        and "EVENT_MISSION_ABORT" not in gs.heard
        and refused[Drop.BAD_SIGNATURE] == 1
        and refused[Drop.REPLAY] == 1
    )
    print("demo:", "OK" if ok else "FAILED")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=20.0, help="give up after this many s")
    args = parser.parse_args(argv)
    return 0 if trio.run(run, args.timeout) else 1


if __name__ == "__main__":
    sys.exit(main())
