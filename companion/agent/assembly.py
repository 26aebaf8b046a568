"""An agent put together from its configuration, and taken apart again (`open_agent`).

Rules:
- The signing clock's reservation is saved in `state_dir` before frames leave, so a reboot
  never reuses a signing timestamp.
- Shutdown (SIGTERM, SIGINT or cancellation): the outbox is closed after everything it
  accepted is committed; the tlog is flushed and closed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from ..autopilot.adapter import AutopilotAdapter
from ..autopilot.tlog import TlogWriter
from ..radio_node import open_radio_node
from ..transport.endpoint import open_endpoint
from .agent import Agent
from .config import AgentConfig


@asynccontextmanager
async def open_agent(
    config: AgentConfig, *, wall_clock: Callable[[], float] = time.time
) -> AsyncIterator[Agent]:
    """Open keys, state, transports and outbox; yield the agent (not yet running)."""
    async with AsyncExitStack() as stack:
        runtime, sync = await stack.enter_async_context(
            open_radio_node(config, outbox_name="outbox.db", wall_clock=wall_clock)
        )
        autopilot = await stack.enter_async_context(open_endpoint(config.autopilot, listen=True))
        tlog = None
        if config.tlog:
            name = time.strftime("flight-%Y%m%d-%H%M%S.tlog", time.gmtime(wall_clock()))
            tlog = stack.enter_context(TlogWriter(config.state_dir / name))
        adapter = AutopilotAdapter(
            autopilot, system_id=config.node_id, tlog=tlog, wall_clock=wall_clock
        )
        agent = Agent(config, runtime, sync, adapter, wall_clock=wall_clock)
        adapter.on_link_event = agent.on_link_event
        runtime.on_event = sync.on_event
        runtime.on_arrival = agent.on_arrival
        yield agent
