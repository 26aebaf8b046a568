"""Hostile bytes from the autopilot side of the companion's flight-controller link, over
its real transport (TCP on loopback, as to SITL's port 5760), interleaved with a vehicle
double's own stream (issue 17): random bytes, truncated and mutated frames, and valid
frames with absurd values (NaN and infinite floats, extreme integers, huge mission
counts, requests for items that do not exist, ACKs of commands never sent, other system
and component ids). The adapter lives on, counts what it dropped, its state stays
finite JSON, and commands still execute against the double afterwards."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable
from functools import partial
from typing import Any

import trio

from companion.autopilot.adapter import AutopilotAdapter
from companion.autopilot.mission_protocol import MissionItem
from companion.transport import open_tcp_client
from dialects import event
from sitl.vehicle.double import VehicleDouble
from sitl.vehicle.serve import run_double

SYSID, COMP, US = 1, 1, 7
HOSTILE = 4000
WAIT = 120.0
"""Generous limit for anything this test waits on (a loaded 2-core machine)."""
NAN, INF = float("nan"), float("inf")
I32 = 2**31 - 1
MARKER = "end of the attack"
HOME = (-35.363261, 149.165230, 584.0)


class Injector(trio.abc.Stream):
    """The double's end of the TCP connection, with hostile writes slipped in between
    the double's own (each write whole, so the double's frames stay intact)."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.lock = trio.Lock()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        async with self.lock:
            await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.stream.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.stream.aclose()


def absurd_messages() -> list[Any]:
    """Valid MAVLink messages with values no autopilot should send."""
    m = event
    return [
        m.MAVLink_attitude_message(1, NAN, INF, -INF, NAN, NAN, INF),
        m.MAVLink_vfr_hud_message(NAN, INF, -32768, 65535, NAN, -INF),
        m.MAVLink_global_position_int_message(
            2**32 - 1, I32, -I32, -I32, I32, 32767, -32768, 32767, 65534
        ),
        m.MAVLink_global_position_int_message(0, 900_000_001, 1_800_000_001, 0, 0, 0, 0, 0, 65535),
        m.MAVLink_sys_status_message(0, 0, 0, 1000, 65534, -1, -128, 0, 0, 0, 0, 0, 0),
        m.MAVLink_home_position_message(
            I32, -I32, I32, NAN, INF, -INF, [NAN] * 4, NAN, INF, NAN
        ),
        m.MAVLink_mission_count_message(US, 0, 65535),
        m.MAVLink_mission_request_int_message(US, 0, 65000),
        m.MAVLink_mission_request_message(US, 0, 60000),
        m.MAVLink_mission_item_int_message(
            US, 0, 3, 3, 16, 0, 1, NAN, INF, -INF, NAN, I32, -I32, NAN
        ),
        m.MAVLink_mission_ack_message(US, 0, m.MAV_MISSION_ACCEPTED),
        m.MAVLink_mission_ack_message(US, 0, m.MAV_MISSION_ERROR),
        m.MAVLink_mission_current_message(65535, 65535, 255, 255),
        m.MAVLink_mission_item_reached_message(65535),
        m.MAVLink_command_ack_message(
            m.MAV_CMD_COMPONENT_ARM_DISARM, m.MAV_RESULT_ACCEPTED, 255, I32, US, 0
        ),
        m.MAVLink_command_ack_message(m.MAV_CMD_DO_SET_MODE, m.MAV_RESULT_FAILED, 0, 0, US, 0),
        m.MAVLink_param_value_message(b"WPNAV_SPEED", NAN, m.MAV_PARAM_TYPE_REAL32, 65535, 65535),
        m.MAVLink_param_value_message(b"\xff" * 16, INF, 255, 0, 0),
        m.MAVLink_statustext_message(m.MAV_SEVERITY_EMERGENCY, b"\xff\xfe" * 25),
        m.MAVLink_gps_raw_int_message(
            0, 255, I32, I32, I32, 65535, 65535, 65535, 65535, 255
        ),
        m.MAVLink_ekf_status_report_message(65535, NAN, INF, NAN, NAN, NAN, NAN),
        m.MAVLink_heartbeat_message(
            m.MAV_TYPE_QUADROTOR, m.MAV_AUTOPILOT_ARDUPILOTMEGA, 255, 2**32 - 1, 255, 3
        ),
    ]  # fmt: skip


def hostile_chunks(rng: random.Random) -> list[bytes]:
    """HOSTILE writes of every kind (module docstring), from a seeded generator."""
    pack = event.MAVLink(None, SYSID, COMP)
    absurd = absurd_messages()
    frames = [message.pack(pack) for message in absurd]
    others = [message.pack(event.MAVLink(None, 99, 1)) for message in absurd]
    others += [message.pack(event.MAVLink(None, SYSID, 42)) for message in absurd]
    makers: list[Callable[[], bytes]] = [
        lambda: rng.randbytes(rng.randrange(1, 300)),
        lambda: b"\xfd" + rng.randbytes(rng.randrange(0, 300)),
        lambda: (f := rng.choice(frames))[: rng.randrange(1, len(f))],
        lambda: _flip(rng.choice(frames), rng),
        lambda: rng.choice(others),
        lambda: b"".join(rng.choices(frames, k=rng.randrange(1, 8))),
    ]
    # Absurd frames from the vehicle itself, but not HEARTBEATs: a HEARTBEAT with a
    # garbage mode is the vehicle's word on its mode, and would fail the commands after.
    safe = [f for f, m in zip(frames, absurd, strict=True) if m.get_msgId() != 0]
    makers.append(lambda: rng.choice(safe))
    return [rng.choice(makers)() for _ in range(HOSTILE)]


def _flip(frame: bytes, rng: random.Random) -> bytes:
    mutable = bytearray(frame)
    for _ in range(rng.randrange(1, 4)):
        mutable[rng.randrange(len(mutable))] = rng.randrange(256)
    return bytes(mutable)


def finite_json(value: Any) -> str:
    """`value` as JSON, refusing NaN and infinities (what a status.json must never hold)."""
    return json.dumps(value, allow_nan=False, default=str)


async def test_hostile_autopilot_bytes_over_tcp(report: Callable[[str], None]) -> None:
    double = VehicleDouble(system_id=SYSID, home=HOME, ready_after=1.0)
    chunks = hostile_chunks(random.Random(17))
    served: list[Injector] = []

    async def serve(stream: trio.SocketStream) -> None:
        injector = Injector(stream)
        served.append(injector)
        await run_double(double, injector)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        async with open_tcp_client("127.0.0.1", port) as transport:
            adapter = AutopilotAdapter(transport, system_id=US, link_timeout=30.0)
            nursery.start_soon(adapter.run)
            assert await adapter.wait_connected(WAIT)
            items = [_waypoint(i) for i in range(5)]
            async with trio.open_nursery() as attack:
                attack.start_soon(_inject, served[0], chunks)
                during = await adapter.upload_mission(items)
            with trio.fail_after(WAIT):  # every hostile byte read: a marker sent after them
                while adapter.state.last_statustext != MARKER:
                    # Sent again each second: the double's own STATUSTEXTs (the upload's
                    # outcome, an upload timeout) may come after a marker and overwrite it.
                    await served[0].send_all(_marker())
                    with trio.move_on_after(1):
                        while adapter.state.last_statustext != MARKER:
                            await trio.sleep(0.05)
            with trio.fail_after(WAIT):
                after = await adapter.upload_mission(items)
                param = await adapter.set_param("WPNAV_SPEED", 750.0, event.MAV_PARAM_TYPE_REAL32)
            link = adapter.connection.link.status()
            counters = dict(adapter.connection.counters)
            state = dataclasses.asdict(adapter.state)
            finite_json({"link": link, "connection": counters, "state": state})
            assert after.ok, after
            assert param.ok, param
            assert adapter.state.connected
            assert sum(link["drops"].values()) > 0
            assert counters.get("not_from_vehicle", 0) > 0
            assert adapter.connection.tracker.out_of_range > 0
            report(
                f"FC link hostile bytes: {HOSTILE} writes over TCP, "
                f"{sum(len(c) for c in chunks)} bytes; drops {link['drops']}, "
                f"skipped {link['skipped_bytes']} bytes, {counters}; upload during the "
                f"attack: {during.outcome}, after: upload and PARAM_SET completed"
            )
            nursery.cancel_scope.cancel()


async def _inject(injector: Injector, chunks: list[bytes]) -> None:
    for chunk in chunks:
        await injector.send_all(chunk)
        await trio.sleep(0)


def _marker() -> bytes:
    """A STATUSTEXT from the vehicle that the attack never sends."""
    marker = event.MAVLink_statustext_message(event.MAV_SEVERITY_INFO, MARKER.encode())
    return bytes(marker.pack(event.MAVLink(None, SYSID, COMP)))


def _waypoint(i: int) -> MissionItem:
    lat, lon = HOME[0] + i * 1e-4, HOME[1]
    return MissionItem(event.MAV_CMD_NAV_WAYPOINT, x=round(lat * 1e7), y=round(lon * 1e7), z=30.0)
