"""Real ArduPilot SITL as a vehicle: find a binary, start it, stop it cleanly.

Rules of this module:

* The binary for a vehicle (copter, plane, rover: `ardupilot_defaults.Vehicle`) is, in
  order: the path given; for copter, the `EVENT_ARDUPILOT_BINARY` environment variable
  (an arducopter); `EVENT_ARDUPILOT_DIR`/arducopter|arduplane|ardurover (a directory of
  SITL builds, as `./waf copter plane rover` leaves in build/sitl/bin); or, for copter,
  dronekit-sitl's download (only when the `dronekit_sitl` package is installed and the
  network reaches its host; it is imported lazily, and its builds are old, 3.3 by
  default). Otherwise `ArduPilotUnavailable` says what to do. `skip_reason` tells tests
  whether either variable is set.
* A wiped SITL does not arm: the launcher writes the project's own minimal defaults for
  the vehicle (`ardupilot_defaults`) into the instance's working directory and passes
  them first with `--defaults`, then the extra defaults file if one is given (it may
  override them), then a file setting the system id, and `-w` wipes stored parameters
  so the defaults apply. The system id file names the parameter as the binary's version
  does: MAV_SYSID from ArduPilot 4.7, SYSID_THISMAV before (`SitlConfig.version`); from
  4.7 `--sysid` sets it too.
* Instance N serves MAVLink on TCP 5760 + 10 * N (SERIAL0; SERIAL1 and SERIAL2 on + 2
  and + 3) and, like SITL does, waits there for a client before it simulates. SITL binds
  its TCP serial ports and its RC input (UDP 5501 + 10 * N) to every interface and has no
  option to bind them to loopback (AP_HAL_SITL UARTDriver); its physics runs in-process
  (built-in models), so nothing else listens. Run it where those ports are not exposed.
  `free_instances` finds instances whose ports nothing holds.
* `running_sitl` is the one way to run it: it starts the process in its own working
  directory (a temporary one unless given; SITL writes eeprom.bin, logs/ and terrain/
  there), waits, within a generous limit, for SITL to report that it listens, yields,
  and on the way out terminates it, then kills it if it lingers. SITL's stdout and
  stderr go to `sitl.log` there; if it exits, panics, cannot bind its port or does not
  listen in time, `SitlFailed` quotes the log's last lines.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

from companion.autopilot.identity import MAV_SYSID_SINCE, sysid_parameter
from sitl.terminate import terminate

from .ardupilot_defaults import Vehicle, params_text

ENV_BINARY = "EVENT_ARDUPILOT_BINARY"
ENV_DIR = "EVENT_ARDUPILOT_DIR"
BASE_PORT = 5760
RC_IN_PORT = 5501
LISTENING = b"Waiting for connection"
"""What SITL prints once its SERIAL0 TCP port listens."""
FAILED = (b"bind failed", b"PANIC")
"""What SITL prints when it will never listen (it may not exit on its own)."""
LOG_NAME = "sitl.log"
DEFAULTS_NAME = "event-defaults.parm"
SYSID_NAME = "event-sysid.parm"
TAIL_LINES = 15


class ArduPilotUnavailable(RuntimeError):
    """No SITL binary could be found or fetched."""


class SitlFailed(RuntimeError):
    """SITL exited, or did not start listening in time."""


@dataclass(frozen=True, slots=True)
class SitlConfig:
    """How to start one ArduPilot SITL instance."""

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
    """An extra defaults file, applied after the project's own minimal ones."""
    speedup: float = 1.0
    vehicle: Vehicle = Vehicle.COPTER
    model: str | None = None
    """SITL's `--model`; the vehicle's built-in model unless given."""

    def __post_init__(self) -> None:
        if not 0 <= self.instance <= 255:
            raise ValueError("instance must be 0-255")
        if not 1 <= self.system_id <= 255:
            raise ValueError("system id must be 1-255")

    @property
    def port(self) -> int:
        return serial0_port(self.instance)

    def write_params(self, workdir: Path) -> None:
        """Write the vehicle's minimal defaults and the system id file into `workdir`."""
        (workdir / DEFAULTS_NAME).write_text(params_text(self.vehicle.defaults()))
        sysid = {sysid_parameter(self.version): float(self.system_id)}
        (workdir / SYSID_NAME).write_text(params_text(sysid))

    def command(self, workdir: Path) -> list[str]:
        """The command line, with the files `write_params` writes into `workdir`."""
        lat, lon, alt = self.home
        defaults = [workdir / DEFAULTS_NAME]
        defaults += [self.defaults.resolve()] if self.defaults is not None else []
        defaults.append(workdir / SYSID_NAME)
        sysid = ["--sysid", str(self.system_id)] if self.version >= MAV_SYSID_SINCE else []
        return [
            str(self.binary),
            "-I",
            str(self.instance),
            "--model",
            self.model or self.vehicle.model,
            "--home",
            f"{lat},{lon},{alt},{self.heading}",
            "--defaults",
            ",".join(str(path.resolve()) for path in defaults),
            *sysid,
            "--speedup",
            str(self.speedup),
            "-w",
        ]


def skip_reason(vehicle: Vehicle = Vehicle.COPTER) -> str | None:
    """Why tests of real SITL for `vehicle` cannot run here, or None when they can."""
    if os.environ.get(ENV_DIR) or (vehicle is Vehicle.COPTER and os.environ.get(ENV_BINARY)):
        return None
    which = f"{ENV_BINARY} (an arducopter) or {ENV_DIR}" if vehicle is Vehicle.COPTER else ENV_DIR
    return f"{which} not set: real ArduPilot SITL tests need a local {vehicle.binary_name}"


def find_binary(
    binary: str | os.PathLike[str] | None = None,
    *,
    vehicle: Vehicle = Vehicle.COPTER,
    version: str = "3.3",
) -> Path:
    """The SITL binary for `vehicle`: `binary`, else $EVENT_ARDUPILOT_BINARY (copter),
    else $EVENT_ARDUPILOT_DIR/<name>, else a dronekit-sitl download of copter `version`."""
    given = binary
    if given is None and vehicle is Vehicle.COPTER:
        given = os.environ.get(ENV_BINARY) or None
    if given is None and os.environ.get(ENV_DIR):
        given = Path(os.environ[ENV_DIR]) / vehicle.binary_name
    if given is not None:
        path = Path(given).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ArduPilotUnavailable(f"{path} is not an executable {vehicle.binary_name}")
        return path
    if vehicle is not Vehicle.COPTER:
        raise ArduPilotUnavailable(f"no {vehicle.binary_name}: {skip_reason(vehicle)}")
    return _download(version)


def _download(version: str) -> Path:
    try:
        import dronekit_sitl  # type: ignore[import-not-found]  # noqa: PLC0415
    except ImportError:
        raise ArduPilotUnavailable(
            f"no arducopter binary: set {ENV_BINARY} to one or {ENV_DIR} to a directory of "
            "SITL builds (https://ardupilot.org/dev/docs/sitl-native-on-linux.html: "
            "'./waf configure --board sitl && ./waf copter'), or install dronekit-sitl "
            "to download one"
        ) from None
    sitl = dronekit_sitl.SITL()
    try:
        sitl.download("copter", version, verbose=False)
    except (OSError, SystemExit) as exc:
        raise ArduPilotUnavailable(f"dronekit-sitl could not download copter {version}") from exc
    return Path(sitl.path)


def serial0_port(instance: int) -> int:
    """The TCP port SITL instance `instance` serves MAVLink on: 5760 + 10 * instance."""
    return BASE_PORT + 10 * instance


def instance_is_free(instance: int) -> bool:
    """Whether nothing holds the ports SITL instance `instance` binds."""
    wanted = [(socket.SOCK_STREAM, serial0_port(instance) + n) for n in (0, 2, 3)]
    wanted.append((socket.SOCK_DGRAM, RC_IN_PORT + 10 * instance))
    for kind, port in wanted:
        with socket.socket(socket.AF_INET, kind) as probe:
            if kind == socket.SOCK_STREAM:  # as SITL does; a port in TIME_WAIT is free
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("0.0.0.0", port))  # where SITL binds
            except OSError:
                return False
    return True


def free_instances(count: int, first: int = 0) -> list[int]:
    """`count` SITL instance numbers from `first` on whose ports are free now."""
    found = [n for n in range(first, 256) if instance_is_free(n)][:count]
    if len(found) < count:
        raise SitlFailed(f"fewer than {count} free SITL instances from {first}")
    return found


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
        config.write_params(where)
        log_path = where / LOG_NAME
        with log_path.open("wb") as log:
            process = await trio.lowlevel.open_process(
                config.command(where), cwd=where, stdout=log, stderr=log, stdin=None
            )
            try:
                await _wait_listening(process, log_path, start_timeout)
                yield RunningSitl(config, process, where)
            finally:
                await terminate(process, stop_timeout)


async def _wait_listening(process: trio.Process, log_path: Path, limit: float) -> None:
    with trio.move_on_after(limit):
        while process.poll() is None:
            said = log_path.read_bytes()
            if any(failure in said for failure in FAILED):
                raise SitlFailed(f"SITL could not start:\n{_tail(log_path)}")
            if LISTENING in said:
                return
            await trio.sleep(0.1)
        raise SitlFailed(f"SITL exited with status {process.returncode}:\n{_tail(log_path)}")
    raise SitlFailed(f"SITL did not listen within {limit} s:\n{_tail(log_path)}")


def _tail(log_path: Path) -> str:
    """SITL's last words, with where the rest is."""
    lines = log_path.read_text(errors="replace").splitlines()[-TAIL_LINES:]
    return "\n".join(["  " + line for line in lines] + [f"(all of it in {log_path})"])
