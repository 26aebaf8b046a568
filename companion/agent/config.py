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
    system_id_mismatch = "warn"         # warn | refuse: the autopilot's system id (its
                                        # HEARTBEAT) is not node.id; refuse answers every
                                        # command AUTOPILOT_UNAVAILABLE. Set the autopilot's
                                        # MAV_SYSID (ArduPilot 4.7+; SYSID_THISMAV before)

    [detector]
    listen = "127.0.0.1:14600"          # UDP, JSON lines (see companion/agent/intake.py)
    keep_for = 86400.0                  # seconds a detection is kept until the cloud has
                                        # it: after its alert time to live (30 s) it goes
                                        # on at LOW priority and arrives flagged late

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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..autopilot.identity import Mismatch
from ..reliability.priority import TTL, Priority
from ..settings import (
    ConfigError,
    Endpoint,
    check_keys,
    flag,
    integer,
    link_key,
    number,
    read_toml,
    text,
)
from .linkloss import Action

__all__ = ["AgentConfig", "ConfigError", "Endpoint", "load_config", "parse_config"]

KEEP_FOR = 86400.0
"""Default seconds a detection (and its chip) is kept for the cloud: a day of flying out
of reach. At least LOW's time to live."""


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
    detection_keep_for: float
    telemetry_interval: float
    status_interval: float
    link_loss_action: Action
    link_loss_timeout: float
    autopilot_id_mismatch: Mismatch = Mismatch.WARN


_KNOWN = {
    "node": {"id", "keys", "link_key", "state_dir", "ground_station"},
    "radio": {"url"},
    "autopilot": {"url", "tlog", "system_id_mismatch"},
    "detector": {"listen", "keep_for"},
    "telemetry": {"interval", "status_interval"},
    "link_loss": {"action", "timeout"},
}


def load_config(path: Path) -> AgentConfig:
    """Read and check the file at `path`."""
    return parse_config(read_toml(path), base=path.parent)


def parse_config(raw: dict[str, Any], *, base: Path) -> AgentConfig:
    """Check a parsed TOML document; relative paths are taken from `base`."""
    check_keys(raw, _KNOWN)
    node = raw.get("node", {})
    node_id = integer(node, "node.id", None, 1, 254)
    state_dir = base / text(node, "node.state_dir", "state")
    return AgentConfig(
        node_id=node_id,
        keys=base / text(node, "node.keys", None),
        link_key=link_key(base / text(node, "node.link_key", None)),
        state_dir=state_dir,
        ground_station=integer(node, "node.ground_station", 255, 1, 255),
        radio=Endpoint.parse("radio.url", text(raw.get("radio", {}), "radio.url", None)),
        autopilot=Endpoint.parse(
            "autopilot.url", text(raw.get("autopilot", {}), "autopilot.url", "tcp:127.0.0.1:5760")
        ),
        tlog=flag(raw.get("autopilot", {}), "autopilot.tlog", True),
        detector=Endpoint.parse(
            "detector.listen",
            "udp:" + text(raw.get("detector", {}), "detector.listen", "127.0.0.1:14600"),
        ),
        detection_keep_for=number(
            raw.get("detector", {}), "detector.keep_for", KEEP_FOR, TTL[Priority.LOW]
        ),
        telemetry_interval=number(raw.get("telemetry", {}), "telemetry.interval", 2.0, 1.0),
        status_interval=number(raw.get("telemetry", {}), "telemetry.status_interval", 10.0, 1.0),
        link_loss_action=_action(raw.get("link_loss", {})),
        link_loss_timeout=number(raw.get("link_loss", {}), "link_loss.timeout", 120.0, 1.0),
        autopilot_id_mismatch=_mismatch(raw.get("autopilot", {})),
    )


def _mismatch(table: dict[str, Any]) -> Mismatch:
    value = text(table, "autopilot.system_id_mismatch", Mismatch.WARN.value)
    try:
        return Mismatch(value)
    except ValueError:
        choices = ", ".join(m.value for m in Mismatch)
        raise ConfigError(
            f"autopilot.system_id_mismatch must be one of {choices}, not {value!r}"
        ) from None


def _action(table: dict[str, Any]) -> Action:
    value = text(table, "link_loss.action", "continue")
    try:
        return Action(value)
    except ValueError:
        choices = ", ".join(a.value for a in Action)
        raise ConfigError(f"link_loss.action must be one of {choices}, not {value!r}") from None
