"""The vehicle double's parameters: the ArduCopter ones it keeps, and the PARAM_* protocol.

Rules of this module:

* The table is fixed: `PARAMS` names every parameter with its MAV_PARAM_TYPE and
  default (units as ArduCopter: cm, cm/s, ms, mAh). A name outside it is unknown.
* Values are stored as their type stores them: integers rounded and clamped to their
  width, reals to float32 (`ParamSpec.coerce`), as ArduPilot does on PARAM_SET.
* Parameters are indexed in name order (`PARAM_ORDER`), the index PARAM_VALUE reports.
* Bad requests never raise: an unknown name or index, or a NaN/infinite value, is
  counted (`param_unknown`, `param_invalid`) and ignored without an answer, as
  `GCS_MAVLINK::handle_param_set` and `handle_param_request_read` do.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from dataclasses import dataclass
from typing import Any

from dialects import event

from .downlink import Downlink

FLOAT32_MAX = 3.4028234663852886e38


def f32(value: float) -> float:
    """`value` rounded to the nearest float32, as ArduPilot's `float` holds it."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One ArduCopter parameter: its MAV_PARAM_TYPE and default."""

    type: int
    default: float

    def coerce(self, value: float) -> float:
        """`value` as the parameter's type stores it (ArduPilot rounds and clamps integers)."""
        bounds = _INT_BOUNDS.get(self.type)
        if bounds is None:
            return f32(max(-FLOAT32_MAX, min(FLOAT32_MAX, value)))
        low, high = bounds
        return float(min(high, max(low, math.floor(value + 0.5))))


_INT_BOUNDS = {
    event.MAV_PARAM_TYPE_INT8: (-128, 127),
    event.MAV_PARAM_TYPE_INT16: (-32768, 32767),
    event.MAV_PARAM_TYPE_INT32: (-(2**31), 2**31 - 1),
}
_I8, _I16, _I32, _F = (
    event.MAV_PARAM_TYPE_INT8,
    event.MAV_PARAM_TYPE_INT16,
    event.MAV_PARAM_TYPE_INT32,
    event.MAV_PARAM_TYPE_REAL32,
)
PARAMS: dict[str, ParamSpec] = {
    "ARMING_CHECK": ParamSpec(_I32, 1),
    "AUTO_OPTIONS": ParamSpec(_I32, 0),
    "BATT_CAPACITY": ParamSpec(_I32, 3300),
    "DISARM_DELAY": ParamSpec(_I8, 10),
    "FENCE_ENABLE": ParamSpec(_I8, 0),
    "FS_GCS_ENABLE": ParamSpec(_I8, 0),
    "LAND_ALT_LOW": ParamSpec(_I16, 1000),
    "LAND_SPEED": ParamSpec(_I16, 50),
    "LAND_SPEED_HIGH": ParamSpec(_I16, 0),
    "MIS_RESTART": ParamSpec(_I8, 0),
    "RTL_ALT": ParamSpec(_I32, 1500),
    "RTL_ALT_FINAL": ParamSpec(_I16, 0),
    "RTL_LOIT_TIME": ParamSpec(_I32, 5000),
    "RTL_SPEED": ParamSpec(_I16, 0),
    "SYSID_MYGCS": ParamSpec(_I16, 255),
    "SYSID_THISMAV": ParamSpec(_I16, 1),
    "WPNAV_SPEED": ParamSpec(_F, 1000),
    "WPNAV_SPEED_DN": ParamSpec(_F, 150),
    "WPNAV_SPEED_UP": ParamSpec(_F, 250),
}
"""The parameters the double keeps (units as ArduCopter: cm, cm/s, ms, mAh). ARMING_CHECK,
FENCE_ENABLE, FS_GCS_ENABLE and SYSID_MYGCS are stored and reported but change nothing."""
PARAM_ORDER = tuple(sorted(PARAMS))


class Parameters:
    """The stored values, read by name, and the PARAM_* messages that read and set them."""

    def __init__(self, downlink: Downlink, counters: Counter[str], *, system_id: int) -> None:
        self._downlink = downlink
        self._counters = counters
        self._values = {name: spec.default for name, spec in PARAMS.items()}
        self._values["SYSID_THISMAV"] = float(system_id)

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    def set(self, name: str, value: float) -> None:
        """Store `value` as parameter `name`'s type holds it."""
        self._values[name] = PARAMS[name].coerce(value)

    def values(self) -> dict[str, float]:
        """A copy of every value, by name."""
        return dict(self._values)

    def on_request_list(self, m: Any, now: float) -> None:
        for index in range(len(PARAM_ORDER)):
            self._send_value(index)

    def on_request_read(self, m: Any, now: float) -> None:
        if m.param_index >= 0:
            index = m.param_index
        else:
            name = _text_field(m.param_id)
            index = PARAM_ORDER.index(name) if name in PARAMS else len(PARAM_ORDER)
        if index >= len(PARAM_ORDER):
            self._counters["param_unknown"] += 1
            return
        self._send_value(index)

    def on_set(self, m: Any, now: float) -> None:
        """PARAM_SET: ArduPilot silently ignores an unknown name or a NaN/inf value, and
        answers a set with the stored value (`GCS_MAVLINK::handle_param_set`)."""
        name = _text_field(m.param_id)
        if name not in PARAMS:
            self._counters["param_unknown"] += 1
            return
        if not math.isfinite(m.param_value):
            self._counters["param_invalid"] += 1
            return
        self.set(name, m.param_value)
        self._send_value(PARAM_ORDER.index(name))

    def _send_value(self, index: int) -> None:
        name = PARAM_ORDER[index]
        self._downlink.send(
            self._downlink.mav.param_value_encode(
                name.encode(), self._values[name], PARAMS[name].type, len(PARAM_ORDER), index
            )
        )


def _text_field(value: Any) -> str:
    if isinstance(value, bytes):
        return value.rstrip(b"\x00").decode("ascii", errors="replace")
    return str(value).rstrip("\x00")
