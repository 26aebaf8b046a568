"""MAVLink 2 message signing: signatures, the signing clock and the replay guard.

Rules (https://mavlink.io/en/guide/message_signing.html, "Timestamp Handling"):
- signature = first 48 bits of SHA-256(secret_key + header + payload + CRC + link_id +
  timestamp); the timestamp is 48 bits in units of 10 microseconds since 2015-01-01 GMT.
- A sender's timestamps strictly increase, also across restarts: the spec asks for the
  timestamp to be saved and restored. `SigningClock` does this as a reservation: before a
  frame with a timestamp above the saved value goes out, a higher value is saved, so a
  crash at any point never reuses a timestamp. At a clean stop the last timestamp used is
  saved instead (`settle`), so a restart does not skip a whole reservation window.
- A receiver keeps the last timestamp of every stream (system id, component id, link id)
  and rejects a frame whose timestamp is not newer; a frame more than one minute older than
  the receiver's own timestamp is rejected too. The receiver's timestamp follows the newest
  one it accepted, so a node without a real-time clock (a Raspberry Pi has none) joins the
  fleet's time.
- Stream state changes only after the signature verified (pymavlink records a new stream
  before checking the signature, which lets one forged frame lock a stream out).

Bounds. Here the project differs from the spec, which adopts any newer timestamp and says
nothing of the 48-bit wrap: one authentic frame stamped near 2^48 (a peer with a broken
clock, or anyone with the link key) would be adopted, the node's next timestamps would
wrap to 0, every peer would drop them as stale, and the wrap would spread by adoption.
- `CEILING` (2^47 ticks, August 2059; 2^48 is March 2104): no timestamp at or above it is
  accepted, adopted, restored from disk or taken from the wall clock. A wall clock past it
  is a broken RTC: ignored, counted and logged, and the node goes on from its saved and
  the fleet's time.
- A receiver refuses (`Drop.AHEAD`) a verified frame more than `max_ahead` ahead of its
  own estimate (`SigningClock.now`: the newest of its wall clock, what it sent, what it
  accepted). A refused frame changes neither its stream nor the clock.
- Except a node whose estimate is below `PLAUSIBLE_FLOOR` (2026-01-01, before this
  software existed: a Raspberry Pi without RTC that booted in 1970 and has nothing saved).
  It has no time to judge by and accepts anything below the ceiling; otherwise it could
  never join the fleet. The price: if the first frame it hears comes from a clock far
  ahead, it follows that one, unheard by the rest, until its clock is set (or its saved
  timestamp removed) and it restarts.
- `MAX_AHEAD` is a year, not a day: a node's estimate is often only a lower bound of the
  time. A Raspberry Pi comes back with the date it was switched off (fake-hwclock,
  systemd-timesyncd) or with its last saved reservation, so after weeks on the shelf,
  away from NTP, it is weeks behind a fleet whose ground station knows the time; a bound
  shorter than that would cut it off for good. A year still refuses what broken clocks
  and the wrap attack produce (years to decades ahead).
- Past the ceiling `next()` goes on one tick per frame and says so: an ERROR line at the
  1st, 2nd, 4th, 8th... time, and `status()`. A node only gets there by adopting a frame
  just below the ceiling while it had no plausible time. It neither wraps (peers would
  drop the small values as stale: the bug above), repeats a timestamp (replayable) nor
  stops signing (the stack must frame every message it is handed); receivers refuse these
  frames as AHEAD, so none is adopted anywhere. A restart recovers: the value saved past
  the ceiling is refused on load. 2^48 - 1 is another 2^47 frames away; `next()` stops
  there rather than wrap.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import OrderedDict
from datetime import UTC, datetime

from ..errors import LocalProtocolError
from .drops import Drop

log = logging.getLogger(__name__)

KEY_LEN = 32
EPOCH_2015 = 1_420_070_400
TICKS_PER_SECOND = 100_000
MAX_AGE = 60 * TICKS_PER_SECOND
"""The spec's one minute, in signing ticks."""
RESERVE_AHEAD = 60 * TICKS_PER_SECOND
"""How far ahead of its last timestamp a sender saves, so it saves about once a minute."""
TIMESTAMP_MAX = 2**48 - 1
"""The largest timestamp the 48-bit field holds."""
CEILING = 2**47
"""No timestamp at or above this is accepted, adopted, restored or read from the clock."""
PLAUSIBLE_FLOOR = (1_767_225_600 - EPOCH_2015) * TICKS_PER_SECOND
"""2026-01-01: a node whose estimate is below this has no time to judge others by."""
MAX_AHEAD = 365 * 86_400 * TICKS_PER_SECOND
"""How far ahead of a receiver's estimate an accepted timestamp may be (a year)."""

Stream = tuple[int, int, int]
"""(system id, component id, link id)."""


def ticks(wall_time: float) -> int:
    """Signing timestamp for a Unix wall-clock time (clamped at the 2015 epoch)."""
    return max(0, int((wall_time - EPOCH_2015) * TICKS_PER_SECOND))


def tick_date(timestamp: int) -> str:
    """A signing timestamp as a UTC date, for log lines."""
    when = datetime.fromtimestamp(EPOCH_2015 + timestamp / TICKS_PER_SECOND, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def newest_acceptable(local_now: int, max_ahead: int = MAX_AHEAD) -> int:
    """The newest timestamp a receiver whose own estimate is `local_now` accepts."""
    if local_now < PLAUSIBLE_FLOOR:
        return CEILING - 1
    return min(local_now + max_ahead, CEILING - 1)


def restore_refusal(saved: int, wall_time: float, max_ahead: int = MAX_AHEAD) -> str | None:
    """Why a saved reservation must not be restored, or None if it may be."""
    if saved >= CEILING:
        return f"at or past the ceiling {CEILING} ({tick_date(CEILING)})"
    wall = ticks(wall_time)
    if PLAUSIBLE_FLOOR <= wall < CEILING and saved > wall + max_ahead:
        days = max_ahead / TICKS_PER_SECOND / 86_400
        return f"more than {days:g} days ahead of the wall clock ({tick_date(wall)})"
    return None


def _at_power_of_two(count: int) -> bool:
    """Log the 1st, 2nd, 4th, 8th... time: a flood never fills the log, and never hides."""
    return count & (count - 1) == 0


def signature(key: bytes, signed_part: bytes | bytearray) -> bytes:
    """The 6-byte signature of `signed_part` (the frame up to and including the timestamp)."""
    digest = hashlib.sha256(key)
    digest.update(signed_part)
    return digest.digest()[:6]


def signature_valid(key: bytes, frame: bytes | bytearray) -> bool:
    """True if the signed frame's last 6 bytes are its signature under `key`."""
    return hmac.compare_digest(signature(key, frame[:-6]), frame[-6:])


def frame_timestamp(frame: bytes) -> int:
    """The 48-bit timestamp of a signed frame."""
    return int.from_bytes(frame[-12:-6], "little")


def frame_link_id(frame: bytes) -> int:
    """The link id of a signed frame."""
    return frame[-13]


class SigningClock:
    """Hands out signing timestamps that never repeat, across restarts.

    `restored` is the last value saved by a previous run (0 if none; below `CEILING`,
    which `TimestampStore.load` sees to). After `next()`, `pending_reservation` says what
    must be saved before that frame is transmitted; the caller saves it, then calls
    `confirm_reservation()`. `max_ahead` bounds what a receiver accepts (see the rules).
    """

    def __init__(
        self,
        restored: int = 0,
        reserve_ahead: int = RESERVE_AHEAD,
        max_ahead: int = MAX_AHEAD,
    ) -> None:
        if not 0 <= restored < CEILING:
            raise LocalProtocolError(f"restored signing timestamp {restored} is past {CEILING}")
        self._last = restored
        self._reserved = restored
        self._reserve_ahead = reserve_ahead
        self.max_ahead = max_ahead
        self._observed = 0
        self.past_ceiling = 0
        """Timestamps handed out at or past `CEILING`."""
        self.wall_ignored = 0
        """Readings of a wall clock at or past `CEILING`, ignored."""

    def now(self, wall_time: float) -> int:
        """Our local timestamp: the newest of the wall clock, what we sent, what we accepted."""
        return max(self._wall_ticks(wall_time), self._last, self._observed)

    def newest_acceptable(self, local_now: int) -> int:
        """The newest timestamp we accept from others while our estimate is `local_now`."""
        return newest_acceptable(local_now, self.max_ahead)

    def next(self, wall_time: float) -> int:
        """A timestamp for the next signed frame, newer than any handed out before."""
        wanted = max(self._last + 1, self._wall_ticks(wall_time), self._observed)
        self._last = min(wanted, TIMESTAMP_MAX)
        if self._last >= CEILING:
            self.past_ceiling += 1
            if _at_power_of_two(self.past_ceiling):
                log.error(
                    "event=signing_clock_past_ceiling timestamp=%d (%s) ceiling=%d count=%d: "
                    "every peer refuses our frames; this node adopted a timestamp from a "
                    "broken clock; check the fleet's clocks, then restart it",
                    self._last,
                    tick_date(self._last),
                    CEILING,
                    self.past_ceiling,
                )
        return self._last

    def observe(self, timestamp: int) -> None:
        """Adopt the timestamp of an accepted frame if it is newer than ours."""
        self._observed = max(self._observed, timestamp)

    @property
    def pending_reservation(self) -> int | None:
        """What to save before transmitting the last frame; None if the saved value covers it."""
        if self._last <= self._reserved:
            return None
        return self._last + self._reserve_ahead

    def confirm_reservation(self, value: int) -> None:
        """`value` is now on stable storage."""
        self._reserved = max(self._reserved, value)

    def settle(self) -> int | None:
        """At a clean stop: the last timestamp handed out, to save in place of the reservation
        ahead of it; None if nothing needs saving. From now on the clock counts that value as
        the saved one, so a frame signed after it still waits for a new reservation."""
        if self._last == self._reserved:
            return None
        self._reserved = self._last
        return self._last

    def status(self) -> dict[str, int | bool]:
        """Read-only figures for status files."""
        return {
            "last_sent": self._last,
            "newest_accepted": self._observed,
            "saved": self._reserved,
            "past_ceiling": self._last >= CEILING,
            "timestamps_past_ceiling": self.past_ceiling,
            "wall_clock_ignored": self.wall_ignored,
        }

    def _wall_ticks(self, wall_time: float) -> int:
        wall = ticks(wall_time)
        if wall < CEILING:
            return wall
        self.wall_ignored += 1
        if _at_power_of_two(self.wall_ignored):
            log.error(
                "event=wall_clock_implausible wall=%.0f (%s) ceiling=%s count=%d: ignored for "
                "link signing, which goes on from the saved and the fleet's time; set the clock",
                wall_time,
                tick_date(wall),
                tick_date(CEILING),
                self.wall_ignored,
            )
        return 0


class ReplayGuard:
    """Per-stream timestamp rules for frames whose signature already verified.

    Streams are only created by authentic frames, so the table holds at most the fleet's
    senders; it is still bounded, forgetting the stream heard from longest ago.
    """

    def __init__(self, max_streams: int = 4096) -> None:
        self._last: OrderedDict[Stream, int] = OrderedDict()
        self._max_streams = max_streams

    def admit(self, stream: Stream, timestamp: int, local_now: int, newest: int) -> Drop | None:
        """Record and accept the frame, or say why it must be dropped. `newest` is the newest
        timestamp the receiver accepts (`SigningClock.newest_acceptable`)."""
        if timestamp + MAX_AGE < local_now:
            return Drop.STALE
        if timestamp > newest:
            return Drop.AHEAD
        last = self._last.get(stream)
        if last is not None and timestamp <= last:
            return Drop.REPLAY
        self._last[stream] = timestamp
        self._last.move_to_end(stream)
        if len(self._last) > self._max_streams:
            self._last.popitem(last=False)
        return None
