"""Revocation lists: the serials the authority withdrew, and the newest list a node holds.

Rules:
- A list carries a version that increases with every issue; a node keeps the newest
  correctly signed list it has seen and refuses any other, so nobody can roll a node back
  to an older list (one that did not yet name a captured node) by replaying it.
- Encoding, little endian, sized by its container (EVENT_REVOCATION carries the length):

      version u32, issued_at u32, serial u32 * n (strictly ascending), signature 64

  The serial count is implied by the length, which is therefore always a multiple of 4
  and never the 145 bytes of a certificate: a file or frame says which one it is. At most
  37 serials fit EVENT_REVOCATION's 220 bytes; the authority lists only certificates that
  have not expired yet, since expired ones are refused anyway.
- The signature (Ed25519, by the authority) covers the tag b"EVENT-crl-v1\\0" and every
  other byte, so a list can never be taken for a certificate, nor one for a list.
- Serials are strictly ascending so each list has exactly one encoding.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import pairwise

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import LocalProtocolError, RemoteProtocolError
from .certificate import SIGNATURE_LEN, UINT32_MAX, Certificate, signature_valid

TAG = b"EVENT-crl-v1\0"
_HEAD = struct.Struct("<II")
_SERIAL = struct.Struct("<I")
MAX_ENCODED_LEN = 220
"""EVENT_REVOCATION.data."""
MAX_SERIALS = (MAX_ENCODED_LEN - _HEAD.size - SIGNATURE_LEN) // _SERIAL.size


@dataclass(frozen=True, slots=True, kw_only=True)
class RevocationList:
    """A signed list of revoked certificate serials. The constructor checks ranges."""

    version: int
    issued_at: int
    serials: frozenset[int]
    signature: bytes = bytes(SIGNATURE_LEN)
    """All zero until `signed_by` fills it in."""

    def __post_init__(self) -> None:
        numbers = (self.version, self.issued_at, *self.serials)
        if not all(0 <= n <= UINT32_MAX for n in numbers):
            raise LocalProtocolError("version, issued_at and serials must be 32-bit unsigned")
        if len(self.serials) > MAX_SERIALS:
            raise LocalProtocolError(f"a revocation list holds at most {MAX_SERIALS} serials")
        if len(self.signature) != SIGNATURE_LEN:
            raise LocalProtocolError(f"signature must be {SIGNATURE_LEN} bytes")

    def signed_part(self) -> bytes:
        """What the authority signs: the tag and every field except the signature."""
        return TAG + self.encode()[:-SIGNATURE_LEN]

    def signed_by(self, authority: Ed25519PrivateKey) -> RevocationList:
        """A copy of this list carrying the authority's signature."""
        return replace(self, signature=authority.sign(self.signed_part()))

    def encode(self) -> bytes:
        """The wire form: 72 + 4 * len(serials) bytes."""
        serials = b"".join(_SERIAL.pack(serial) for serial in sorted(self.serials))
        return _HEAD.pack(self.version, self.issued_at) + serials + self.signature

    @classmethod
    def decode(cls, data: bytes | bytearray) -> RevocationList:
        """Parse the wire form; raises `RemoteProtocolError` if it is malformed."""
        body_len = len(data) - _HEAD.size - SIGNATURE_LEN
        if body_len < 0 or body_len % _SERIAL.size or len(data) > MAX_ENCODED_LEN:
            raise RemoteProtocolError(f"a revocation list cannot be {len(data)} bytes")
        version, issued_at = _HEAD.unpack_from(data)
        body = data[_HEAD.size : _HEAD.size + body_len]
        serials = [serial for (serial,) in _SERIAL.iter_unpack(body)]
        if any(a >= b for a, b in pairwise(serials)):
            raise RemoteProtocolError("revocation list serials are not strictly ascending")
        return cls(
            version=version,
            issued_at=issued_at,
            serials=frozenset(serials),
            signature=bytes(data[-SIGNATURE_LEN:]),
        )

    def verify(self, authority_public_key: bytes) -> bool:
        """True if the authority signed this list."""
        return signature_valid(authority_public_key, self.signature, self.signed_part())

    def revokes(self, cert: Certificate) -> bool:
        """True if this list names the certificate's serial."""
        return cert.serial in self.serials


class Refusal(StrEnum):
    """Why `RevocationState.offer` refused a list; the keys of its `refusals` counter."""

    MALFORMED = "crl_malformed"
    BAD_SIGNATURE = "crl_bad_signature"
    DUPLICATE = "crl_duplicate"
    """The version we hold: the normal fate of a list flooded through the mesh."""
    STALE = "crl_stale"
    """An older version: a replay, or a relay that has not caught up."""


class RevocationState:
    """The newest verified revocation list a node holds (sans-IO; the caller persists it)."""

    def __init__(self) -> None:
        self.current: RevocationList | None = None
        self.refusals: Counter[str] = Counter()

    def offer(self, crl_bytes: bytes, authority_key: bytes) -> bool:
        """Adopt the list if the authority signed it and it is newer than ours."""
        checked = self._check(crl_bytes, authority_key)
        if isinstance(checked, Refusal):
            self.refusals[checked] += 1
            return False
        self.current = checked
        return True

    def is_revoked(self, cert: Certificate) -> bool:
        """True if the list we hold names the certificate."""
        return self.current is not None and self.current.revokes(cert)

    def _check(self, crl_bytes: bytes, authority_key: bytes) -> RevocationList | Refusal:
        try:
            crl = RevocationList.decode(crl_bytes)
        except RemoteProtocolError:
            return Refusal.MALFORMED
        # Signature first, so STALE and DUPLICATE only ever count authentic lists.
        if not crl.verify(authority_key):
            return Refusal.BAD_SIGNATURE
        held = -1 if self.current is None else self.current.version
        if crl.version == held:
            return Refusal.DUPLICATE
        if crl.version < held:
            return Refusal.STALE
        return crl
