"""What a daemon's start needs from the machine, checked before anything is opened.

`--check` and the real start run the same checks (`companion.daemon`), so a
configuration that passes `--check` is one the start accepts. Every problem is one
`ConfigError` naming the setting.

Rules:
- node.keys: the bundle loads (every file present, private keys 0600, consistent, signed
  by its authority.pub; `security/keystore.py`), is this node's, and its certificate has
  not expired by this machine's clock. One not yet valid passes: a Raspberry Pi without a
  real-time clock boots with its clock behind, and peers judge validity by their own.
- node.state_dir: a writable directory, or one that can be made (its nearest existing
  ancestor is a writable directory).
- Device URLs: a udp or tcp host must resolve. A udp endpoint the daemon listens on must
  be an IP address that can be bound now (bound and closed at once). A serial device is
  not looked for: the transport opens it afresh at every attempt, so a radio plugged in
  after the start is used.
- The cloud's host (uplink.url, uplink.host) is not resolved: the ground station starts
  without the internet and buffers until it is back.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

from .radio_node import NodeConfig
from .security.keystore import KeystoreError, load_own_keys
from .settings import ConfigError, Endpoint

_Address = tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]


def check_node(config: NodeConfig, *, now: float | None = None) -> None:
    """What every node's start needs: its keys, its state directory, its radio."""
    check_node_keys(config.keys, config.node_id, time.time() if now is None else now)
    check_state_dir(config.state_dir)
    check_endpoint("radio.url", config.radio, listen=False)


def check_node_keys(directory: Path, node_id: int, now: float) -> None:
    """The bundle in `directory` is `node_id`'s, whole, and its certificate not expired."""
    if not directory.is_dir():
        raise ConfigError(f"node.keys: {directory} is not a directory")
    try:
        cert = load_own_keys(directory, node_id).certificate
    except (KeystoreError, ValueError) as exc:
        raise ConfigError(f"node.keys: {exc}") from None
    if now >= cert.expires:
        raise ConfigError(
            f"node.keys: {directory}/node.cert expired at {_utc(cert.expires)} "
            f"(this clock says {_utc(now)}); renew it with event-provision"
        )


def check_state_dir(path: Path) -> None:
    """`path` is a writable directory, or can be made one."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"node.state_dir: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"node.state_dir: {existing} is not writable")


def check_endpoint(key: str, endpoint: Endpoint, *, listen: bool) -> None:
    """A udp or tcp endpoint's host resolves; one listened on is an address that binds."""
    if endpoint.kind == "serial":
        return
    kind = socket.SOCK_DGRAM if endpoint.kind == "udp" else socket.SOCK_STREAM
    if not (listen and endpoint.kind == "udp"):
        _resolve(key, endpoint, kind, passive=False)
        return
    try:
        ipaddress.ip_address(endpoint.host)
    except ValueError:
        raise ConfigError(f"{key}: {endpoint.host!r} is not an IP address") from None
    family, address = _resolve(key, endpoint, kind, passive=True)
    with socket.socket(family, kind) as sock:
        try:
            sock.bind(address)
        except OSError as exc:
            raise ConfigError(
                f"{key}: cannot listen on {endpoint.host}:{endpoint.port}: {exc.strerror}"
            ) from None


def _resolve(
    key: str, endpoint: Endpoint, kind: int, *, passive: bool
) -> tuple[socket.AddressFamily, _Address]:
    flags = socket.AI_PASSIVE if passive else 0
    try:
        infos = socket.getaddrinfo(endpoint.host, endpoint.port, type=kind, flags=flags)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError(f"{key}: cannot resolve {endpoint.host!r}: {reason}") from None
    family, _type, _proto, _name, address = infos[0]
    return family, address


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
