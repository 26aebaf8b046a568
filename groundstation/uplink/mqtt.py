"""The MQTT cloud uplink: records from a durable outbox to a broker at QoS 1, commands back.

Topics, payloads, session and delivery rules for both ends: docs/mqtt.md.

Runtime: paho-mqtt 2.x under trio through paho's external-loop API. One task waits with
`trio.lowlevel.wait_readable` on the client's socket and calls `loop_read`; one waits for
`wait_writable` while paho has bytes queued (its register-write callback wakes it) and
calls `loop_write`; one calls `loop_misc` each second (keepalive). So every paho callback
runs on the trio thread and touches the uplink's state directly: no locks, no second
event loop, where paho's own thread (`loop_start`) would add a thread per client, every
callback marshalled into trio, and a blocking `loop_stop`. The one blocking call left,
`connect` (DNS, TCP, TLS handshake), runs in a worker thread (`trio.to_thread`) while
nothing else touches that client, bounded by `connect_timeout`. Each connection gets a
fresh client, so paho never replays its memory of an earlier connection: the outbox is
the only source of what to send.

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
- Persistent session: fixed client id, clean start off, `session_expiry`.
- Reconnects wait `backoff.delay(n)`; n starts again after a connection that lasted
  `backoff.maximum`. A socket or TLS error, a refused CONNACK and a missing CONNACK are
  each one `connect_failures`, with a clear `last_connect_error`.
- Commands: subscribed at QoS 1, retain handling 2; acknowledged only once handled, so
  one in hand when the connection broke comes again, and a command_id seen recently is
  skipped (`duplicate_commands`). At most `command_window` unacknowledged (our Receive
  Maximum). As in the HTTP uplink, a malformed command is counted, logged at the 1st,
  10th, 100th... and answered with an INVALID "ack" record; a handler that raises is
  logged and answered FAILED.
- Status: retained "online" after each CONNACK; the will, a retained "offline", is sent
  by the broker when the connection dies and on close (DISCONNECT reason 0x04).
- Counters (`stats()`): published (records committed), sent (PUBLISH packets), acked,
  refused, confirmed (rows removed), released (rows given back), connects, reconnects,
  disconnects, connect_failures, commands, malformed_commands, duplicate_commands,
  command_errors, commands_overflow; and the current connected (0/1) and in_flight.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio
from paho.mqtt.client import Client, DisconnectFlags, MQTTMessage, MQTTv5
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from companion.outbox import Outbox, OutboxFull, OutboxStats, open_outbox
from companion.transport.backoff import Backoff
from companion.transport.base import is_log_worthy
from dialects import event

from ..commands import CommandError, parse_command
from ..records import Record, RecordError
from .base import CLOUD, RETENTION, CommandHandler, decode_record, gateway_outcome_record
from .base import outbox_item as make_item

log = logging.getLogger("groundstation.uplink.mqtt")

COUNTERS = (
    "published", "sent", "acked", "refused", "confirmed", "released", "connects",
    "reconnects", "disconnects", "connect_failures", "commands", "malformed_commands",
    "duplicate_commands", "command_errors", "commands_overflow",
)  # fmt: skip
_REMEMBERED = 4096
"""Handled command ids kept to skip redeliveries (oldest forgotten first)."""
_WILL_DISCONNECT = ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message")
_KEEPALIVE_TIMEOUT = 0x8D
_BACKOFF = Backoff(initial=0.5, maximum=30.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttConfig:
    """Where the broker is, who we are, and the uplink's limits (docs/mqtt.md)."""

    host: str
    port: int = 1883
    fleet: str
    gateway: int = 255
    """The ground station's MAVLink system id: its topic level and its records' source."""
    client_id: str = ""
    """Fixed per ground station, as the session is keyed by it; default event-FLEET-GATEWAY."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: Path | None = None
    """CA bundle for the broker's certificate; None: the system's."""
    client_cert: Path | None = None
    client_key: Path | None = None
    keepalive: int = 30
    session_expiry: int = 7 * 24 * 3600
    inflight_window: int = 20
    command_window: int = 16
    retention: float = RETENTION
    capacity: int = 100_000
    max_record_bytes: int = 256 * 1024
    """Keep it under the broker's message_size_limit (Mosquitto: unlimited by default)."""
    max_command_bytes: int = 64 * 1024
    backoff: Backoff = _BACKOFF
    connect_timeout: float = 10.0
    """Seconds for DNS, TCP, TLS and the CONNACK together."""
    close_timeout: float = 5.0
    """Seconds leaving the block waits for outstanding PUBACKs and the DISCONNECT."""

    def __post_init__(self) -> None:
        if not self.fleet or any(c in self.fleet for c in "/+#\0"):
            raise ValueError(f"fleet {self.fleet!r} cannot be an MQTT topic level")
        if not self.client_id:
            object.__setattr__(self, "client_id", f"event-{self.fleet}-{self.gateway}")
        if not (1 <= self.inflight_window <= 65535 and 1 <= self.command_window <= 65535):
            raise ValueError("inflight_window and command_window must be 1-65535")
        if self.client_cert is not None and not self.tls:
            raise ValueError("a client certificate needs tls=True")

    def record_topic(self, record: Record) -> str:
        """uav/N/TYPE for a vehicle's record, gateway/G/records/TYPE for the gateway's own."""
        kind, _, number = record.source.partition("-")
        if kind == "uav" and number.isdigit():
            return f"event/{self.fleet}/uav/{number}/{record.msg_type}"
        return f"event/{self.fleet}/gateway/{self.gateway}/records/{record.msg_type}"

    @property
    def command_topic(self) -> str:
        return f"event/{self.fleet}/commands/{self.gateway}"

    @property
    def status_topic(self) -> str:
        return f"event/{self.fleet}/gateway/{self.gateway}/status"


class _Connection:
    """One paho client, one connection attempt, and the rows sent on it."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.settled = trio.Event()
        """Set by the CONNACK (either way) or by the end of the connection."""
        self.ready = trio.Event()
        self.ended = trio.Event()
        self.write_wanted = trio.Event()
        self.publisher = trio.CancelScope()
        self.refused_connack = False
        self.opened = time.monotonic()
        self.window = 1
        self.status_mid: int | None = None
        self.by_mid: dict[int, int] = {}
        """PUBLISH packet id -> outbox row id, until its PUBACK."""
        self.claimed: set[int] = set()
        """Rows marked in flight for this connection and not acknowledged yet."""
        self.refused: set[int] = set()


class MqttUplink:
    """The uplink's face: `publish` records, read `stats`. Build with `open_mqtt_uplink`."""

    def __init__(self, config: MqttConfig, outbox: Outbox, on_command: CommandHandler) -> None:
        self.config = config
        self.last_connect_error: str | None = None
        self.last_disconnect: str | None = None
        self._outbox = outbox
        self._on_command = on_command
        self._counters: Counter[str] = Counter()
        self._conn: _Connection | None = None
        self._wake = trio.Event()
        self._acked: list[int] = []
        self._ack_arrived = trio.Event()
        self._closing = trio.Event()
        self._stopped = trio.Event()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._tls = _tls_context(config) if config.tls else None
        self._props = _properties(
            PacketTypes.PUBLISH, PayloadFormatIndicator=1, ContentType="application/json"
        )
        self._inbox, self._commands = trio.open_memory_channel[tuple[_Connection, MQTTMessage]](
            config.command_window
        )

    async def publish(self, record: Record) -> None:
        """Commit `record` to the outbox; it goes out whenever the broker is reachable.

        RecordError if it cannot be published (not plain JSON, too large), before anything
        is stored; OutboxFull (backpressure) if the outbox refuses it.
        """
        try:
            item = make_item(record, time.time(), self.config.retention)
        except (TypeError, ValueError) as exc:
            raise RecordError(f"record {record.msg_id} is not plain JSON: {exc}") from exc
        if len(item.payload) > self.config.max_record_bytes:
            raise RecordError(f"record {record.msg_id} has {len(item.payload)} bytes, too many")
        await self._outbox.enqueue(item)
        self._counters["published"] += 1
        self._wake.set()

    def stats(self) -> dict[str, int]:
        """Every counter (module docstring), zero if it never moved."""
        conn = self._conn
        live = conn is not None and conn.ready.is_set() and not conn.ended.is_set()
        in_flight = len(conn.by_mid) if conn is not None else 0
        return {name: self._counters[name] for name in COUNTERS} | {
            "connected": int(live),
            "in_flight": in_flight,
        }

    async def backlog(self) -> OutboxStats:
        """The outbox's depth and its lifetime counters (records waiting for the broker)."""
        return await self._outbox.stats()

    # -- connections --------------------------------------------------------------------

    async def _supervise(self) -> None:
        attempt = 0
        try:
            while not self._closing.is_set():
                conn = await self._open()
                if conn is not None:
                    await self._serve(conn)
                    if time.monotonic() - conn.opened >= self.config.backoff.maximum:
                        attempt = 0
                with trio.move_on_after(self.config.backoff.delay(attempt)):
                    await self._closing.wait()
                attempt += 1
        finally:
            self._stopped.set()

    async def _open(self) -> _Connection | None:
        """A new client, connected (CONNECT written) in a worker thread; None on failure."""
        config = self.config
        client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=MQTTv5,
            reconnect_on_failure=False,
            manual_ack=True,
        )
        client.connect_timeout = config.connect_timeout
        client.max_inflight_messages = 0  # unlimited: the uplink keeps its own window
        if config.username is not None:
            client.username_pw_set(config.username, config.password)
        if self._tls is not None:
            client.tls_set_context(self._tls)
        client.will_set(config.status_topic, "offline", qos=1, retain=True)
        connect = _properties(
            PacketTypes.CONNECT,
            SessionExpiryInterval=config.session_expiry,
            ReceiveMaximum=config.command_window,
        )
        try:
            await trio.to_thread.run_sync(
                lambda: client.connect(
                    config.host,
                    config.port,
                    config.keepalive,
                    clean_start=False,
                    properties=connect,
                )
            )
        except (OSError, ValueError) as exc:  # refused, unreachable, DNS, TLS, timeout
            self._connect_failed(f"cannot reach {self._broker()}: {exc!r}")
            return None
        conn = _Connection(client)
        client.on_connect = lambda _c, _u, _f, code, props: self._connack(conn, code, props)
        client.on_disconnect = lambda _c, _u, flags, code, _p: self._lost(conn, code, flags)
        client.on_publish = lambda _c, _u, mid, code, _p: self._puback(conn, mid, code)
        client.on_message = lambda _c, _u, message: self._message(conn, message)
        client.on_socket_close = lambda _c, _u, sock: trio.lowlevel.notify_closing(sock)
        client.on_socket_register_write = lambda _c, _u, _s: conn.write_wanted.set()
        return conn

    def _broker(self) -> str:
        return f"MQTT broker {self.config.host}:{self.config.port}"

    def _connect_failed(self, reason: str) -> None:
        self._counters["connect_failures"] += 1
        self.last_connect_error = reason
        log.warning("%s (%d failures so far)", reason, self._counters["connect_failures"])

    async def _serve(self, conn: _Connection) -> None:
        """Drive one connection until it ends; then give back its unacknowledged rows."""
        self._conn = conn
        try:
            async with trio.open_nursery() as nursery:
                for task in (self._read, self._write, self._tick, self._leave_on_close):
                    nursery.start_soon(task, conn)
                with trio.move_on_after(self.config.connect_timeout):
                    await conn.settled.wait()
                if conn.ready.is_set():
                    nursery.start_soon(self._publish_loop, conn)
                elif not conn.settled.is_set():
                    self._end(conn, f"no CONNACK within {self.config.connect_timeout} s")
                await conn.ended.wait()
                nursery.cancel_scope.cancel()
        finally:
            _discard(conn.client)
            leftovers = sorted(conn.claimed | conn.refused)
            conn.by_mid.clear()
            if leftovers:
                self._counters["released"] += await self._outbox.release(leftovers)

    def _end(self, conn: _Connection, reason: str) -> None:
        """The connection is over: count it once, by how far it got."""
        if conn.ended.is_set():
            return
        conn.ended.set()
        conn.settled.set()
        if self._closing.is_set():
            return
        if conn.ready.is_set():
            self._counters["disconnects"] += 1
            self.last_disconnect = reason
            log.warning(
                "lost %s: %s; %d unacknowledged records go back to the outbox",
                self._broker(),
                reason,
                len(conn.claimed),
            )
        elif not conn.refused_connack:
            self._connect_failed(f"{self._broker()} closed before CONNACK: {reason}")

    # -- paho callbacks (trio thread, inside loop_read / loop_write / loop_misc) --------

    def _connack(self, conn: _Connection, code: ReasonCode, props: Properties) -> None:
        if code.is_failure:
            conn.refused_connack = True
            self._connect_failed(f"{self._broker()} refused the connection: {code}")
            conn.settled.set()
            return
        conn.window = min(self.config.inflight_window, getattr(props, "ReceiveMaximum", 65535))
        options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
        conn.client.subscribe(self.config.command_topic, options=options)
        online = conn.client.publish(self.config.status_topic, "online", qos=1, retain=True)
        conn.status_mid = online.mid
        self._counters["connects"] += 1
        if self._counters["connects"] > 1:
            self._counters["reconnects"] += 1
        log.info("connected to %s (window %d)", self._broker(), conn.window)
        conn.ready.set()
        conn.settled.set()
        self._wake.set()

    def _lost(self, conn: _Connection, code: ReasonCode, flags: DisconnectFlags) -> None:
        if flags.is_disconnect_packet_from_server:
            self._end(conn, f"the broker disconnected us: {code}")
        elif code.value == _KEEPALIVE_TIMEOUT:
            self._end(conn, "no answer within the keepalive")
        else:
            self._end(conn, "connection closed by the network or the broker")

    def _puback(self, conn: _Connection, mid: int, code: ReasonCode) -> None:
        if mid == conn.status_mid:
            conn.status_mid = None
        elif (row := conn.by_mid.pop(mid, None)) is not None:
            conn.claimed.discard(row)
            if not code.is_failure:
                self._counters["acked"] += 1
                self._acked.append(row)
                self._ack_arrived.set()
            else:
                conn.refused.add(row)
                self._counters["refused"] += 1
                if is_log_worthy(self._counters["refused"]):
                    log.warning(
                        "%s refused a record (%s): kept for the next connection (%d so far)",
                        self._broker(),
                        code,
                        self._counters["refused"],
                    )
        self._wake.set()

    def _message(self, conn: _Connection, message: MQTTMessage) -> None:
        try:
            self._inbox.send_nowait((conn, message))
        except trio.WouldBlock:  # the broker ignored our Receive Maximum; it will resend
            self._counters["commands_overflow"] += 1
            log.warning("command beyond our Receive Maximum left unacknowledged")

    # -- tasks of one connection --------------------------------------------------------

    async def _read(self, conn: _Connection) -> None:
        client = conn.client
        while (sock := client.socket()) is not None:
            try:
                await trio.lowlevel.wait_readable(sock)
            except trio.ClosedResourceError:
                break
            rc = client.loop_read()
            while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and _tls_pending(client):
                rc = client.loop_read()
        self._end(conn, "socket closed")

    async def _write(self, conn: _Connection) -> None:
        client = conn.client
        while (sock := client.socket()) is not None:
            if not client.want_write():
                conn.write_wanted = trio.Event()
                if not client.want_write():
                    await conn.write_wanted.wait()
                continue
            try:
                await trio.lowlevel.wait_writable(sock)
            except trio.ClosedResourceError:
                break
            client.loop_write()
        self._end(conn, "socket closed")

    async def _tick(self, conn: _Connection) -> None:
        """Keepalive: paho sends PINGREQ, and drops a silent broker, in `loop_misc`."""
        while conn.client.loop_misc() == MQTTErrorCode.MQTT_ERR_SUCCESS:
            await trio.sleep(1.0)
        self._end(conn, "socket closed")

    async def _leave_on_close(self, conn: _Connection) -> None:
        await self._closing.wait()
        conn.publisher.cancel()
        if conn.ready.is_set():
            with trio.move_on_after(self.config.close_timeout):
                while conn.claimed:
                    self._wake = wake = trio.Event()
                    await wake.wait()
                conn.client.disconnect(reasoncode=_WILL_DISCONNECT)
                await conn.ended.wait()
        self._end(conn, "closed by the ground station")

    async def _publish_loop(self, conn: _Connection) -> None:
        with conn.publisher:
            while True:
                self._wake = wake = trio.Event()
                room = conn.window - len(conn.claimed) - (conn.status_mid is not None)
                rows = await self._outbox.next_for(CLOUD, room) if room > 0 else []
                if not rows:
                    await wake.wait()
                    continue
                ids = [row.id for row in rows]
                conn.claimed.update(ids)
                await self._outbox.mark_in_flight(ids)
                for row in rows:
                    topic = self.config.record_topic(decode_record(row.payload))
                    info = conn.client.publish(topic, row.payload, qos=1, properties=self._props)
                    conn.by_mid[info.mid] = row.id
                    self._counters["sent"] += 1

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
        async for conn, message in self._commands:
            self._counters["commands"] += 1
            await self._take(bytes(message.payload))
            if conn is self._conn and conn.ready.is_set() and not conn.ended.is_set():
                conn.client.ack(message.mid, message.qos)

    async def _take(self, payload: bytes) -> None:
        try:
            raw = _read_json(payload, self.config.max_command_bytes)
        except CommandError as exc:
            await self._malformed(payload.decode(errors="replace"), exc)
            return
        try:
            command = parse_command(raw)
        except CommandError as exc:
            await self._malformed(raw, exc)
            return
        if command.command_id in self._seen:
            self._counters["duplicate_commands"] += 1
            return
        self._seen[command.command_id] = None
        while len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
        try:
            await self._on_command(command)
        except Exception as exc:  # a handler bug must not stop the uplink; it is reported
            self._counters["command_errors"] += 1
            log.exception("on_command failed for %s", command.command_id)
            await self._answer(raw, event.EVENT_OUTCOME_FAILED, f"gateway: {exc!r}")

    async def _malformed(self, raw: object, exc: CommandError) -> None:
        self._counters["malformed_commands"] += 1
        if is_log_worthy(self._counters["malformed_commands"]):
            log.warning(
                "malformed command on %s refused (%d so far): %s",
                self.config.command_topic,
                self._counters["malformed_commands"],
                exc,
            )
        await self._answer(raw, event.EVENT_OUTCOME_INVALID, str(exc))

    async def _answer(self, raw: object, outcome: int, reason: str) -> None:
        """Tell the cloud, by an "ack" record from the gateway, what became of a command."""
        gateway = self.config.gateway
        record = gateway_outcome_record(
            raw, outcome, reason, gateway=gateway, cursor=None, now=time.time()
        )
        try:
            await self.publish(record)
        except OutboxFull:
            log.exception(
                "outbox full: the cloud will not hear that %s was %s", record.msg_id, reason
            )

    async def _close(self) -> None:
        self._closing.set()
        with trio.move_on_after(self.config.connect_timeout + self.config.close_timeout):
            await self._stopped.wait()


def _read_json(payload: bytes, limit: int) -> object:
    """The JSON value of a command payload; CommandError if there is none."""
    if len(payload) > limit:
        raise CommandError(f"{len(payload)} bytes, over the {limit} byte limit")
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise CommandError(f"not JSON: {exc}") from None


def _properties(packet_type: int, **values: object) -> Properties:
    """MQTT 5 properties for one packet type (paho's constructor is untyped)."""
    properties = Properties(packet_type)  # type: ignore[no-untyped-call]
    for name, value in values.items():
        setattr(properties, name, value)
    return properties


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when its handshake fails: paho drops such a socket without closing."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def _tls_context(config: MqttConfig) -> ssl.SSLContext:
    """Verification always on: the given CA bundle, or the system's."""
    context = ssl.create_default_context(cafile=config.ca_file)
    context.sslsocket_class = _ClosingSSLSocket
    if config.client_cert is not None:
        context.load_cert_chain(config.client_cert, config.client_key)
    return context


def _tls_pending(client: Client) -> bool:
    """Decrypted bytes buffered in the TLS layer, which the socket's readiness hides."""
    sock = client.socket()
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def _discard(client: Client) -> None:
    """Close the client's socket once no task waits on it (paho would on collection)."""
    client.on_socket_close = None
    client.on_socket_register_write = None
    sock = client.socket()
    if sock is not None:
        sock.close()


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
        try:
            async with trio.open_nursery() as nursery:
                for task in (uplink._supervise, uplink._confirm_loop, uplink._command_loop):
                    nursery.start_soon(task)
                try:
                    yield uplink
                finally:
                    with trio.CancelScope(shield=True):
                        await uplink._close()
                    nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await uplink._confirm_acked()
