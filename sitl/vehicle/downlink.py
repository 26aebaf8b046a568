"""The vehicle double's side of the wire to the companion: the bytes it queues to send.

Rules of this module:

* Every message goes out as a MAVLink 2 frame from the double's system id and component 1
  (the flight controller), with the sequence number advancing by one per frame.
* Frames queue in order until `data_to_send()` hands them over; nothing here does I/O.
* Each frame counts in `counters["sent"]`; each MISSION_ACK that refuses, in
  `counters["mission_nacks"]`.
* A reply goes back to the (system, component) that sent the request (`sender_of`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from dialects import event

COMPONENT_ID = 1
"""MAV_COMP_ID_AUTOPILOT1: ArduPilot's flight controller."""

Peer = tuple[int, int]
"""A MAVLink (system id, component id)."""


def sender_of(message: Any) -> Peer:
    """Who sent `message`: where its answer goes."""
    return (message.get_srcSystem(), message.get_srcComponent())


class Downlink:
    """The frames queued for the companion, and the encoder that numbers them."""

    def __init__(self, system_id: int, counters: Counter[str]) -> None:
        self.mav = event.MAVLink(None, system_id, COMPONENT_ID)
        """The encoder: `mav.<message>_encode(...)` builds a message to pass to `send`."""
        self._counters = counters
        self._out = bytearray()

    def send(self, message: Any) -> None:
        self._out += message.pack(self.mav)
        self.mav.seq = (self.mav.seq + 1) % 256
        self._counters["sent"] += 1

    def text(self, severity: int, text: str) -> None:
        """A STATUSTEXT, cut to its 50 bytes."""
        self.send(self.mav.statustext_encode(severity, text.encode()[:50]))

    def ack(self, command: int, result: int, sender: Peer) -> None:
        """A COMMAND_ACK of `command` with MAV_RESULT `result`."""
        self.send(self.mav.command_ack_encode(command, result, 0, 0, *sender))

    def mission_ack(self, result: int, peer: Peer, mission_type: int = 0) -> None:
        """A MISSION_ACK with MAV_MISSION_RESULT `result`."""
        if result != event.MAV_MISSION_ACCEPTED:
            self._counters["mission_nacks"] += 1
        self.send(self.mav.mission_ack_encode(*peer, result, mission_type))

    def data_to_send(self) -> bytes:
        """The queued bytes, clearing the queue."""
        data = bytes(self._out)
        self._out.clear()
        return data
