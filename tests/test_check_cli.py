"""`--check` checks everything the real start would, and both refuse in one line.

Each case breaks one thing in a freshly provisioned fleet (a key file, a setting, a port)
and runs the real command line as a subprocess: exit status 2, one line on stderr naming
the setting, no traceback. The examples in deploy/ pass once their paths name a
provisioned fleet.
"""

from __future__ import annotations

import json
import math
import socket
import tomllib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from sitl.provisioning import FleetFiles, provision_fleet, write_agent_config, write_station_config
from tests.test_daemons import DAEMONS, run

AGENT, STATION = "event-agent", "event-ground-station"
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
Break = Callable[[FleetFiles, ExitStack], None]


def udp_socket(stack: ExitStack) -> socket.socket:
    """A UDP socket bound to a free loopback port, held until the stack closes."""
    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    sock.bind(("127.0.0.1", 0))
    return sock


def free_udp_port() -> int:
    with ExitStack() as stack:
        port: int = udp_socket(stack).getsockname()[1]
        return port


@pytest.fixture
def files(tmp_path: Path) -> FleetFiles:
    files = provision_fleet(tmp_path / "fleet", (3,))
    write_agent_config(
        files,
        3,
        radio="udp:127.0.0.1:27003",
        autopilot="tcp:127.0.0.1:5760",
        detector_port=free_udp_port(),
    )
    write_station_config(files, radio="udp:127.0.0.1:27255", uplink_url="http://127.0.0.1:9")
    return files


def config_of(name: str, files: FleetFiles) -> Path:
    return files.agent_config(3) if name == AGENT else files.station_config


def _toml_value(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def edit(path: Path, section: str, **values: Any) -> None:
    """Set (or, with None, remove) keys of one table of the TOML file at `path`."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    table = raw.setdefault(section, {})
    for key, value in values.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    path.write_text(
        "".join(
            f"[{name}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in body.items())
            for name, body in raw.items()
        ),
        encoding="utf-8",
    )


def node_of(name: str) -> int:
    return 3 if name == AGENT else 255


# -- what breaks, for either daemon ------------------------------------------------------


def no_keys_directory(name: str) -> Break:
    return lambda files, _: edit(
        config_of(name, files), "node", keys=str(files.root / "no-such-keys")
    )


def open_signing_key(name: str) -> Break:
    return lambda files, _: (files.keys(node_of(name)) / "signing.key").chmod(0o644)


def missing_signing_key(name: str) -> Break:
    return lambda files, _: (files.keys(node_of(name)) / "signing.key").unlink()


def garbage_signing_key(name: str) -> Break:
    def breaks(files: FleetFiles, _: ExitStack) -> None:
        (files.keys(node_of(name)) / "signing.key").write_bytes(b"garbage\n")

    return breaks


def truncated_certificate(name: str) -> Break:
    def breaks(files: FleetFiles, _: ExitStack) -> None:
        cert = files.keys(node_of(name)) / "node.cert"
        cert.write_bytes(cert.read_bytes()[:100])

    return breaks


def open_link_key(name: str) -> Break:
    return lambda files, _: files.link_key.chmod(0o644)


def unresolvable_radio(name: str) -> Break:
    return lambda files, _: edit(
        config_of(name, files), "radio", url="udp:no-such-host.invalid:27003"
    )


def expired_certificate(name: str) -> Break:
    def breaks(files: FleetFiles, _: ExitStack) -> None:
        old = provision_fleet(files.root / "old", (3,), valid_days=1, now=0.0)
        edit(config_of(name, files), "node", keys=str(old.keys(node_of(name))))

    return breaks


def state_dir_under_a_file(name: str) -> Break:
    return lambda files, _: edit(
        config_of(name, files), "node", state_dir=str(files.link_key / "state")
    )


def serial_baud_zero(name: str) -> Break:
    return lambda files, _: edit(config_of(name, files), "radio", url="serial:/dev/ttyUSB0:0")


EITHER = {
    "no-keys-directory": (no_keys_directory, "node.keys"),
    "signing-key-readable-by-others": (open_signing_key, "node.keys"),
    "signing-key-missing": (missing_signing_key, "node.keys"),
    "signing-key-garbage": (garbage_signing_key, "node.keys"),
    "certificate-truncated": (truncated_certificate, "node.keys"),
    "certificate-expired": (expired_certificate, "node.keys"),
    "link-key-readable-by-others": (open_link_key, "node.link_key"),
    "radio-host-unresolvable": (unresolvable_radio, "radio.url"),
    "radio-serial-baud-zero": (serial_baud_zero, "radio.url"),
    "state-dir-under-a-file": (state_dir_under_a_file, "node.state_dir"),
}


# -- what breaks, for one daemon ---------------------------------------------------------


def detector_port_in_use(files: FleetFiles, stack: ExitStack) -> None:
    port = udp_socket(stack).getsockname()[1]
    edit(files.agent_config(3), "detector", listen=f"127.0.0.1:{port}")


def autopilot_port_in_use(files: FleetFiles, stack: ExitStack) -> None:
    port = udp_socket(stack).getsockname()[1]
    edit(files.agent_config(3), "autopilot", url=f"udp:127.0.0.1:{port}")


def detector_not_an_address(files: FleetFiles, _: ExitStack) -> None:
    edit(files.agent_config(3), "detector", listen="999.1.1.1:5000")


def telemetry_forever(files: FleetFiles, _: ExitStack) -> None:
    edit(files.agent_config(3), "telemetry", interval=math.inf)


def url_not_a_url(files: FleetFiles, _: ExitStack) -> None:
    edit(files.station_config, "uplink", url="not a url")


def url_not_http(files: FleetFiles, _: ExitStack) -> None:
    edit(files.station_config, "uplink", url="ftp://cc.example.org")


def ca_file_missing(files: FleetFiles, _: ExitStack) -> None:
    edit(files.station_config, "uplink", ca_file=str(files.root / "no-such-ca.pem"))


def ca_file_a_number(files: FleetFiles, _: ExitStack) -> None:
    edit(files.station_config, "uplink", ca_file=5)


def ca_file_not_pem(files: FleetFiles, _: ExitStack) -> None:
    edit(files.station_config, "uplink", ca_file=str(files.link_key))


def mqtt_uplink(files: FleetFiles, **values: Any) -> None:
    """The station's uplink made an MQTT one on loopback, with `values` over it."""
    edit(
        files.station_config,
        "uplink",
        **{"kind": "mqtt", "url": None, "token_file": None, "host": "127.0.0.1", **values},
    )


def mqtt_username_a_number(files: FleetFiles, _: ExitStack) -> None:
    mqtt_uplink(files, port=1883, fleet="sim", username=42)


def mqtt_host_a_url(files: FleetFiles, _: ExitStack) -> None:
    mqtt_uplink(files, host="mqtt://x")


def mqtt_password_readable_by_others(files: FleetFiles, _: ExitStack) -> None:
    password = files.root / "mqtt.password"
    password.write_text("secret\n", encoding="utf-8")
    password.chmod(0o644)
    mqtt_uplink(files, username="gs", password_file=str(password))


def token_readable_by_others(files: FleetFiles, _: ExitStack) -> None:
    (files.root / "gateway.token").chmod(0o644)


ONE = {
    "detector-port-in-use": (AGENT, detector_port_in_use, "detector.listen"),
    "autopilot-udp-port-in-use": (AGENT, autopilot_port_in_use, "autopilot.url"),
    "detector-listen-not-an-address": (AGENT, detector_not_an_address, "detector.listen"),
    "telemetry-interval-inf": (AGENT, telemetry_forever, "telemetry.interval"),
    "uplink-url-not-a-url": (STATION, url_not_a_url, "uplink.url"),
    "uplink-url-not-http": (STATION, url_not_http, "uplink.url"),
    "ca-file-missing": (STATION, ca_file_missing, "uplink.ca_file"),
    "ca-file-a-number": (STATION, ca_file_a_number, "uplink.ca_file"),
    "ca-file-not-pem": (STATION, ca_file_not_pem, "uplink.ca_file"),
    "mqtt-username-a-number": (STATION, mqtt_username_a_number, "uplink.username"),
    "mqtt-host-a-url": (STATION, mqtt_host_a_url, "uplink.host"),
    "mqtt-password-readable-by-others": (
        STATION,
        mqtt_password_readable_by_others,
        "uplink.password_file",
    ),
    "token-file-readable-by-others": (STATION, token_readable_by_others, "uplink.token_file"),
}

CASES = [
    pytest.param(name, make(name), key, id=f"{name}-{case}")
    for case, (make, key) in EITHER.items()
    for name in DAEMONS
] + [
    pytest.param(name, breaks, key, id=f"{name}-{case}")
    for case, (name, breaks, key) in ONE.items()
]

REAL_START = [
    pytest.param(*ONE[case], id=case)
    for case in (
        "detector-port-in-use",
        "detector-listen-not-an-address",
        "uplink-url-not-a-url",
        "ca-file-missing",
        "mqtt-username-a-number",
    )
]


def assert_one_line_naming(done: Any, key: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"{key}:" in done.stderr or f"{key} " in done.stderr, done.stderr


@pytest.fixture
def held() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.mark.parametrize(("name", "breaks", "key"), CASES)
def test_check_refuses_in_one_line_naming_the_setting(
    name: str, breaks: Break, key: str, files: FleetFiles, held: ExitStack
) -> None:
    breaks(files, held)
    done = run(DAEMONS[name], "--config", str(config_of(name, files)), "--check")
    assert_one_line_naming(done, key)


@pytest.mark.parametrize(("name", "breaks", "key"), REAL_START)
def test_the_real_start_refuses_in_one_line_naming_the_setting(
    name: str, breaks: Break, key: str, files: FleetFiles, held: ExitStack
) -> None:
    breaks(files, held)
    done = run(DAEMONS[name], "--config", str(config_of(name, files)))
    assert_one_line_naming(done, key)


@pytest.mark.parametrize("name", DAEMONS)
def test_check_accepts_the_deploy_example(name: str, files: FleetFiles, tmp_path: Path) -> None:
    example = "agent" if name == AGENT else "ground-station"
    text = (DEPLOY / f"{example}.example.toml").read_text(encoding="utf-8")
    paths = {
        "/etc/event/keys": files.keys(node_of(name)),
        "/etc/event/link.key": files.link_key,
        "/etc/event/cloud.token": files.root / "gateway.token",
        "/var/lib/event-gs": tmp_path / "state-gs",
        "/var/lib/event": tmp_path / "state",
    }
    for deployed, provisioned in paths.items():
        text = text.replace(f'"{deployed}"', f'"{provisioned}"')
    config = tmp_path / f"{example}.toml"
    config.write_text(text, encoding="utf-8")
    done = run(DAEMONS[name], "--config", str(config), "--check")
    assert done.returncode == 0, done.stderr
    assert "is valid" in done.stdout
