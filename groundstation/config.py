"""The ground station's TOML configuration, checked whole before anything starts.

    [node]
    id = 255                            # the gateway's node id (255 by convention)
    keys = "/etc/event/keys"            # bundle from `event-provision issue --role ground_station`
    link_key = "/etc/event/link.key"    # the fleet's 32-byte link key, 64 hex digits
    state_dir = "/var/lib/event-gs"     # radio outbox, uplink outbox, signing timestamp

    [radio]
    url = "serial:/dev/serial/by-id/usb-SiK-if00-port0:57600"   # or "udp:HOST:PORT"

    [uplink]                            # the command center
    kind = "http"                       # http | mqtt
    url = "https://cc.example.org"      # http: base URL of the API (docs/api.openapi.yaml)
    token_file = "/etc/event/cloud.token"   # http: bearer token, one line
    ca_file = ""                        # optional PEM bundle to verify the cloud with
    host = "broker.example.org"         # mqtt
    port = 8883                         # mqtt
    fleet = "alpha"                     # mqtt: topic prefix event/{fleet}/...
    username = ""                       # mqtt, optional
    password_file = ""                  # mqtt, optional
    tls = true                          # mqtt
    retry_max = 30.0                    # longest wait between retries while the cloud is away

    [status]
    interval = 10.0                     # seconds between fleet-table log lines

Rules: as `companion/settings.py`; a missing `token_file` for HTTP or `host` for MQTT is
an error naming the key. `url` is http(s)://HOST...; `host` a host name or address; the
token and password files are secrets (0600); `ca_file` must load as PEM certificates;
`fleet` is one MQTT topic level (no "/", "+", "#"). What the start needs from the machine
(keys, ports, host names) is checked by `companion/preflight.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from companion.settings import (
    ConfigError,
    Endpoint,
    ca_file,
    check_keys,
    flag,
    host_name,
    integer,
    link_key,
    number,
    optional_text,
    read_toml,
    secret_text,
    text,
    url,
)

__all__ = ["ConfigError", "StationConfig", "load_station_config", "parse_station_config"]

_KNOWN = {
    "node": {"id", "keys", "link_key", "state_dir"},
    "radio": {"url"},
    "uplink": {
        "kind",
        "url",
        "token_file",
        "ca_file",
        "host",
        "port",
        "fleet",
        "username",
        "password_file",
        "tls",
        "retry_max",
    },
    "status": {"interval"},
}


@dataclass(frozen=True, slots=True, kw_only=True)
class StationConfig:
    node_id: int
    keys: Path
    link_key: bytes = b""
    state_dir: Path
    radio: Endpoint
    uplink: str
    url: str = ""
    token: str = ""
    ca_file: Path | None = None
    host: str = ""
    port: int = 1883
    fleet: str = "event"
    username: str | None = None
    password: str | None = None
    tls: bool = False
    retry_max: float = 30.0
    status_interval: float = 10.0


def load_station_config(path: Path) -> StationConfig:
    """Read and check the file at `path`."""
    return parse_station_config(read_toml(path), base=path.parent)


def parse_station_config(raw: dict[str, Any], *, base: Path) -> StationConfig:
    """Check a parsed TOML document; relative paths are taken from `base`."""
    check_keys(raw, _KNOWN)
    node, uplink = raw.get("node", {}), raw.get("uplink", {})
    kind = text(uplink, "uplink.kind", "http")
    if kind not in ("http", "mqtt"):
        raise ConfigError(f"uplink.kind must be http or mqtt, not {kind!r}")
    common: dict[str, Any] = {
        "node_id": integer(node, "node.id", 255, 1, 255),
        "keys": base / text(node, "node.keys", None),
        "link_key": link_key(base / text(node, "node.link_key", None)),
        "state_dir": base / text(node, "node.state_dir", "state"),
        "radio": Endpoint.parse("radio.url", text(raw.get("radio", {}), "radio.url", None)),
        "uplink": kind,
        "ca_file": ca_file(uplink, "uplink.ca_file", base),
        "retry_max": number(uplink, "uplink.retry_max", 30.0, 1.0),
        "status_interval": number(raw.get("status", {}), "status.interval", 10.0, 1.0),
    }
    if kind == "http":
        return StationConfig(
            **common,
            url=url(uplink, "uplink.url", ("http", "https")),
            token=secret_text(uplink, "uplink.token_file", base),
        )
    password = optional_text(uplink, "uplink.password_file")
    return StationConfig(
        **common,
        host=host_name("uplink.host", text(uplink, "uplink.host", None)),
        port=integer(uplink, "uplink.port", 1883, 1, 65535),
        fleet=_fleet(uplink),
        username=optional_text(uplink, "uplink.username"),
        password=secret_text(uplink, "uplink.password_file", base) if password else None,
        tls=flag(uplink, "uplink.tls", False),
    )


def _fleet(table: dict[str, Any]) -> str:
    value = text(table, "uplink.fleet", "event")
    if any(c in value for c in "/+#\0"):
        raise ConfigError(f'uplink.fleet: {value!r} cannot be an MQTT topic level (no "/+#")')
    return value
