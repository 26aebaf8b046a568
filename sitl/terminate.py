"""Stop a child process politely: SIGTERM, a grace period, then SIGKILL.

Rules: shielded from cancellation (a child must never outlive its parent's block); a
child that already ended is left alone; returns once the child has been reaped.
"""

from __future__ import annotations

import trio


async def terminate(process: trio.Process, grace: float) -> None:
    with trio.CancelScope(shield=True):
        if process.poll() is None:
            process.terminate()
            with trio.move_on_after(grace):
                await process.wait()
        if process.poll() is None:
            process.kill()
            await process.wait()
