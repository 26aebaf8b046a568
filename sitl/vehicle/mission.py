"""The vehicle double's stored mission and the MAVLink mission protocol that fills and reads it.

Rules of this module:

* Only MAV_MISSION_TYPE_MISSION is kept; fences and rally points are refused
  MAV_MISSION_UNSUPPORTED with the mission type they asked for.
* Item 0 is always home: a download returns home as item 0, and an uploaded item 0 is
  validated, then ignored. `items` holds items 1..N.
* Upload (`MissionItemProtocol`): MISSION_COUNT truncates the stored mission to the new
  count at once and items overwrite it one by one, so an upload is not atomic: a refused
  item ends the upload and what was stored stays. One peer uploads at a time; another
  is DENIED. An item out of sequence is NACKed INVALID_SEQUENCE without ending the
  upload; the request is repeated after `REQUEST_RESEND` seconds of silence and the
  upload is cancelled (OPERATION_CANCELLED) after `UPLOAD_TIMEOUT` without an item.
* Download and clearing are refused while an upload runs; clearing also while the
  mission is flown (`AP_Mission::clear`).
* MISSION_CURRENT reports `current_seq`, the item count and the MISSION_STATE; the
  flight (`flight.py`) moves `current_seq` and `state` as it flies.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dialects import event

from .downlink import Downlink, Peer, sender_of
from .mission_items import ItemInt, MissionItem, home_item, normalise_item

MAX_MISSION_ITEMS = 700
UPLOAD_TIMEOUT = 8.0
"""ArduPilot gives up an upload after 8 s without an item (`MissionItemProtocol::update`)."""
REQUEST_RESEND = 1.0
"""... and repeats its item request after 1 s without an answer."""


@dataclass(slots=True)
class Upload:
    """A mission upload in progress: who sends it, which item is expected next."""

    peer: Peer
    count: int
    expected: int = 0
    last_item: float = 0.0
    last_request: float = 0.0


class Mission:
    """Items 1..N, the current item and the mission's state, and the protocol around them."""

    def __init__(
        self,
        downlink: Downlink,
        counters: Counter[str],
        home: Callable[[], tuple[float, float, float]],
    ) -> None:
        """`home` tells where home is now (degrees, degrees, metres AMSL): item 0."""
        self._downlink = downlink
        self._counters = counters
        self._home = home
        self.items: list[MissionItem] = []
        self.current_seq = 0
        self.state = event.MISSION_STATE_NO_MISSION
        """MISSION_STATE: NO_MISSION, NOT_STARTED, ACTIVE or COMPLETE."""
        self._upload: Upload | None = None

    def stored(self) -> list[MissionItem]:
        """Stored items as a download would return them; item 0 is home."""
        return [home_item(self._home()), *self.items]

    def current_message(self) -> Any:
        return self._downlink.mav.mission_current_encode(
            self.current_seq, len(self.items), self.state, 0
        )

    def send_current(self) -> None:
        self._downlink.send(self.current_message())

    # -- upload ------------------------------------------------------------------------

    def on_count(self, m: Any, now: float) -> None:
        peer = sender_of(m)
        if m.mission_type != event.MAV_MISSION_TYPE_MISSION:
            self._downlink.mission_ack(event.MAV_MISSION_UNSUPPORTED, peer, m.mission_type)
            return
        if self._upload is not None and self._upload.peer != peer:
            self._downlink.mission_ack(event.MAV_MISSION_DENIED, peer)
            return
        if m.count > MAX_MISSION_ITEMS:
            self._downlink.mission_ack(event.MAV_MISSION_NO_SPACE, peer)
            self._downlink.text(
                event.MAV_SEVERITY_WARNING, f"Only {MAX_MISSION_ITEMS} items are supported"
            )
            return
        # Not atomic: ArduPilot truncates to the new count now and overwrites item by item.
        del self.items[max(0, m.count - 1) :]
        if m.count == 0:
            self._upload = None
            self._upload_complete(peer)
            return
        self._upload = Upload(peer, m.count, 0, now, now)
        self._request_item(now)

    def on_item_int(self, m: Any, now: float) -> None:
        self._store_item(m, m, now)

    def on_item(self, m: Any, now: float) -> None:
        """MISSION_ITEM (float lat/lon): converted to the INT form as ArduPilot does."""
        if m.mission_type == event.MAV_MISSION_TYPE_MISSION and (
            abs(m.x) > 90 or abs(m.y) > 180 or math.isnan(m.x) or math.isnan(m.y)
        ):
            code = (
                event.MAV_MISSION_INVALID_PARAM5_X
                if abs(m.x) > 90 or math.isnan(m.x)
                else event.MAV_MISSION_INVALID_PARAM6_Y
            )
            # A conversion failure NACKs the item; the upload goes on (GCS_Common).
            self._downlink.mission_ack(code, sender_of(m))
            return
        self._store_item(m, ItemInt(m), now)

    def check_upload(self, now: float) -> None:
        """Repeat the item request, or cancel the upload, when the uploader went quiet."""
        upload = self._upload
        if upload is None:
            return
        if now - upload.last_item > UPLOAD_TIMEOUT:
            self._upload = None
            self._counters["upload_timeouts"] += 1
            self._downlink.text(event.MAV_SEVERITY_WARNING, "Mission upload timeout")
            self._downlink.send(
                self._downlink.mav.mission_ack_encode(
                    *upload.peer, event.MAV_MISSION_OPERATION_CANCELLED, 0
                )
            )
        elif now - upload.last_request > REQUEST_RESEND:
            self._request_item(now)

    def _request_item(self, now: float) -> None:
        upload = self._upload
        assert upload is not None
        upload.last_request = now
        self._downlink.send(
            self._downlink.mav.mission_request_int_encode(*upload.peer, upload.expected, 0)
        )

    def _store_item(self, m: Any, item: Any, now: float) -> None:
        """One uploaded item (`MissionItemProtocol::handle_mission_item`)."""
        peer = sender_of(m)
        upload = self._upload
        if m.mission_type != event.MAV_MISSION_TYPE_MISSION:
            self._downlink.mission_ack(event.MAV_MISSION_UNSUPPORTED, peer, m.mission_type)
            return
        if upload is None:
            self._downlink.mission_ack(event.MAV_MISSION_ERROR, peer)
            return
        if item.seq != upload.expected:
            # A NACK that does not end the upload: the request is repeated on timeout.
            self._downlink.mission_ack(event.MAV_MISSION_INVALID_SEQUENCE, peer)
            return
        if peer != upload.peer:
            self._downlink.mission_ack(event.MAV_MISSION_DENIED, peer)
            return
        stored = normalise_item(item)
        if isinstance(stored, int):
            # A refused item ends the upload; items already stored stay (not atomic).
            self._downlink.mission_ack(stored, peer)
            self._upload = None
            return
        if item.seq > 0:
            index = item.seq - 1
            if index < len(self.items):
                self.items[index] = stored
            else:
                self.items.append(stored)
        upload.expected += 1
        upload.last_item = now
        if upload.expected >= upload.count:
            self._upload = None
            self._upload_complete(peer)
        else:
            self._request_item(now)

    def _upload_complete(self, peer: Peer) -> None:
        if not self.items:
            self.state = event.MISSION_STATE_NO_MISSION
        elif self.state != event.MISSION_STATE_ACTIVE:
            self.state = event.MISSION_STATE_NOT_STARTED
        if self.current_seq > len(self.items):
            self.current_seq = 0
        self._downlink.text(event.MAV_SEVERITY_INFO, "Flight plan received")
        self._downlink.mission_ack(event.MAV_MISSION_ACCEPTED, peer)

    # -- download and clearing ---------------------------------------------------------

    def on_request_list(self, m: Any, now: float) -> None:
        peer = sender_of(m)
        if m.mission_type != event.MAV_MISSION_TYPE_MISSION:
            self._downlink.mission_ack(event.MAV_MISSION_UNSUPPORTED, peer, m.mission_type)
        elif self._upload is not None:
            self._downlink.mission_ack(event.MAV_MISSION_DENIED, peer)
        else:
            mav = self._downlink.mav
            self._downlink.send(mav.mission_count_encode(*peer, len(self.items) + 1, 0))

    def on_request_int(self, m: Any, now: float) -> None:
        item = self._requested_item(m)
        if item is not None:
            x, y = item.x, item.y
            mav = self._downlink.mav
            self._downlink.send(
                mav.mission_item_int_encode(*sender_of(m), *item.head(), x, y, item.z)
            )

    def on_request(self, m: Any, now: float) -> None:
        """The deprecated MISSION_REQUEST, answered with a float MISSION_ITEM."""
        item = self._requested_item(m)
        if item is not None:
            x, y = item.x / 1e7, item.y / 1e7
            mav = self._downlink.mav
            self._downlink.send(mav.mission_item_encode(*sender_of(m), *item.head(), x, y, item.z))

    def _requested_item(self, m: Any) -> MissionItem | None:
        peer = sender_of(m)
        if m.mission_type != event.MAV_MISSION_TYPE_MISSION:
            self._downlink.mission_ack(event.MAV_MISSION_UNSUPPORTED, peer, m.mission_type)
            return None
        if self._upload is not None:
            self._downlink.mission_ack(event.MAV_MISSION_DENIED, peer)
            return None
        if m.seq > len(self.items):
            self._downlink.mission_ack(event.MAV_MISSION_INVALID_SEQUENCE, peer)
            return None
        return self.stored()[int(m.seq)]

    def on_clear_all(self, m: Any, *, flown: bool) -> None:
        """MISSION_CLEAR_ALL; `flown`: AUTO is flying the mission now."""
        peer = sender_of(m)
        if m.mission_type != event.MAV_MISSION_TYPE_MISSION:
            self._downlink.mission_ack(event.MAV_MISSION_UNSUPPORTED, peer, m.mission_type)
            return
        running = flown and self.state == event.MISSION_STATE_ACTIVE
        if self._upload is not None or running:
            # AP_Mission::clear refuses while the mission runs.
            self._downlink.mission_ack(event.MAV_MISSION_ERROR, peer)
            return
        self.items.clear()
        self.current_seq = 0
        self.state = event.MISSION_STATE_NO_MISSION
        self._downlink.mission_ack(event.MAV_MISSION_ACCEPTED, peer)
