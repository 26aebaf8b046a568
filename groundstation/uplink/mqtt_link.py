"""The MQTT uplink's connection to its broker: paho-mqtt 2.x under trio, kept up with backoff.

Runtime: paho's external-loop API. One task waits with `trio.lowlevel.wait_readable` on
the client's socket and calls `loop_read`; one waits for `wait_writable` while paho has
bytes queued (its register-write callback wakes it) and calls `loop_write`; one calls
`loop_misc` each second (keepalive). So every paho callback runs on the trio thread and
touches the uplink's state directly: no locks, no second event loop, where paho's own
thread (`loop_start`) would add a thread per client, every callback marshalled into
trio, and a blocking `loop_stop`. The one blocking call left, `connect` (DNS, TCP, TLS
handshake), runs in a worker thread (`trio.to_thread`) while nothing else touches that
client, bounded by `connect_timeout`. Each connection gets a fresh client, so paho never
replays its memory of an earlier connection: what to send is the session's to say.

Rules:
- What happens on a connection is the session's (`LinkSession`, the uplink): it is told
  of the CONNACK, serves while the connection is up, gets every PUBACK and incoming
  PUBLISH, and takes back what was unacknowledged once the connection is over.
- Persistent session: fixed client id, clean start off, `session_expiry`; our Receive
  Maximum is `command_window`; the will is a retained "offline" on the status topic.
- Reconnects wait `backoff.delay(n)`; n starts again after a connection that lasted
  `backoff.maximum`. A socket or TLS error, a refused CONNACK and a missing CONNACK
  (none within `connect_timeout`) are each one `connect_failures`, with a clear
  `last_connect_error`; a connection lost after its CONNACK is one `disconnects`, with
  `last_disconnect`. Counters moved here: connects, reconnects, disconnects,
  connect_failures.
- Closing stops the session's work, lets it drain, then sends DISCONNECT with reason
  0x04 so the broker publishes the will; all of it bounded by `close_timeout`.
- TLS verifies the broker always: the given CA bundle, or the system's. A socket whose
  handshake fails is closed at once (paho would drop it open).
"""

from __future__ import annotations

import logging
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio
from paho.mqtt.client import Client, DisconnectFlags, MQTTMessage, MQTTv5
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from .mqtt_config import MqttConfig

log = logging.getLogger("groundstation.uplink.mqtt")
"""The uplink's logger: the link logs as the MQTT uplink it serves."""

_WILL_DISCONNECT = ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message")
_KEEPALIVE_TIMEOUT = 0x8D
_NO_RECEIVE_MAXIMUM = 65535
"""MQTT 5: a CONNACK without Receive Maximum allows 65,535 unacknowledged PUBLISHes."""


class Connection:
    """One paho client and one connection attempt."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.settled = trio.Event()
        """Set by the CONNACK (either way) or by the end of the connection."""
        self.ready = trio.Event()
        self.ended = trio.Event()
        self.write_wanted = trio.Event()
        self.serving = trio.CancelScope()
        """Around the session's work on this connection; cancelled when the link closes."""
        self.refused_connack = False
        self.opened = time.monotonic()

    @property
    def live(self) -> bool:
        """CONNACK accepted, and not ended since."""
        return self.ready.is_set() and not self.ended.is_set()


@dataclass(frozen=True, slots=True)
class LinkSession:
    """What the uplink does on each connection. Every call comes on the trio thread; the
    plain ones from inside paho's loop calls, so they must not block."""

    connected: Callable[[Connection, int], None]
    """The broker accepted `conn` (CONNACK), with this Receive Maximum."""
    serve: Callable[[Connection], Awaitable[None]]
    """The work while `conn` is up; cancelled when it ends or the link closes."""
    puback: Callable[[int, ReasonCode], None]
    """The PUBACK of the PUBLISH with this packet id, on the current connection."""
    message: Callable[[Connection, MQTTMessage], None]
    """A PUBLISH from the broker on `conn`, to acknowledge (`client.ack`) once handled."""
    room: Callable[[], Awaitable[None]]
    """Return once the session can take more PUBLISHes: the link reads nothing before."""
    drain: Callable[[], Awaitable[None]]
    """Closing: return once nothing sent awaits its PUBACK (the link bounds the wait)."""
    unacknowledged: Callable[[], int]
    """Records sent on the current connection and not acknowledged yet."""
    released: Callable[[], Awaitable[None]]
    """The current connection is over: take back what it left unacknowledged."""


class MqttLink:
    """Keeps one connection to the broker at a time, for a session. `run` until `close`."""

    def __init__(self, config: MqttConfig, counters: Counter[str], session: LinkSession) -> None:
        self.config = config
        self.current: Connection | None = None
        """The connection being served, or the last one."""
        self.last_connect_error: str | None = None
        self.last_disconnect: str | None = None
        self._counters = counters
        self._session = session
        self._closing = trio.Event()
        self._stopped = trio.Event()
        self._tls = _tls_context(config) if config.tls else None

    @property
    def broker(self) -> str:
        """The broker, as log lines and errors name it."""
        return f"MQTT broker {self.config.host}:{self.config.port}"

    async def run(self) -> None:
        """Connect, serve, reconnect after a backoff, until `close`."""
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

    async def close(self) -> None:
        """Leave the broker (module docstring) and wait, bounded, for `run` to return."""
        self._closing.set()
        with trio.move_on_after(self.config.connect_timeout + self.config.close_timeout):
            await self._stopped.wait()

    # -- one connection -----------------------------------------------------------------

    async def _open(self) -> Connection | None:
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
        connect = properties(
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
            self._connect_failed(f"cannot reach {self.broker}: {exc!r}")
            return None
        session = self._session
        conn = Connection(client)
        client.on_connect = lambda _c, _u, _f, code, props: self._connack(conn, code, props)
        client.on_disconnect = lambda _c, _u, flags, code, _p: self._lost(conn, code, flags)
        client.on_publish = lambda _c, _u, mid, code, _p: session.puback(mid, code)
        client.on_message = lambda _c, _u, message: session.message(conn, message)
        client.on_socket_close = lambda _c, _u, sock: trio.lowlevel.notify_closing(sock)
        client.on_socket_register_write = lambda _c, _u, _s: conn.write_wanted.set()
        return conn

    def _connect_failed(self, reason: str) -> None:
        self._counters["connect_failures"] += 1
        self.last_connect_error = reason
        log.warning("%s (%d failures so far)", reason, self._counters["connect_failures"])

    async def _serve(self, conn: Connection) -> None:
        """Drive one connection until it ends; then the session takes back what it left."""
        self.current = conn
        try:
            async with trio.open_nursery() as nursery:
                for task in (self._read, self._write, self._tick, self._leave_on_close):
                    nursery.start_soon(task, conn)
                with trio.move_on_after(self.config.connect_timeout):
                    await conn.settled.wait()
                if conn.ready.is_set():
                    nursery.start_soon(self._run_session, conn)
                elif not conn.settled.is_set():
                    self._end(conn, f"no CONNACK within {self.config.connect_timeout} s")
                await conn.ended.wait()
                nursery.cancel_scope.cancel()
        finally:
            _discard(conn.client)
            await self._session.released()

    async def _run_session(self, conn: Connection) -> None:
        with conn.serving:
            await self._session.serve(conn)

    def _end(self, conn: Connection, reason: str) -> None:
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
                self.broker,
                reason,
                self._session.unacknowledged(),
            )
        elif not conn.refused_connack:
            self._connect_failed(f"{self.broker} closed before CONNACK: {reason}")

    # -- paho callbacks (trio thread, inside loop_read / loop_write / loop_misc) --------

    def _connack(self, conn: Connection, code: ReasonCode, props: Properties) -> None:
        if code.is_failure:
            conn.refused_connack = True
            self._connect_failed(f"{self.broker} refused the connection: {code}")
            conn.settled.set()
            return
        self._session.connected(conn, getattr(props, "ReceiveMaximum", _NO_RECEIVE_MAXIMUM))
        self._counters["connects"] += 1
        if self._counters["connects"] > 1:
            self._counters["reconnects"] += 1
        conn.ready.set()
        conn.settled.set()

    def _lost(self, conn: Connection, code: ReasonCode, flags: DisconnectFlags) -> None:
        if flags.is_disconnect_packet_from_server:
            self._end(conn, f"the broker disconnected us: {code}")
        elif code.value == _KEEPALIVE_TIMEOUT:
            self._end(conn, "no answer within the keepalive")
        else:
            self._end(conn, "connection closed by the network or the broker")

    # -- tasks of one connection --------------------------------------------------------

    async def _read(self, conn: Connection) -> None:
        client = conn.client
        while (sock := client.socket()) is not None:
            await self._session.room()
            try:
                await trio.lowlevel.wait_readable(sock)
            except trio.ClosedResourceError:
                break
            rc = client.loop_read()
            while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and _tls_pending(client):
                rc = client.loop_read()
        self._end(conn, "socket closed")

    async def _write(self, conn: Connection) -> None:
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

    async def _tick(self, conn: Connection) -> None:
        """Keepalive: paho sends PINGREQ, and drops a silent broker, in `loop_misc`."""
        while conn.client.loop_misc() == MQTTErrorCode.MQTT_ERR_SUCCESS:
            await trio.sleep(1.0)
        self._end(conn, "socket closed")

    async def _leave_on_close(self, conn: Connection) -> None:
        await self._closing.wait()
        conn.serving.cancel()
        if conn.ready.is_set():
            with trio.move_on_after(self.config.close_timeout):
                await self._session.drain()
                conn.client.disconnect(reasoncode=_WILL_DISCONNECT)
                await conn.ended.wait()
        self._end(conn, "closed by the ground station")


def properties(packet_type: int, **values: object) -> Properties:
    """MQTT 5 properties for one packet type (paho's constructor is untyped)."""
    result = Properties(packet_type)  # type: ignore[no-untyped-call]
    for name, value in values.items():
        setattr(result, name, value)
    return result


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
