"""Real ArduPilot SITL as a vehicle: find an arducopter binary, start it, stop it cleanly.

Rules of this module:

* The binary is, in order: the path given, the `EVENT_ARDUPILOT_BINARY` environment
  variable, or dronekit-sitl's download (only when the `dronekit_sitl` package is
  installed and the network reaches its host; it is imported lazily, and its copter
  builds are old, 3.3 by default). Otherwise `ArduPilotUnavailable` says what to do.
* Instance N serves MAVLink on TCP 5760 + 10 * N (SERIAL0) and, like SITL does, waits
  there for a client before it simulates. Every instance is system 1 unless told: the
  system id is set through a parameter file passed with `--defaults` (after the copter
  defaults file, if one is given), and `-w` wipes the instance's stored parameters so the
  defaults apply. The file names the parameter as the binary's version does: MAV_SYSID
  from ArduPilot 4.7, SYSID_THISMAV before (`SitlConfig.version`).
* `running_sitl` is the one way to run it: it starts the process in a working directory
  (a temporary one unless given), waits, within a generous limit, for SITL to report that
  it listens, yields, and on the way out terminates it, then kills it if it lingers.
  SITL's console output goes to `arducopter.log` in the working directory.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

from companion.autopilot.identity import MAV_SYSID_SINCE, sysid_parameter
from sitl.terminate import terminate

ENV_BINARY = "EVENT_ARDUPILOT_BINARY"
BASE_PORT = 5760
LISTENING = b"Waiting for connection"
"""What SITL prints once its SERIAL0 TCP port listens."""
LOG_NAME = "arducopter.log"


class ArduPilotUnavailable(RuntimeError):
    """No arducopter binary could be found or fetched."""


class SitlFailed(RuntimeError):
    """SITL exited, or did not start listening in time."""


@dataclass(frozen=True, slots=True)
class SitlConfig:
    """How to start one ArduCopter SITL instance."""

    binary: Path
    instance: int = 0
    """`-I N`: ports and files are offset by N."""
    system_id: int = 1
    version: tuple[int, int] = MAV_SYSID_SINCE
    """The binary's ArduPilot version (major, minor): it names the system id parameter.
    Current builds are 4.7 or later; dronekit-sitl's downloads are older (3.3 by default)."""
    home: tuple[float, float, float] = (-35.363261, 149.165230, 584.0)
    heading: float = 0.0
    defaults: Path | None = None
    """The copter defaults file (ArduPilot's Tools/autotest/default_params/copter.parm)."""
    speedup: float = 1.0
    model: str = "quad"

    def __post_init__(self) -> None:
        if not 0 <= self.instance <= 255:
            raise ValueError("instance must be 0-255")
        if not 1 <= self.system_id <= 255:
            raise ValueError("system id must be 1-255")

    @property
    def port(self) -> int:
        """The TCP port SITL serves MAVLink on: 5760 + 10 * instance."""
        return BASE_PORT + 10 * self.instance

    def command(self, params_file: Path) -> list[str]:
        """The command line, with `params_file` (holding the system id) among the defaults."""
        lat, lon, alt = self.home
        defaults = [str(self.defaults)] if self.defaults is not None else []
        defaults.append(str(params_file))
        return [
            str(self.binary),
            "-I",
            str(self.instance),
            "--model",
            self.model,
            "--home",
            f"{lat},{lon},{alt},{self.heading}",
            "--defaults",
            ",".join(defaults),
            "--speedup",
            str(self.speedup),
            "-w",
        ]


def find_binary(binary: str | os.PathLike[str] | None = None, *, version: str = "3.3") -> Path:
    """The arducopter binary: `binary`, else $EVENT_ARDUPILOT_BINARY, else a dronekit-sitl
    download of copter `version` if that package is installed."""
    given = binary if binary is not None else os.environ.get(ENV_BINARY)
    if given:
        path = Path(given).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ArduPilotUnavailable(f"{path} is not an executable arducopter binary")
        return path
    return _download(version)


def _download(version: str) -> Path:
    try:
        import dronekit_sitl  # type: ignore[import-not-found]  # noqa: PLC0415
    except ImportError:
        raise ArduPilotUnavailable(
            f"no arducopter binary: set {ENV_BINARY} to one (build ArduPilot with "
            "'./waf configure --board sitl && ./waf copter'), or install dronekit-sitl "
            "to download one"
        ) from None
    sitl = dronekit_sitl.SITL()
    try:
        sitl.download("copter", version, verbose=False)
    except (OSError, SystemExit) as exc:
        raise ArduPilotUnavailable(f"dronekit-sitl could not download copter {version}") from exc
    return Path(sitl.path)


@dataclass(frozen=True, slots=True)
class RunningSitl:
    """A started SITL instance."""

    config: SitlConfig
    process: trio.Process
    workdir: Path

    @property
    def port(self) -> int:
        return self.config.port

    @property
    def log(self) -> Path:
        return self.workdir / LOG_NAME


@asynccontextmanager
async def running_sitl(
    config: SitlConfig,
    *,
    workdir: Path | None = None,
    start_timeout: float = 120.0,
    stop_timeout: float = 10.0,
) -> AsyncIterator[RunningSitl]:
    """Start SITL, wait until it listens on `config.port`, yield it, then stop it."""
    with tempfile.TemporaryDirectory(prefix=f"sitl-{config.instance}-") as scratch:
        where = workdir if workdir is not None else Path(scratch)
        where.mkdir(parents=True, exist_ok=True)
        params = where / "event-sysid.parm"
        params.write_text(f"{sysid_parameter(config.version)} {config.system_id}\n")
        log_path = where / LOG_NAME
        with log_path.open("wb") as log:
            process = await trio.lowlevel.open_process(
                config.command(params), cwd=where, stdout=log, stderr=log, stdin=None
            )
            try:
                await _wait_listening(process, log_path, start_timeout)
                yield RunningSitl(config, process, where)
            finally:
                await terminate(process, stop_timeout)


async def _wait_listening(process: trio.Process, log_path: Path, limit: float) -> None:
    with trio.move_on_after(limit):
        while process.poll() is None:
            if LISTENING in log_path.read_bytes():
                return
            await trio.sleep(0.1)
        raise SitlFailed(f"SITL exited with status {process.returncode}; see {log_path}")
    raise SitlFailed(f"SITL did not listen within {limit} s; see {log_path}")
