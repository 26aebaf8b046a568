"""Node certificates: who a node is, what it may send, until when, signed by the authority.

Rules:
- A certificate binds a node id and role to the node's Ed25519 signing key and X25519
  agreement key, lists the operations the node may send and have acted upon, and is valid
  for `not_before <= now < expires` (Unix seconds).
- Encoding: fixed 145 bytes, little endian, so a handshake frame holds it together with a
  32-byte ephemeral key and a 64-byte signature (EVENT_HANDSHAKE.certificate is
  uint8_t[145]):

      offset size field
           0    1 version (1)
           1    1 node_id (1-255, the MAVLink system id; 0 is broadcast)
           2    1 role (EVENT_NODE_ROLE)
           3    2 operations (bit set of `Operation`)
           5    4 serial
           9    4 not_before
          13    4 expires
          17   32 signing_key (raw Ed25519 public key)
          49   32 agreement_key (raw X25519 public key)
          81   64 signature (Ed25519, by the authority, over TAG + bytes 0-80)

- The signature covers a domain-separation tag first, so no other message the authority
  signs (a revocation list, say) can ever be taken for a certificate.
- `decode` raises `RemoteProtocolError` for any malformed input and nothing else; a
  certificate that decodes is well formed but not yet trusted: call `verify`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from enum import Enum, IntEnum, IntFlag

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import LocalProtocolError, RemoteProtocolError

VERSION = 1
TAG = b"EVENT-cert-v1\0"
KEY_LEN = 32
SIGNATURE_LEN = 64
NODE_IDS = range(1, 256)
UINT32_MAX = 0xFFFF_FFFF
_BODY = struct.Struct("<BBBHIII32s32s")
ENCODED_LEN = _BODY.size + SIGNATURE_LEN
"""145 bytes."""


class Role(IntEnum):
    """A node's role; the values are the dialect's EVENT_NODE_ROLE."""

    COMMAND = 1
    GROUND_STATION = 2
    UAV = 3


class Operation(IntFlag):
    """What a certificate holder may send and have acted upon by the receiving node."""

    MISSION_ASSIGN = 1 << 0
    MISSION_ABORT = 1 << 1
    RETASK = 1 << 2
    PARAM_UPDATE = 1 << 3
    TELEMETRY = 1 << 4
    DETECTION = 1 << 5
    STATUS = 1 << 6
    HEARTBEAT = 1 << 7
    ACK = 1 << 8
    BULK = 1 << 9
    REVOCATION = 1 << 10
    """Distributing the authority's revocation lists."""
    RELAY = 1 << 11
    """Forwarding other nodes' traffic."""


ALL_OPERATIONS = Operation(sum(op.value for op in Operation))
_COMMANDING = (
    Operation.MISSION_ASSIGN
    | Operation.MISSION_ABORT
    | Operation.RETASK
    | Operation.PARAM_UPDATE
    | Operation.ACK
    | Operation.HEARTBEAT
)
DEFAULT_OPERATIONS: dict[Role, Operation] = {
    Role.COMMAND: _COMMANDING,
    # The ground station is the field's command post and the mesh's gateway to the cloud.
    Role.GROUND_STATION: _COMMANDING
    | Operation.RELAY
    | Operation.REVOCATION
    | Operation.STATUS
    | Operation.TELEMETRY,
    # A captured UAV must not be able to command the others: it reports and relays only.
    Role.UAV: Operation.TELEMETRY
    | Operation.DETECTION
    | Operation.STATUS
    | Operation.HEARTBEAT
    | Operation.ACK
    | Operation.BULK
    | Operation.RELAY,
}


class CertificateStatus(Enum):
    """Outcome of `Certificate.verify`."""

    VALID = "valid"
    BAD_SIGNATURE = "bad_signature"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"


def signature_valid(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True if `signature` is the Ed25519 signature of `message` under the raw `public_key`."""
    if len(public_key) != KEY_LEN:
        raise LocalProtocolError(f"an Ed25519 public key is {KEY_LEN} bytes")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True, slots=True, kw_only=True)
class Certificate:
    """A node certificate. The constructor checks ranges and raises `LocalProtocolError`."""

    version: int = VERSION
    serial: int
    node_id: int
    role: Role
    operations: Operation
    not_before: int
    expires: int
    signing_key: bytes
    agreement_key: bytes
    signature: bytes = bytes(SIGNATURE_LEN)
    """All zero until `signed_by` fills it in."""

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem is not None:
            raise LocalProtocolError(problem)

    def signed_part(self) -> bytes:
        """What the authority signs: the tag and every field except the signature."""
        return TAG + self.encode()[: _BODY.size]

    def signed_by(self, authority: Ed25519PrivateKey) -> Certificate:
        """A copy of this certificate carrying the authority's signature."""
        return replace(self, signature=authority.sign(self.signed_part()))

    def encode(self) -> bytes:
        """The 145-byte wire form."""
        body = _BODY.pack(
            self.version,
            self.node_id,
            self.role,
            self.operations,
            self.serial,
            self.not_before,
            self.expires,
            self.signing_key,
            self.agreement_key,
        )
        return body + self.signature

    @classmethod
    def decode(cls, data: bytes | bytearray) -> Certificate:
        """Parse the wire form; raises `RemoteProtocolError` if it is malformed."""
        if len(data) != ENCODED_LEN:
            raise RemoteProtocolError(f"certificate is {len(data)} bytes, not {ENCODED_LEN}")
        fields = _BODY.unpack_from(data)
        try:
            return cls(
                version=fields[0],
                node_id=fields[1],
                role=Role(fields[2]),
                operations=Operation(fields[3]),
                serial=fields[4],
                not_before=fields[5],
                expires=fields[6],
                signing_key=fields[7],
                agreement_key=fields[8],
                signature=bytes(data[_BODY.size :]),
            )
        except (ValueError, LocalProtocolError) as error:  # ValueError: unknown role
            raise RemoteProtocolError(f"malformed certificate: {error}") from None

    def verify(self, authority_public_key: bytes, now: float) -> CertificateStatus:
        """Check the authority's signature, then the validity period at `now`."""
        if not signature_valid(authority_public_key, self.signature, self.signed_part()):
            return CertificateStatus.BAD_SIGNATURE
        if now < self.not_before:
            return CertificateStatus.NOT_YET_VALID
        if now >= self.expires:
            return CertificateStatus.EXPIRED
        return CertificateStatus.VALID

    def permits(self, op: Operation) -> bool:
        """True if every operation in `op` is granted (an empty `op` always is)."""
        return self.operations & op == op


def _problem(cert: Certificate) -> str | None:
    """What is wrong with the fields (the first problem found), or None."""
    unknown = int(cert.operations) & ~int(ALL_OPERATIONS)
    uint32s = (cert.serial, cert.not_before, cert.expires)
    checks = (
        (cert.version != VERSION, f"unsupported certificate version {cert.version}"),
        (cert.node_id not in NODE_IDS, f"node id {cert.node_id} out of range 1-255"),
        (unknown != 0, f"unknown operation bits {unknown:#x}"),
        (
            not all(0 <= n <= UINT32_MAX for n in uint32s),
            "serial, not_before and expires must be 32-bit unsigned integers",
        ),
        (cert.expires <= cert.not_before, "certificate expires before it becomes valid"),
        (
            len(cert.signing_key) != KEY_LEN or len(cert.agreement_key) != KEY_LEN,
            f"public keys must be {KEY_LEN} bytes",
        ),
        (len(cert.signature) != SIGNATURE_LEN, f"signature must be {SIGNATURE_LEN} bytes"),
    )
    return next((message for failed, message in checks if failed), None)
