"""Latitude and longitude to metres on the simulation's flat plane, and back.

Rules: the equirectangular approximation around an origin (fine over the few kilometres a
swarm demo covers): north = dlat * EARTH_M_PER_DEG, east = dlon * EARTH_M_PER_DEG *
cos(origin latitude). The vehicle double moves itself with the same approximation but
its own constant (sitl/vehicle/kinematics.py, left as it is so its flights stay
bit-identical); this is where the radio, the plan and the pictures place things.
"""

from __future__ import annotations

import math

EARTH_M_PER_DEG = 111_320.0


def to_local(origin: tuple[float, float], lat: float, lon: float) -> tuple[float, float]:
    """Metres (east, north) of `lat`, `lon` from `origin` (latitude, longitude)."""
    lat0, lon0 = origin
    east = (lon - lon0) * EARTH_M_PER_DEG * math.cos(math.radians(lat0))
    return east, (lat - lat0) * EARTH_M_PER_DEG


def to_latlon(origin: tuple[float, float], east: float, north: float) -> tuple[float, float]:
    """Latitude and longitude `east`, `north` metres from `origin`."""
    lat0, lon0 = origin
    lat = lat0 + north / EARTH_M_PER_DEG
    return lat, lon0 + east / (EARTH_M_PER_DEG * math.cos(math.radians(lat0)))
