"""The MQTT uplink's configuration: where the broker is, who we are, the topics and limits.

Topics, payloads, session and delivery rules for both ends: docs/mqtt.md.

Rules:
- The fleet is one topic level: no "/", "+", "#" or NUL in it.
- The client id is fixed per ground station (the broker keys the persistent session by
  it); by default event-FLEET-GATEWAY.
- Topics: a vehicle's record goes to event/FLEET/uav/N/TYPE, the gateway's own to
  event/FLEET/gateway/G/records/TYPE; commands come on event/FLEET/commands/G; the
  gateway's status is event/FLEET/gateway/G/status.
- Both windows (records awaiting PUBACK, commands awaiting our ack) are 1-65535, the
  range of MQTT 5's Receive Maximum. A client certificate needs TLS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from companion.transport.backoff import Backoff

from ..records import Record
from .base import RETENTION

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
