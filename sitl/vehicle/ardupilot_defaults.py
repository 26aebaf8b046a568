"""The vehicle kinds the ArduPilot SITL launcher runs, and the project's own minimal
defaults for each: what a freshly wiped SITL instance needs before it will arm.

Rules of this module:

* These are the project's own few lines, found by trying ArduPilot 4.7.0-dev SITL with
  nothing else and reading its pre-arm refusals; nothing here is copied from ArduPilot's
  default parameter files (those set far more: RC ranges, flight modes, tuning).
* Every kind: SITL simulates two IMUs, and ArduPilot's arming check (AP_InertialSensor
  `accel_calibrated_ok_all`) refuses "3D Accel calibration needed" while an IMU's accel
  offsets are exactly zero, which is how a wiped EEPROM leaves them. A millimetre per
  second squared on each axis of both marks them calibrated and does not move the EKF.
* Copter also refuses "Check frame class and type" with FRAME_CLASS 0 (undefined): it is
  set to 1 (quad) with FRAME_TYPE 0 (plus), the frame SITL's `quad` / `+` model flies.
* Plane and rover need nothing more: their SITL models arm in MANUAL with the above.
"""

from __future__ import annotations

from enum import Enum

ACCEL_CALIBRATED = {
    f"INS_ACC{imu}OFFS_{axis}": 0.001 for imu in ("", "2") for axis in ("X", "Y", "Z")
}


class Vehicle(Enum):
    """An ArduPilot vehicle firmware, as SITL builds it."""

    COPTER = "copter"
    PLANE = "plane"
    ROVER = "rover"

    @property
    def binary_name(self) -> str:
        """The SITL binary's name as `./waf copter|plane|rover` builds it."""
        return {"copter": "arducopter", "plane": "arduplane", "rover": "ardurover"}[self.value]

    @property
    def model(self) -> str:
        """SITL's built-in physics model for this vehicle (`--model`)."""
        return {"copter": "quad", "plane": "plane", "rover": "rover"}[self.value]

    def defaults(self) -> dict[str, float]:
        """The minimal parameters this vehicle needs to arm in SITL (see the module rules)."""
        frame = {"FRAME_CLASS": 1, "FRAME_TYPE": 0} if self is Vehicle.COPTER else {}
        return {**frame, **ACCEL_CALIBRATED}


def params_text(params: dict[str, float]) -> str:
    """`params` as an ArduPilot defaults file: one `NAME VALUE` a line."""
    return "".join(f"{name} {value:g}\n" for name, value in params.items())
