"""The ground station process: radio, mesh gateway, two durable outboxes and a cloud uplink.

    radio <-> NodeStack (gateway) <-> Gateway <-> uplink (HTTP or MQTT) <-> command center
                    ^ OutboxSync (state_dir/radio.db)      ^ uplink outbox (state_dir/uplink.db)

Rules:
- Built from a `StationConfig` by `open_ground_station`; `GroundStation.run()` until
  cancelled. Leaving the block closes the uplink (outstanding rows stay in its outbox for
  next time), then the radio outbox, after everything either accepted is committed.
- The signing clock's reservation is saved in `state_dir` before frames leave, so a
  restart never reuses a signing timestamp.
- Every `status_interval` seconds the fleet table is refreshed from the mesh, logged (one
  line per UAV) and written atomically to `state_dir/status.json` (fleet rows and every
  counter) for an operator's dashboard or the scenario runner.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from companion.radio_node import open_radio_node
from companion.status_file import outbox_status, write_status
from companion.transport.backoff import Backoff

from .awaiting import AwaitingOutcomes
from .config import StationConfig
from .gateway import Gateway
from .uplink.base import Uplink
from .uplink.http import open_http_uplink
from .uplink.http_config import HttpUplinkConfig
from .uplink.mqtt import MqttConfig, open_mqtt_uplink

log = logging.getLogger("event.groundstation")
STATUS_FILE = "status.json"


class GroundStation:
    """Build with `open_ground_station`; `run()` until cancelled."""

    def __init__(self, config: StationConfig, gateway: Gateway) -> None:
        self.config = config
        self.gateway = gateway

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.gateway.runtime.run)
            nursery.start_soon(self.gateway.sync.run)
            nursery.start_soon(self.gateway.publish_loop)
            nursery.start_soon(self._status_loop)
            log.info(
                "event=started node=%d radio=%s:%s:%s uplink=%s",
                self.config.node_id,
                self.config.radio.kind,
                self.config.radio.host,
                self.config.radio.port,
                self.config.uplink,
            )
            task_status.started()

    async def _status_loop(self) -> None:
        while True:
            await trio.sleep(self.config.status_interval)
            await self.write_status()

    async def write_status(self) -> dict[str, Any]:
        """Refresh the fleet table, log it, write status.json; the status written."""
        self.gateway.refresh_routes()
        now = trio.current_time()
        rows = []
        for row in self.gateway.fleet.rows():
            fields = dataclasses.asdict(row)
            fields["age"] = round(now - row.last_heard, 1)
            rows.append(fields)
            log.info(
                "event=fleet uav=%d mode=%s state=%s battery=%s hops=%s next_hop=%s "
                "outbox=%s detections=%d age=%.0f",
                row.node,
                row.mode,
                row.state,
                row.battery,
                row.hops,
                row.next_hop,
                row.outbox_depth,
                row.detections,
                fields["age"],
            )
        uplink = self.gateway.uplink
        backlog = None if uplink is None else outbox_status(await uplink.backlog())
        status = {
            "time": self.gateway.runtime.wall(),
            "node": self.config.node_id,
            "fleet": rows,
            "radio_outbox_depth": await self.gateway.sync.outbox.depth(),
            "uplink_backlog": None if backlog is None else backlog["depth"],
            "outbox": outbox_status(await self.gateway.sync.outbox.stats()),
            "uplink_outbox": backlog,
            **self.gateway.snapshot(),
            "signing": self.gateway.runtime.signing_status(),
        }
        await trio.to_thread.run_sync(write_status, self.status_path, status)
        return status

    @property
    def status_path(self) -> Path:
        return self.config.state_dir / STATUS_FILE


def _uplink(config: StationConfig, gateway: Gateway) -> AbstractAsyncContextManager[Uplink]:
    outbox_path = config.state_dir / "uplink.db"
    if config.uplink == "http":
        return open_http_uplink(
            HttpUplinkConfig(
                base_url=config.url,
                token=config.token,
                outbox_path=outbox_path,
                ca_file=config.ca_file,
                gateway=config.node_id,
                backoff=Backoff(initial=0.5, maximum=config.retry_max),
            ),
            gateway.on_command,
        )
    return open_mqtt_uplink(
        MqttConfig(
            host=config.host,
            port=config.port,
            fleet=config.fleet,
            gateway=config.node_id,
            username=config.username,
            password=config.password,
            tls=config.tls,
            ca_file=config.ca_file,
            backoff=Backoff(initial=0.5, maximum=config.retry_max),
        ),
        outbox_path,
        on_command=gateway.on_command,
    )


@asynccontextmanager
async def open_ground_station(
    config: StationConfig, *, wall_clock: Callable[[], float] = time.time
) -> AsyncIterator[GroundStation]:
    """Open keys, state, radio, both outboxes and the uplink; yield the station (not yet
    running)."""
    async with AsyncExitStack() as stack:
        runtime, sync = await stack.enter_async_context(
            open_radio_node(config, outbox_name="radio.db", gateway=True, wall_clock=wall_clock)
        )
        awaiting = AwaitingOutcomes.load(config.state_dir / "awaiting.json")
        gateway = Gateway(runtime, sync, wall_clock=wall_clock, awaiting=awaiting)
        resumed = await gateway.resume()
        if resumed:
            log.info("event=commands_resumed count=%d", resumed)
        runtime.on_event = gateway.on_event
        runtime.on_arrival = gateway.on_arrival
        gateway.uplink = await stack.enter_async_context(_uplink(config, gateway))
        yield GroundStation(config, gateway)
