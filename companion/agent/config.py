"""The agent's TOML configuration, checked whole before anything starts.

    [node]
    id = 3                              # 1-254; the ground station is 255
    keys = "/etc/event/keys"            # bundle from `event-provision issue`
    link_key = "/etc/event/link.key"    # the fleet's 32-byte link key, 64 hex digits
    state_dir = "/var/lib/event"        # outbox, signing timestamp, flight logs
    ground_station = 255

    [radio]                             # the telemetry radio
    url = "serial:/dev/serial/by-id/usb-SiK-if00-port0:57600"   # or "udp:HOST:PORT"

    [autopilot]                         # the flight controller
    url = "serial:/dev/ttyAMA0:921600"  # or "tcp:127.0.0.1:5760", "udp:0.0.0.0:14550"
    tlog = true                         # record the link as state_dir/flight-*.tlog

    [detector]
    listen = "127.0.0.1:14600"          # UDP, JSON lines (see companion/agent/intake.py)

    [telemetry]
    interval = 2.0                      # seconds between EVENT_TELEMETRY reports
    status_interval = 10.0              # seconds between EVENT_STATUS reports

    [link_loss]
    action = "continue"                 # continue | loiter | rtl
    timeout = 120.0                     # seconds without a route to the ground station

Rules:
- Every key has a documented default except `node.id`, `node.keys` and `node.link_key`.
- Any problem (unknown section or key, wrong type, value out of range, unreadable file)
  is one `ConfigError` naming the key, raised before the agent touches a device.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .linkloss import Action


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the key and the problem."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed device URL: serial:DEVICE:BAUD, udp:HOST:PORT or tcp:HOST:PORT."""

    kind: str
    host: str
    port: int

    @classmethod
    def parse(cls, key: str, url: str) -> Endpoint:
        kind, _, rest = url.partition(":")
        where, _, number = rest.rpartition(":")
        if kind not in ("serial", "udp", "tcp") or not where or not number.isdigit():
            raise ConfigError(
                f"{key}: {url!r} is not serial:DEVICE:BAUD, udp:HOST:PORT or tcp:HOST:PORT"
            )
        value = int(number)
        if kind != "serial" and not 0 < value < 65536:
            raise ConfigError(f"{key}: port {value} outside 1..65535")
        return cls(kind, where, value)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfig:
    node_id: int
    keys: Path
    link_key: bytes
    state_dir: Path
    ground_station: int
    radio: Endpoint
    autopilot: Endpoint
    tlog: bool
    detector: Endpoint
    telemetry_interval: float
    status_interval: float
    link_loss_action: Action
    link_loss_timeout: float


_KNOWN = {
    "node": {"id", "keys", "link_key", "state_dir", "ground_station"},
    "radio": {"url"},
    "autopilot": {"url", "tlog"},
    "detector": {"listen"},
    "telemetry": {"interval", "status_interval"},
    "link_loss": {"action", "timeout"},
}


def load_config(path: Path) -> AgentConfig:
    """Read and check the file at `path`."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_config(raw, base=path.parent)


def parse_config(raw: dict[str, Any], *, base: Path) -> AgentConfig:
    """Check a parsed TOML document; relative paths are taken from `base`."""
    for section, table in raw.items():
        if section not in _KNOWN or not isinstance(table, dict):
            raise ConfigError(f"unknown section [{section}]")
        for key in table:
            if key not in _KNOWN[section]:
                raise ConfigError(f"unknown key {section}.{key}")
    node = raw.get("node", {})
    node_id = _int(node, "node.id", None, 1, 254)
    state_dir = base / _str(node, "node.state_dir", "state")
    return AgentConfig(
        node_id=node_id,
        keys=base / _str(node, "node.keys", None),
        link_key=_link_key(base / _str(node, "node.link_key", None)),
        state_dir=state_dir,
        ground_station=_int(node, "node.ground_station", 255, 1, 255),
        radio=Endpoint.parse("radio.url", _str(raw.get("radio", {}), "radio.url", None)),
        autopilot=Endpoint.parse(
            "autopilot.url", _str(raw.get("autopilot", {}), "autopilot.url", "tcp:127.0.0.1:5760")
        ),
        tlog=_bool(raw.get("autopilot", {}), "autopilot.tlog", True),
        detector=Endpoint.parse(
            "detector.listen",
            "udp:" + _str(raw.get("detector", {}), "detector.listen", "127.0.0.1:14600"),
        ),
        telemetry_interval=_float(raw.get("telemetry", {}), "telemetry.interval", 2.0, 1.0),
        status_interval=_float(raw.get("telemetry", {}), "telemetry.status_interval", 10.0, 1.0),
        link_loss_action=_action(raw.get("link_loss", {})),
        link_loss_timeout=_float(raw.get("link_loss", {}), "link_loss.timeout", 120.0, 1.0),
    )


def _value(table: dict[str, Any], key: str, default: Any) -> Any:
    value = table.get(key.rpartition(".")[2], default)
    if value is None:
        raise ConfigError(f"{key} is required")
    return value


def _str(table: dict[str, Any], key: str, default: str | None) -> str:
    value = _value(table, key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} must be a non-empty string")
    return value


def _int(table: dict[str, Any], key: str, default: int | None, low: int, high: int) -> int:
    value = _value(table, key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key} must be an integer in {low}..{high}, not {value!r}")
    return value


def _float(table: dict[str, Any], key: str, default: float, low: float) -> float:
    value = _value(table, key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= low:
        raise ConfigError(f"{key} must be a number of at least {low}, not {value!r}")
    return float(value)


def _bool(table: dict[str, Any], key: str, default: bool) -> bool:
    value = _value(table, key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false")
    return value


def _action(table: dict[str, Any]) -> Action:
    value = _str(table, "link_loss.action", "continue")
    try:
        return Action(value)
    except ValueError:
        choices = ", ".join(a.value for a in Action)
        raise ConfigError(f"link_loss.action must be one of {choices}, not {value!r}") from None


def _link_key(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except OSError as exc:
        raise ConfigError(f"node.link_key: cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, ValueError):
        raise ConfigError(f"node.link_key: {path} must hold 64 hex digits") from None
    if len(key) != 32:
        raise ConfigError(f"node.link_key: {path} holds {len(key)} bytes, not 32")
    return key
