"""Trio drivers for the vehicle double: over any byte stream, or on a TCP port like SITL's.

Rules of this module:

* The double's time is trio's clock (`trio.current_time()`), so the same code runs in
  real time in a process and on the autojump clock in tests.
* `run_double` serves one stream: bytes in are fed to the double as they arrive, the
  double is stepped every `tick`, and whatever it queued goes out at once (replies to a
  command leave with the receive that caused them, not a tick later). One lock orders the
  sends of the two tasks. It returns when the peer closes or the link breaks.
* `serve_tcp` serves one client at a time, as ArduPilot SITL's TCP 5760 does: a second
  client waits in the listen backlog until the first leaves. Between clients the vehicle
  keeps flying and what it sends is dropped, as on a serial port with nothing attached.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable

import trio

from .double import VehicleDouble

log = logging.getLogger(__name__)


async def run_double(double: VehicleDouble, stream: trio.abc.Stream, *, tick: float = 0.1) -> None:
    """Drive `double` over `stream` until the peer closes it or the link breaks."""
    send_lock = trio.Lock()

    async def flush() -> None:
        data = double.data_to_send()
        if data:
            async with send_lock:
                await stream.send_all(data)

    async def receive_loop(cancel_scope: trio.CancelScope) -> None:
        while data := await stream.receive_some():
            double.receive(bytes(data), trio.current_time())
            await flush()
        cancel_scope.cancel()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive_loop, nursery.cancel_scope)
            await _fly(double, tick, flush)
    except* trio.BrokenResourceError:
        log.info("vehicle double %d: link to the companion broke", double.system_id)


async def serve_tcp(
    double: VehicleDouble,
    port: int,
    host: str = "127.0.0.1",
    *,
    tick: float = 0.1,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `double` on TCP `host:port`, one client at a time, until cancelled.

    `task_status.started()` reports the bound port (useful with `port=0`)."""
    listener, *others = await trio.open_tcp_listeners(port, host=host)
    for other in others:
        # A name with both IPv4 and IPv6 addresses: serve the first, like one SITL port.
        await other.aclose()
    async with listener:
        bound = listener.socket.getsockname()[1]
        task_status.started(bound)
        while True:
            stream = await _accept_while_flying(double, listener, tick)
            log.info("vehicle double %d: client connected on port %d", double.system_id, bound)
            async with stream:
                await run_double(double, stream, tick=tick)
            log.info("vehicle double %d: client left", double.system_id)


async def _accept_while_flying(
    double: VehicleDouble, listener: trio.abc.Listener[trio.SocketStream], tick: float
) -> trio.SocketStream:
    """Wait for the next client, stepping the double (and dropping its output) meanwhile."""
    accepted: list[trio.SocketStream] = []

    async def accept(cancel_scope: trio.CancelScope) -> None:
        accepted.append(await listener.accept())
        cancel_scope.cancel()

    async def drop_output() -> None:
        double.data_to_send()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(accept, nursery.cancel_scope)
        await _fly(double, tick, drop_output)
    return accepted[0]


async def _fly(double: VehicleDouble, tick: float, output: Callable[[], Awaitable[None]]) -> None:
    """Step `double` every `tick` and hand what it queued to `output`, until cancelled."""
    start = trio.current_time()
    for ticks in itertools.count(1):
        double.step(trio.current_time())
        await output()
        # Ticks at start + n * tick: repeated sleeps would let float error drift.
        await trio.sleep_until(start + ticks * tick)
