"""The runtime's log of what its radio refused: each reason once a minute at most, and a
summary by reason each minute with drops (`runtime.py`, `link/drop_report.py`). On the
autojump clock."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from companion.link.drop_report import SUMMARY_EVERY
from companion.node import NodeStack
from companion.runtime import StackRuntime
from companion.security.certificate import Role
from tests.companion.mesh.stack import LINK_KEY
from tests.companion.security.fleet import NOW_WALL, Fleet


class Radio:
    """A datagram transport the test feeds; what the node sends goes nowhere."""

    is_datagram = True

    def __init__(self) -> None:
        self.air, self._heard = trio.open_memory_channel[bytes](100)

    async def send(self, data: bytes) -> None:
        await trio.lowlevel.checkpoint()

    async def receive(self) -> bytes:
        return await self._heard.receive()

    async def aclose(self) -> None:
        await self.air.aclose()


async def test_a_flood_of_noise_is_a_few_lines(
    autojump_clock: trio.testing.MockClock, fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "event.radio")
    radio = Radio()
    stack = NodeStack(fleet.identity(255, Role.GROUND_STATION), LINK_KEY, gateway=True)
    runtime = StackRuntime(stack, radio, wall_clock=lambda: NOW_WALL + trio.current_time())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(runtime.run)
        for _ in range(150):  # 150 s of noise, a datagram a second, then a truncated frame
            await radio.air.send(b"noise")
            await trio.sleep(1.0)
        await radio.air.send(b"\xfd\x05")
        await trio.sleep(SUMMARY_EVERY)
        nursery.cancel_scope.cancel()
    assert caplog.messages == [
        "event=radio_drop reason=noise total=1",
        "event=radio_drops_summary period=60 total=60 noise=60",
        "event=radio_drop reason=noise total=61 suppressed=59",
        "event=radio_drops_summary period=60 total=60 noise=60",
        "event=radio_drop reason=noise total=121 suppressed=59",
        "event=radio_drop reason=truncated total=1",
        "event=radio_drops_summary period=60 total=31 truncated=1 noise=30",
    ]
    assert stack.link.datagrams_refused == {"noise": 150, "truncated": 1}
