"""The two daemons' command lines, as an operator meets them: --help, --check, bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sitl.provisioning import FleetFiles, provision_fleet, write_agent_config, write_station_config

DAEMONS = {
    "event-agent": "companion.agent.cli",
    "event-ground-station": "groundstation.cli",
}


def run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def fleet(tmp_path: Path) -> FleetFiles:
    files = provision_fleet(tmp_path / "fleet", (3,))
    write_agent_config(
        files, 3, radio="udp:127.0.0.1:27003", autopilot="tcp:127.0.0.1:5760", detector_port=14600
    )
    write_station_config(files, radio="udp:127.0.0.1:27255", uplink_url="http://127.0.0.1:9")
    return files


def config_of(name: str, files: FleetFiles) -> Path:
    return files.agent_config(3) if name == "event-agent" else files.station_config


@pytest.mark.parametrize("name", DAEMONS)
def test_help_names_the_program_and_its_options(name: str) -> None:
    done = run(DAEMONS[name], "--help")
    assert done.returncode == 0
    assert name in done.stdout
    assert "--config" in done.stdout
    assert "--check" in done.stdout


@pytest.mark.parametrize("name", DAEMONS)
def test_check_accepts_a_provisioned_configuration(name: str, fleet: FleetFiles) -> None:
    done = run(DAEMONS[name], "--config", str(config_of(name, fleet)), "--check")
    assert done.returncode == 0, done.stderr
    assert "is valid" in done.stdout


@pytest.mark.parametrize("name", DAEMONS)
@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("[node]\n", "[node]\nbogus = 1\n"), "bogus"),
        (("[radio]\nurl = ", "[radio]\nurl = 'nowhere' #"), "radio.url"),
        (("id = ", "id = 'three' #"), "node.id"),
    ],
)
def test_a_bad_configuration_is_one_line_and_exit_status_2(
    name: str, change: tuple[str, str], named: str, fleet: FleetFiles
) -> None:
    path = config_of(name, fleet)
    path.write_text(path.read_text().replace(*change, 1))
    done = run(DAEMONS[name], "--config", str(path))
    assert done.returncode == 2
    assert named in done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("name", DAEMONS)
def test_keys_of_another_node_are_refused_with_exit_status_2(name: str, fleet: FleetFiles) -> None:
    path = config_of(name, fleet)
    other = fleet.keys(255) if name == "event-agent" else fleet.keys(3)
    mine = fleet.keys(3) if name == "event-agent" else fleet.keys(255)
    path.write_text(path.read_text().replace(str(mine), str(other)))
    done = run(DAEMONS[name], "--config", str(path))
    assert done.returncode == 2
    assert "key bundle" in done.stderr
    assert "Traceback" not in done.stderr
