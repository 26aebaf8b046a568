"""The MQTT cloud uplink: records from a durable outbox to a broker at QoS 1, commands back.

Topics, payloads, session and delivery rules for both ends: docs/mqtt.md. The
configuration and topic names are `mqtt_config.py`; the connection (paho under trio,
connect, reconnect with backoff, the will) is `mqtt_link.py`, which serves this uplink's
session on each connection.

Rules:
- `publish(record)` returns once the record is committed to the uplink's own outbox
  (base.py: key = msg_id, so a record given twice is stored once); OutboxFull propagates.
- A row leaves the outbox only after a PUBACK with a success reason code (MQTT 5) for its
  PUBLISH. A failure code (not authorized, quota exceeded, ...) counts as `refused`; the
  row stays in flight until the connection ends, then is tried again on the next one.
- At most `inflight_window` PUBLISHes (the status message included) await their PUBACK,
  fewer if the broker's Receive Maximum is lower. When a connection ends its
  unacknowledged rows go back to pending and are published again after the reconnect:
  at least once, so the cloud dedupes by `msg_id`.
- Commands: subscribed at QoS 1, retain handling 2; acknowledged only once handled, so
  one in hand when the connection broke comes again. At most `command_window`
  unacknowledged (our Receive Maximum). A broker that sends more anyway (Mosquitto
  2.0.11 does once acknowledgements flow) is held back by TCP: the link reads no further
  while `command_window` commands wait (`room`); the few one read brings beyond that are
  handled all the same and counted as `commands_overflow`. Each payload is read as JSON,
  bounded before it is parsed (`command_payload.py`: at most `max_command_bytes`,
  nesting and digits) and goes through `CommandIntake` (base.py), as in the HTTP
  uplink: a command_id seen recently is skipped (`duplicate_commands`), a malformed one
  is counted and answered with an INVALID "ack" record, a handler that raises is logged
  and answered FAILED. Commands have no cursor and no age here.
- Status: retained "online" after each CONNACK; the will, a retained "offline", is sent
  by the broker when the connection dies and on close (DISCONNECT reason 0x04).
- Counters (`stats()`): published (records committed), sent (PUBLISH packets), acked,
  refused, confirmed (rows removed), released (rows given back), connects, reconnects,
  disconnects, connect_failures, commands (every command message taken in: handed on,
  malformed or a duplicate), malformed_commands and malformed_<reason> for each of
  command_payload.REASONS, duplicate_commands, command_errors,
  unreported_outcomes, commands_overflow; and the current connected (0/1) and in_flight.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio
from paho.mqtt.client import MQTTMessage
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from companion.outbox import Outbox, OutboxStats, open_outbox
from companion.transport.base import is_log_worthy

from ..command_payload import REASONS, read_payload
from ..commands import CommandError
from ..records import Record, RecordError, decode_record
from .base import CLOUD, CommandHandler, CommandIntake
from .base import outbox_item as make_item
from .mqtt_config import MqttConfig
from .mqtt_link import Connection, LinkSession, MqttLink, properties

__all__ = ["MqttConfig", "MqttUplink", "open_mqtt_uplink"]

log = logging.getLogger("groundstation.uplink.mqtt")

COUNTERS = (
    "published", "sent", "acked", "refused", "confirmed", "released", "connects",
    "reconnects", "disconnects", "connect_failures", "commands", "malformed_commands",
    "duplicate_commands", "command_errors", "unreported_outcomes", "commands_overflow",
)  # fmt: skip


@dataclass(slots=True)
class _Window:
    """One connection's PUBLISHes awaiting their PUBACK, and the rows they carry."""

    size: int = 1
    status_mid: int | None = None
    by_mid: dict[int, int] = field(default_factory=dict)
    """PUBLISH packet id -> outbox row id, until its PUBACK."""
    claimed: set[int] = field(default_factory=set)
    """Rows marked in flight for this connection and not acknowledged yet."""
    refused: set[int] = field(default_factory=set)


class MqttUplink:
    """The uplink's face: `publish` records, read `stats`. Build with `open_mqtt_uplink`."""

    def __init__(self, config: MqttConfig, outbox: Outbox, on_command: CommandHandler) -> None:
        self.config = config
        self._outbox = outbox
        self._counters: Counter[str] = Counter()
        self._intake = CommandIntake(
            on_command,
            self.publish,
            self._counters,
            gateway=config.gateway,
            max_age=None,
            clock=time.time,
            origin=config.command_topic,
            logger=log,
        )
        self._window = _Window()
        self._wake = trio.Event()
        self._acked: list[int] = []
        self._ack_arrived = trio.Event()
        self._props = properties(
            PacketTypes.PUBLISH, PayloadFormatIndicator=1, ContentType="application/json"
        )
        self._inbox: deque[tuple[Connection, MQTTMessage]] = deque()
        self._arrived = trio.Event()
        self._room = trio.Event()
        session = LinkSession(
            connected=self._connected,
            serve=self._publish_loop,
            puback=self._puback,
            message=self._message,
            room=self._has_room,
            drain=self._drain,
            unacknowledged=lambda: len(self._window.claimed),
            released=self._release,
        )
        self._link = MqttLink(config, self._counters, session)

    @property
    def last_connect_error(self) -> str | None:
        """Why the last attempt to connect failed, if one did."""
        return self._link.last_connect_error

    @property
    def last_disconnect(self) -> str | None:
        """Why the last established connection ended, if one did."""
        return self._link.last_disconnect

    async def publish(self, record: Record) -> None:
        """Commit `record` to the outbox; it goes out whenever the broker is reachable.

        RecordError if it cannot be published (not plain JSON, too large), before anything
        is stored; OutboxFull (backpressure) if the outbox refuses it.
        """
        item = make_item(record, time.time(), self.config.retention)
        if len(item.payload) > self.config.max_record_bytes:
            raise RecordError(f"record {record.msg_id} has {len(item.payload)} bytes, too many")
        await self._outbox.enqueue(item)
        self._counters["published"] += 1
        self._wake.set()

    def stats(self) -> dict[str, int]:
        """Every counter (module docstring), zero if it never moved."""
        conn = self._link.current
        live = conn is not None and conn.live
        counts = {name: self._counters[name] for name in COUNTERS}
        # The intake counts as `commands` those it handed on; here it is every message.
        counts["commands"] += counts["malformed_commands"] + counts["duplicate_commands"]
        counts |= {
            f"malformed_{reason}": self._counters[f"malformed_{reason}"] for reason in REASONS
        }
        return counts | {"connected": int(live), "in_flight": len(self._window.by_mid)}

    async def backlog(self) -> OutboxStats:
        """The outbox's depth and its lifetime counters (records waiting for the broker)."""
        return await self._outbox.stats()

    # -- the session on each connection (called by the link) ----------------------------

    def _connected(self, conn: Connection, receive_maximum: int) -> None:
        """CONNACK: size the window, subscribe to commands, say we are online."""
        self._window = window = _Window(min(self.config.inflight_window, receive_maximum))
        options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
        conn.client.subscribe(self.config.command_topic, options=options)
        online = conn.client.publish(self.config.status_topic, "online", qos=1, retain=True)
        window.status_mid = online.mid
        log.info("connected to %s (window %d)", self._link.broker, window.size)
        self._wake.set()

    async def _publish_loop(self, conn: Connection) -> None:
        window = self._window
        while True:
            self._wake = wake = trio.Event()
            room = window.size - len(window.claimed) - (window.status_mid is not None)
            rows = await self._outbox.next_for(CLOUD, room) if room > 0 else []
            if not rows:
                await wake.wait()
                continue
            ids = [row.id for row in rows]
            window.claimed.update(ids)
            await self._outbox.mark_in_flight(ids)
            for row in rows:
                topic = self.config.record_topic(decode_record(row.payload))
                info = conn.client.publish(topic, row.payload, qos=1, properties=self._props)
                window.by_mid[info.mid] = row.id
                self._counters["sent"] += 1

    def _puback(self, mid: int, code: ReasonCode) -> None:
        window = self._window
        if mid == window.status_mid:
            window.status_mid = None
        elif (row := window.by_mid.pop(mid, None)) is not None:
            window.claimed.discard(row)
            if not code.is_failure:
                self._counters["acked"] += 1
                self._acked.append(row)
                self._ack_arrived.set()
            else:
                window.refused.add(row)
                self._counters["refused"] += 1
                if is_log_worthy(self._counters["refused"]):
                    log.warning(
                        "%s refused a record (%s): kept for the next connection (%d so far)",
                        self._link.broker,
                        code,
                        self._counters["refused"],
                    )
        self._wake.set()

    def _message(self, conn: Connection, message: MQTTMessage) -> None:
        self._inbox.append((conn, message))
        self._arrived.set()
        if len(self._inbox) > self.config.command_window:
            self._counters["commands_overflow"] += 1

    async def _has_room(self) -> None:
        """Return once fewer than `command_window` commands wait to be handled."""
        while len(self._inbox) >= self.config.command_window:
            self._room = trio.Event()
            await self._room.wait()

    async def _drain(self) -> None:
        while self._window.claimed:
            self._wake = wake = trio.Event()
            await wake.wait()

    async def _release(self) -> None:
        """Give the rows the connection left unacknowledged back to the outbox."""
        window, self._window = self._window, _Window()
        leftovers = sorted(window.claimed | window.refused)
        if leftovers:
            self._counters["released"] += await self._outbox.release(leftovers)

    # -- tasks of the uplink ------------------------------------------------------------

    async def _confirm_loop(self) -> None:
        """Remove acknowledged rows from the outbox, many per transaction."""
        while True:
            if not self._acked:
                self._ack_arrived = trio.Event()
                await self._ack_arrived.wait()
            await self._confirm_acked()

    async def _confirm_acked(self) -> None:
        batch, self._acked = self._acked, []
        if batch:
            self._counters["confirmed"] += await self._outbox.confirm(batch)

    async def _command_loop(self) -> None:
        while True:
            if not self._inbox:
                self._arrived = trio.Event()
                await self._arrived.wait()
                continue
            conn, message = self._inbox.popleft()
            self._room.set()
            payload = bytes(message.payload)
            try:
                raw = read_payload(payload, self.config.max_command_bytes)
            except CommandError as exc:
                await self._intake.refuse(payload.decode(errors="replace"), exc)
            else:
                await self._intake.take(raw)
            if conn is self._link.current and conn.live:
                conn.client.ack(message.mid, message.qos)


def _is_record(payload: bytes) -> bool:
    """Outbox validator: a stored row must read back as a record (else: quarantine)."""
    try:
        decode_record(payload)
    except RecordError:
        return False
    return True


@asynccontextmanager
async def open_mqtt_uplink(
    config: MqttConfig, outbox_path: str | Path, *, on_command: CommandHandler
) -> AsyncIterator[MqttUplink]:
    """Open the uplink's outbox at `outbox_path` and run the uplink until the block ends.

    Leaving the block stops publishing, waits up to `close_timeout` for outstanding
    PUBACKs, disconnects (the broker then publishes the retained "offline"), confirms what
    was acknowledged and closes the outbox; unacknowledged rows wait there for next time.
    """
    async with open_outbox(
        outbox_path, max_messages=config.capacity, validate=_is_record
    ) as outbox:
        uplink = MqttUplink(config, outbox, on_command)
        link = uplink._link
        try:
            async with trio.open_nursery() as nursery:
                for task in (link.run, uplink._confirm_loop, uplink._command_loop):
                    nursery.start_soon(task)
                try:
                    yield uplink
                finally:
                    with trio.CancelScope(shield=True):
                        await link.close()
                    nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await uplink._confirm_acked()
