"""What every node on the radio opens at start, the agent and the ground station alike.

Rules:
- Keys are loaded and checked against the node id before any device or file is opened
  (KeystoreError otherwise).
- The state directory is created when missing. It holds the signing timestamp (so link
  signatures never reuse one after a restart), the seq counter (so a receiver never
  takes a new message for one it had before the restart, `reliability/numbering.py`),
  the node clock's checkpoint (so message ages survive a restart, `node_clock.py`) and
  the radio outbox named by the caller, whose rows are timed on that node clock. The
  checkpoint is written again on the way out, so a clean stop loses no time; so are the
  last signing timestamp and seq used, so a clean restart skips no reservation window
  (`reservation.py`).
- Opened in order: radio endpoint, radio outbox; the node stack, its runtime and the
  outbox's sync are built on them. Leaving the context closes them in reverse order.
- The caller wires the runtime's callbacks (`on_event`, `on_arrival`) to its application.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Protocol

from dialects import event

from .link.signing import SigningClock
from .link.timestamp_store import TimestampStore
from .node import NodeStack
from .node_clock import NodeClock
from .outbox import open_outbox
from .outbox.sync import OutboxSync, valid_bundle
from .reliability.numbering import SeqNumbering
from .reliability.seq_store import SeqStore
from .reservation import save_last_used
from .runtime import StackRuntime
from .security.keystore import load_own_keys
from .settings import Endpoint
from .transport.endpoint import open_endpoint


class NodeConfig(Protocol):
    """The settings every node has (AgentConfig and StationConfig both do)."""

    @property
    def node_id(self) -> int: ...
    @property
    def keys(self) -> Path: ...
    @property
    def link_key(self) -> bytes: ...
    @property
    def state_dir(self) -> Path: ...
    @property
    def radio(self) -> Endpoint: ...


@asynccontextmanager
async def open_radio_node(
    config: NodeConfig,
    *,
    outbox_name: str,
    gateway: bool = False,
    wall_clock: Callable[[], float] = time.time,
) -> AsyncIterator[tuple[StackRuntime, OutboxSync]]:
    """Open this node's radio side; yield its runtime and the sync of its radio outbox."""
    keys = load_own_keys(config.keys, config.node_id)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    stamps = TimestampStore(config.state_dir / "signing.timestamp")
    seqs = SeqStore(config.state_dir / "seq")
    node_clock = NodeClock.open(config.state_dir / "node.clock", wall_clock)
    async with AsyncExitStack() as stack:
        stack.callback(node_clock.save)
        radio = await stack.enter_async_context(open_endpoint(config.radio))
        outbox = await stack.enter_async_context(
            open_outbox(config.state_dir / outbox_name, validate=valid_bundle, clock=node_clock)
        )
        signing = SigningClock(stamps.load(wall_clock()))
        # The ground station ACKs a detection only once its cloud record is committed.
        later = frozenset({event.MAVLINK_MSG_ID_EVENT_DETECTION}) if gateway else frozenset()
        numbering = SeqNumbering(seqs.load())
        node = NodeStack(
            keys,
            config.link_key,
            gateway=gateway,
            clock=signing,
            numbering=numbering,
            ack_after_commit=later,
        )
        stack.callback(save_last_used, signing, stamps)
        stack.callback(save_last_used, numbering, seqs)
        runtime = StackRuntime(
            node,
            radio,
            wall_clock=wall_clock,
            store=stamps,
            seq_store=seqs,
            node_clock=node_clock,
        )
        yield runtime, OutboxSync(outbox, runtime)
