"""Link layer: MAVLink 2 framing and signing (sans-IO), and its runtime endpoint."""

from .drops import Drop
from .frame import FrameReader, RawFrame
from .link import Link, LinkConfig, Received, UnsignedPolicy
from .signing import ReplayGuard, SigningClock, ticks

__all__ = [
    "Drop",
    "FrameReader",
    "Link",
    "LinkConfig",
    "RawFrame",
    "Received",
    "ReplayGuard",
    "SigningClock",
    "UnsignedPolicy",
    "ticks",
]
