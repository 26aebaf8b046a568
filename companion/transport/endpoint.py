"""Open the byte transport a configuration's device URL names (`companion.settings.Endpoint`).

Rules:
- serial:DEVICE:BAUD opens the serial port (re-plug tolerant); tcp:HOST:PORT connects out
  (reconnecting); udp:HOST:PORT sends to that address, or, with `listen`, binds it and
  answers whoever last sent (how a flight controller's UDP stream is usually received).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..settings import Endpoint
from .base import Transport
from .serial import open_serial
from .tcp import open_tcp_client
from .udp import open_udp_bind, open_udp_connect


@asynccontextmanager
async def open_endpoint(endpoint: Endpoint, *, listen: bool = False) -> AsyncIterator[Transport]:
    """The byte transport `endpoint` names, open for the duration of the block."""
    if endpoint.kind == "serial":
        async with open_serial(endpoint.host, endpoint.port) as serial:
            yield serial
    elif endpoint.kind == "tcp":
        async with open_tcp_client(endpoint.host, endpoint.port) as tcp:
            yield tcp
    elif listen:
        async with open_udp_bind(endpoint.host, endpoint.port) as server:
            yield server
    else:
        async with open_udp_connect(endpoint.host, endpoint.port) as client:
            yield client
