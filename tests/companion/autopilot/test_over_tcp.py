"""The adapter over a real TCP socket, as to ArduPilot SITL's port 5760, in real time.

The vehicle double serves one client on a loopback port the way SITL does; the adapter
connects with the project's reconnecting TCP transport. Waits are on conditions, with
generous limits.
"""

from __future__ import annotations

import trio

from companion.autopilot.adapter import AutopilotAdapter
from companion.autopilot.vehicle_state import LinkEventKind
from companion.transport import open_tcp_client
from dialects import event
from sitl.vehicle.double import VehicleDouble
from sitl.vehicle.serve import serve_tcp
from tests.companion.autopilot.fc import US, waypoints

LIMIT = 30.0


async def test_upload_and_parameter_over_tcp() -> None:
    double = VehicleDouble(ready_after=600.0)
    changes: list[LinkEventKind] = []
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_tcp, double, 0)
            async with open_tcp_client("127.0.0.1", port) as transport:
                adapter = AutopilotAdapter(
                    transport,
                    system_id=US,
                    on_link_event=lambda change: changes.append(change.kind),
                )
                nursery.start_soon(adapter.run)
                assert await adapter.wait_connected(timeout=LIMIT)
                result = await adapter.upload_mission(waypoints(5))
                assert (result.outcome, result.reason) == (
                    event.EVENT_OUTCOME_COMPLETED,
                    "5 items uploaded and verified",
                )
                assert [item.x for item in double.mission[1:]] == [w.x for w in waypoints(5)]
                result = await adapter.set_param("RTL_ALT", 2500, event.MAV_PARAM_TYPE_INT32)
                assert result.ok
                assert double.params["RTL_ALT"] == 2500
                nursery.cancel_scope.cancel()
    assert changes == [LinkEventKind.CONNECTED]
