"""The files a simulated fleet needs, generated fresh: keys, link key, tokens, configurations.

    root/authority/          the fleet authority (as `event-provision init` makes it)
    root/keys/node-N/        each node's key bundle (as `event-provision issue` makes it)
    root/link.key            the fleet's link key, 64 hex digits
    root/tokens.toml         the reference command center's identities
    root/node-N.toml         each agent's configuration; root/ground-station.toml

Rules:
- Everything is made with the project's own provisioning code, exactly as an operator
  would for real aircraft; nothing here weakens a check for the simulation.
- Secrets come from `secrets`/the authority's key generation, never from a seed: a run's
  scenario is repeatable, its keys are not.
- Files are written once; a root that already holds a fleet is refused.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from companion.security import keystore
from companion.security.authority import FleetAuthority
from companion.security.certificate import Role

DAY = 86_400


@dataclass(frozen=True, slots=True)
class Tokens:
    """Bearer tokens of the reference command center's identities."""

    gateway: str = field(repr=False)
    operator: str = field(repr=False)
    admin: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class FleetFiles:
    root: Path
    ground_station: int
    uavs: tuple[int, ...]
    tokens: Tokens

    @property
    def link_key(self) -> Path:
        return self.root / "link.key"

    @property
    def token_file(self) -> Path:
        return self.root / "tokens.toml"

    def keys(self, node: int) -> Path:
        return self.root / "keys" / f"node-{node}"

    def state(self, node: int) -> Path:
        return self.root / "state" / f"node-{node}"

    def agent_config(self, node: int) -> Path:
        return self.root / f"node-{node}.toml"

    @property
    def station_config(self) -> Path:
        return self.root / "ground-station.toml"


def provision_fleet(
    root: Path,
    uavs: tuple[int, ...],
    *,
    ground_station: int = 255,
    name: str = "sim-fleet",
    valid_days: int = 2,
    now: float | None = None,
) -> FleetFiles:
    """Create a fleet authority, one key bundle per node, a link key and tokens; the
    certificates are issued at `now` (default: the time of the call)."""
    if (root / "authority").exists():
        raise FileExistsError(f"{root} already holds a fleet")
    root.mkdir(parents=True, exist_ok=True)
    authority = FleetAuthority.create(name)
    keystore.create_authority_directory(root / "authority", authority)
    tokens = Tokens(*(secrets.token_urlsafe(24) for _ in range(3)))
    files = FleetFiles(root, ground_station, uavs, tokens)
    now = time.time() if now is None else now
    roles = [(node, Role.UAV) for node in uavs] + [(ground_station, Role.GROUND_STATION)]
    for node, role in roles:
        _, keys = authority.issue(node, role, valid_for=valid_days * DAY, now=now)
        keystore.save_node_keys(files.keys(node), keys)
    keystore.save_authority_state(root / "authority", authority)
    files.link_key.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    files.link_key.chmod(0o600)
    files.token_file.write_text(
        "".join(
            f'[tokens.{who}]\nrole = "{who}"\ntoken = "{getattr(tokens, who)}"\n\n'
            for who in ("gateway", "operator", "admin")
        ),
        encoding="utf-8",
    )
    (root / "gateway.token").write_text(tokens.gateway + "\n", encoding="utf-8")
    (root / "gateway.token").chmod(0o600)  # a secret: the ground station refuses it otherwise
    return files


def _node_table(files: FleetFiles, node: int) -> str:
    """The [node] table every node's TOML opens with: its id and where its files are."""
    return (
        f'[node]\nid = {node}\nkeys = "{files.keys(node)}"\nlink_key = "{files.link_key}"\n'
        f'state_dir = "{files.state(node)}"\n'
    )


def write_agent_config(
    files: FleetFiles,
    node: int,
    *,
    radio: str,
    autopilot: str,
    detector_port: int,
    telemetry_interval: float = 2.0,
    status_interval: float = 10.0,
    link_loss: str = "continue",
    link_loss_timeout: float = 120.0,
) -> Path:
    """The agent's TOML for `node` (see companion/agent/config.py)."""
    path = files.agent_config(node)
    path.write_text(
        f"""{_node_table(files, node)}ground_station = {files.ground_station}

[radio]
url = "{radio}"

[autopilot]
url = "{autopilot}"
tlog = true

[detector]
listen = "127.0.0.1:{detector_port}"

[telemetry]
interval = {telemetry_interval}
status_interval = {status_interval}

[link_loss]
action = "{link_loss}"
timeout = {link_loss_timeout}
""",
        encoding="utf-8",
    )
    return path


def write_station_config(
    files: FleetFiles,
    *,
    radio: str,
    uplink_url: str = "",
    mqtt_host: str = "",
    mqtt_port: int = 1883,
    fleet: str = "sim",
    status_interval: float = 2.0,
    retry_max: float = 30.0,
) -> Path:
    """The ground station's TOML (see groundstation/config.py): HTTP to `uplink_url`, or
    MQTT to `mqtt_host` when that is given."""
    node = files.ground_station
    if mqtt_host:
        uplink = f'kind = "mqtt"\nhost = "{mqtt_host}"\nport = {mqtt_port}\nfleet = "{fleet}"\n'
    else:
        uplink = f'kind = "http"\nurl = "{uplink_url}"\ntoken_file = "{files.root}/gateway.token"\n'
    path = files.station_config
    path.write_text(
        f"""{_node_table(files, node)}
[radio]
url = "{radio}"

[uplink]
{uplink}retry_max = {retry_max}

[status]
interval = {status_interval}
""",
        encoding="utf-8",
    )
    return path
