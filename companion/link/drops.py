"""Why the link layer dropped a frame: one counter per reason."""

from enum import StrEnum


class Drop(StrEnum):
    """Reasons a received frame was not delivered. Each is counted, never raised."""

    BAD_CRC = "bad_crc"
    """Checksum (with the message's CRC_EXTRA) does not match: noise, or another dialect."""
    TRUNCATED = "truncated"
    """The frame ended early: the next frame started inside it, or the datagram ended."""
    UNKNOWN_MESSAGE = "unknown_message"
    """Message id not in the EVENT dialect (nor in ardupilotmega.xml, which it includes)."""
    UNSUPPORTED_FLAGS = "unsupported_flags"
    """Incompatibility flags we do not implement; the MAVLink 2 spec says drop."""
    BAD_SIGNATURE = "bad_signature"
    """Signed, but not with our link key (or altered after signing)."""
    REPLAY = "replay"
    """Correctly signed, but its timestamp is not newer than the last one of its stream."""
    STALE = "stale"
    """Correctly signed, but more than a minute older than our signing clock."""
    AHEAD = "ahead"
    """Correctly signed, but implausibly far ahead of our signing clock (more than its
    `max_ahead`, or at or past the ceiling near the 48-bit wrap): adopting it would drag
    our timestamps, and through us the fleet's, towards the wrap."""
    UNSIGNED = "unsigned"
    """Unsigned on a signed link, and the unsigned policy does not admit its message id."""
    UNDECODABLE = "undecodable"
    """Framing and signature fine, but pymavlink could not decode the payload."""
    NOISE = "noise"
    """A datagram with nothing in it that looked like a frame (no STX): its bytes are
    counted in `skipped_bytes`, the datagram here."""
