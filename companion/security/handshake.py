"""Session handshake messages: build, check, and derive the session keys.

The pattern is SIGMA-style signed Diffie-Hellman with the static keys mixed in
(close to Noise KK, with certificates instead of pre-shared static keys):

    INIT      A -> B   time_A, e_A, cert_A, sig_A(INIT fields)
    RESPONSE  B -> A   time_A, e_B, cert_B, sig_B(hash(INIT), RESPONSE fields)
    keys = HKDF-SHA256(ikm = DH(e_A, e_B) | DH(e_A, s_B) | DH(s_A, e_B),
                       salt = SHA-256(INIT | RESPONSE), info = "EVENT session v1")
           -> 32 bytes initiator-to-responder, 32 bytes responder-to-initiator

- Each message is one EVENT_HANDSHAKE frame (255-byte payload). Its next hop and hop
  count change on the way and are not signed, like an envelope's.
- Signatures bind each side's certificate to its fresh ephemeral key and to the peer's
  node id; the response also signs the initiator's message, so A knows B answered this
  INIT. The static X25519 terms bind the keys to both certificates as well: only the
  holders of both agreement keys can derive them (forward secrecy from the ephemerals).
- `time` comes from the initiator's never-repeating clock (`SigningClock`, saved across
  restarts), so the responder refuses an INIT not newer than the last it accepted from
  that node. A replayed INIT that gets through anyway (the responder forgot its table)
  only yields keys the replayer cannot derive, and the old session stays in use until
  the new one is confirmed by traffic.
- Checks run in this order: certificate signed by the fleet authority, certificate
  holder = sender, message signature, then validity period and revocation. So a refusal
  for an expired or revoked certificate is only ever given to an authentic sender, and
  answered with a REJECT signed by the refusing node, so the initiator learns why.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dialects import event

from ..errors import RemoteProtocolError
from .authority import NodeKeys
from .certificate import Certificate, CertificateStatus
from .revocation import RevocationState

_FIELDS = struct.Struct("<QBBBB")
_INIT_TAG = b"EVENT-hs-init\0"
_RESPONSE_TAG = b"EVENT-hs-resp\0"
_REJECT_TAG = b"EVENT-hs-rej\0"
_KDF_INFO = b"EVENT session v1"
KIND_MASK = 0x03
HOP_LIMIT = 15
PHASE_BIT = 0x80


class Kind(IntEnum):
    INIT = 1
    RESPONSE = 2
    REJECT = 3


class Refusal(StrEnum):
    """Why a handshake message was refused; each is a counter of the session manager."""

    MALFORMED = "handshake_malformed"
    BAD_CERTIFICATE = "handshake_bad_certificate"
    EXPIRED_CERTIFICATE = "handshake_expired_certificate"
    REVOKED_CERTIFICATE = "handshake_revoked_certificate"
    IDENTITY_MISMATCH = "handshake_identity_mismatch"
    BAD_SIGNATURE = "handshake_bad_signature"
    REPLAY = "handshake_replay"
    UNEXPECTED = "handshake_unexpected"


@dataclass(frozen=True, slots=True)
class Checked:
    """A handshake message whose certificate and signature verified."""

    message: Any
    kind: Kind
    phase: int
    certificate: Certificate


def _signed_part(message: Any, tag: bytes, prefix: bytes = b"") -> bytes:
    fields = _FIELDS.pack(message.time, message.src, message.dst, message.kind, message.outcome)
    return tag + prefix + fields + bytes(message.ephemeral) + bytes(message.certificate)


def _tag_for(kind: Kind) -> bytes:
    return {Kind.INIT: _INIT_TAG, Kind.RESPONSE: _RESPONSE_TAG, Kind.REJECT: _REJECT_TAG}[kind]


def _build(
    me: NodeKeys, dst: int, time: int, kind: int, ephemeral: bytes, prefix: bytes, outcome: int = 0
) -> Any:
    message = event.MAVLink_event_handshake_message(
        time, me.certificate.node_id, dst, kind, outcome, 0, HOP_LIMIT, list(ephemeral),
        list(me.certificate.encode()), [0] * 64,
    )  # fmt: skip
    signature = me.signing_key.sign(_signed_part(message, _tag_for(Kind(kind & KIND_MASK)), prefix))
    message.signature = list(signature)
    return message


def init_digest(init: Any) -> bytes:
    """What a RESPONSE signs of the INIT it answers: the INIT with its signature."""
    return hashlib.sha256(_signed_part(init, _INIT_TAG) + bytes(init.signature)).digest()


def build_init(me: NodeKeys, dst: int, time: int, phase: int, ephemeral: X25519PrivateKey) -> Any:
    public = ephemeral.public_key().public_bytes_raw()
    return _build(me, dst, time, Kind.INIT | phase << 7, public, b"")


def build_response(me: NodeKeys, init: Any, phase: int, ephemeral: X25519PrivateKey) -> Any:
    public = ephemeral.public_key().public_bytes_raw()
    kind = Kind.RESPONSE | phase << 7
    return _build(me, init.src, init.time, kind, public, init_digest(init))


def build_reject(me: NodeKeys, init: Any, outcome: int) -> Any:
    return _build(me, init.src, init.time, Kind.REJECT, bytes(32), b"", outcome)


def check(
    message: Any, me: NodeKeys, revocations: RevocationState, wall: float, init: Any = None
) -> Checked | Refusal:
    """Verify a handshake message addressed to us. `init`: ours, when this answers it."""
    try:
        kind = Kind(message.kind & KIND_MASK)
        certificate = Certificate.decode(bytes(message.certificate))
    except (ValueError, RemoteProtocolError):
        return Refusal.MALFORMED
    status = certificate.verify(me.authority_key, wall)
    refusal = _authenticity(message, kind, certificate, status, init) or _standing(
        certificate, status, revocations
    )
    return refusal or Checked(message, kind, message.kind >> 7 & 1, certificate)


def _authenticity(
    message: Any, kind: Kind, certificate: Certificate, status: CertificateStatus, init: Any
) -> Refusal | None:
    """Is this message from the holder of a certificate our authority issued?"""
    if status is CertificateStatus.BAD_SIGNATURE:
        return Refusal.BAD_CERTIFICATE
    if certificate.node_id != message.src:
        return Refusal.IDENTITY_MISMATCH
    prefix = init_digest(init) if kind is Kind.RESPONSE and init is not None else b""
    try:
        Ed25519PublicKey.from_public_bytes(certificate.signing_key).verify(
            bytes(message.signature), _signed_part(message, _tag_for(kind), prefix)
        )
    except InvalidSignature:
        return Refusal.BAD_SIGNATURE
    return None


def _standing(
    certificate: Certificate, status: CertificateStatus, revocations: RevocationState
) -> Refusal | None:
    """May this authentic sender still talk to us: in its validity period, not revoked?"""
    if status is not CertificateStatus.VALID:
        return Refusal.EXPIRED_CERTIFICATE
    if revocations.is_revoked(certificate):
        return Refusal.REVOKED_CERTIFICATE
    return None


def derive_keys(
    me: NodeKeys,
    ephemeral: X25519PrivateKey,
    peer: Checked,
    init: Any,
    response: Any,
    initiator: bool,
) -> tuple[bytes, bytes]:
    """(key we send with, key we receive with) for a completed handshake."""
    peer_ephemeral = X25519PublicKey.from_public_bytes(bytes(peer.message.ephemeral))
    peer_static = X25519PublicKey.from_public_bytes(peer.certificate.agreement_key)
    ee = ephemeral.exchange(peer_ephemeral)
    if initiator:
        mixed = ee + ephemeral.exchange(peer_static) + me.agreement_key.exchange(peer_ephemeral)
    else:
        mixed = ee + me.agreement_key.exchange(peer_ephemeral) + ephemeral.exchange(peer_static)
    salt = hashlib.sha256(
        _signed_part(init, _INIT_TAG) + _signed_part(response, _RESPONSE_TAG)
    ).digest()
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=salt, info=_KDF_INFO).derive(mixed)
    forward, backward = okm[:32], okm[32:]
    return (forward, backward) if initiator else (backward, forward)
