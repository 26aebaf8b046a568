"""The fleet authority: issues, renews and revokes node certificates (sans-IO).

Rules:
- Serials are unique per authority: `next_serial` only grows and is part of the state.
  Persist `public_state()` before handing out what `issue` or `renew` returned, so a
  crash in between can waste a serial but never reuse one.
- A new certificate's validity starts `CLOCK_SLACK` seconds in the past: nodes without a
  real-time clock (a Raspberry Pi has none) follow the fleet's time and may lag the
  authority's a little; a certificate must not be refused as not yet valid for that.
- `renew` keeps the node's keys and issues a new serial and expiry. It refuses a
  certificate this authority did not sign, and a revoked one: renewing it would give a
  withdrawn node a fresh serial that no revocation list names.
- `revoke` withdraws a node, not just one certificate: every certificate ever issued for
  the same keys (earlier ones that `renew` superseded are still valid until they expire)
  is revoked with it. The list's version is one above the last. It names only revoked
  certificates that have not expired yet (expired ones are refused by every node anyway),
  which keeps the list within one EVENT_REVOCATION frame.
- The private key never shows in `repr`; `public_state()` holds public data only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ..errors import LocalProtocolError, RemoteProtocolError
from .certificate import DEFAULT_OPERATIONS, Certificate, CertificateStatus, Operation, Role
from .revocation import MAX_SERIALS, RevocationList

CLOCK_SLACK = 300
STATE_FORMAT = 1


@dataclass(frozen=True, slots=True, repr=False)
class NodeKeys:
    """Everything a node is provisioned with: its private keys, certificate, authority."""

    signing_key: Ed25519PrivateKey
    agreement_key: X25519PrivateKey
    certificate: Certificate
    authority_key: bytes
    """The fleet authority's raw Ed25519 public key."""

    def __repr__(self) -> str:
        cert = self.certificate
        return f"NodeKeys(node {cert.node_id}, {cert.role.name}, serial {cert.serial})"


@dataclass(frozen=True, slots=True)
class Issued:
    """What the authority remembers of a certificate it issued (public data)."""

    expires: int
    signing_key: bytes


class FleetAuthority:
    """A fleet's certificate authority. Use `create` or `restore`, not the constructor."""

    def __init__(
        self,
        fleet_name: str,
        private_key: Ed25519PrivateKey,
        *,
        next_serial: int = 1,
        crl_version: int = 0,
        revoked: frozenset[int] = frozenset(),
        issued: dict[int, Issued] | None = None,
    ) -> None:
        self.fleet_name = fleet_name
        self._key = private_key
        self.next_serial = next_serial
        self.crl_version = crl_version
        self.revoked = set(revoked)
        self.issued: dict[int, Issued] = dict(issued or {})
        """Every certificate issued, by serial."""

    @classmethod
    def create(cls, fleet_name: str) -> FleetAuthority:
        """A new authority with a fresh Ed25519 key."""
        return cls(fleet_name, Ed25519PrivateKey.generate())

    @property
    def private_key(self) -> Ed25519PrivateKey:
        """The signing key, for the keystore to save; never print it."""
        return self._key

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key every node trusts."""
        return self._key.public_key().public_bytes_raw()

    def __repr__(self) -> str:
        return (
            f"FleetAuthority({self.fleet_name!r}, public key {self.public_key.hex()}, "
            f"next serial {self.next_serial})"
        )

    def issue(
        self,
        node_id: int,
        role: Role,
        operations: Operation | None = None,
        *,
        valid_for: int,
        now: float,
        keys: tuple[Ed25519PrivateKey, X25519PrivateKey] | None = None,
    ) -> tuple[Certificate, NodeKeys]:
        """A certificate and key pairs for a node; `operations` default by role.

        `keys` lets a simulation use reproducible keys; by default they are fresh."""
        if keys is None:
            keys = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
        signing, agreement = keys
        cert = self._sign(
            node_id=node_id,
            role=role,
            operations=DEFAULT_OPERATIONS[role] if operations is None else operations,
            signing_key=signing.public_key().public_bytes_raw(),
            agreement_key=agreement.public_key().public_bytes_raw(),
            valid_for=valid_for,
            now=now,
        )
        return cert, NodeKeys(signing, agreement, cert, self.public_key)

    def renew(self, cert: Certificate, valid_for: int, now: float) -> Certificate:
        """The same node, role, operations and keys under a new serial and expiry."""
        if cert.verify(self.public_key, now) is CertificateStatus.BAD_SIGNATURE:
            raise LocalProtocolError("this certificate was not issued by this authority")
        if cert.serial in self.revoked:
            raise LocalProtocolError(f"certificate {cert.serial} is revoked; issue a new one")
        return self._sign(
            node_id=cert.node_id,
            role=cert.role,
            operations=cert.operations,
            signing_key=cert.signing_key,
            agreement_key=cert.agreement_key,
            valid_for=valid_for,
            now=now,
        )

    def revoke(self, *serials: int, now: float) -> RevocationList:
        """Revoke `serials` and their renewals, and sign the next revocation list."""
        unknown = sorted(set(serials) - self.issued.keys())
        if unknown:
            raise LocalProtocolError(f"serials not issued by this authority: {unknown}")
        keys = {self.issued[serial].signing_key for serial in serials}
        same_keys = {serial for serial, cert in self.issued.items() if cert.signing_key in keys}
        revoked = self.revoked | same_keys
        live = frozenset(serial for serial in revoked if self.issued[serial].expires > now)
        if len(live) > MAX_SERIALS:
            raise LocalProtocolError(
                f"{len(live)} unexpired revoked certificates exceed the {MAX_SERIALS} a "
                "revocation list holds; wait for some to expire or start a new authority"
            )
        self.revoked = revoked
        self.crl_version += 1
        unsigned = RevocationList(version=self.crl_version, issued_at=int(now), serials=live)
        return unsigned.signed_by(self._key)

    def public_state(self) -> dict[str, Any]:
        """The JSON-ready state to persist next to the private key (public data only)."""
        return {
            "format": STATE_FORMAT,
            "fleet": self.fleet_name,
            "public_key": self.public_key.hex(),
            "next_serial": self.next_serial,
            "crl_version": self.crl_version,
            "revoked": sorted(self.revoked),
            "issued": {
                str(serial): {"expires": cert.expires, "signing_key": cert.signing_key.hex()}
                for serial, cert in sorted(self.issued.items())
            },
        }

    @classmethod
    def restore(cls, private_key: Ed25519PrivateKey, state: dict[str, Any]) -> FleetAuthority:
        """The authority saved as `state`; raises `RemoteProtocolError` if it is malformed."""
        try:
            authority = cls(
                str(state["fleet"]),
                private_key,
                next_serial=int(state["next_serial"]),
                crl_version=int(state["crl_version"]),
                revoked=frozenset(int(serial) for serial in state["revoked"]),
                issued={
                    int(serial): Issued(int(cert["expires"]), bytes.fromhex(cert["signing_key"]))
                    for serial, cert in state["issued"].items()
                },
            )
            matches = bytes.fromhex(state["public_key"]) == authority.public_key
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise RemoteProtocolError(f"malformed authority state: {error!r}") from None
        if state.get("format") != STATE_FORMAT or not matches:
            raise RemoteProtocolError("authority state is of another format or another key")
        return authority

    def _sign(self, *, valid_for: int, now: float, **fields: Any) -> Certificate:
        if valid_for <= 0:
            raise LocalProtocolError(f"valid_for must be positive, not {valid_for}")
        not_before = max(0, int(now) - CLOCK_SLACK)
        cert = Certificate(
            serial=self.next_serial,
            not_before=not_before,
            expires=int(now) + valid_for,
            **fields,
        ).signed_by(self._key)
        self.next_serial += 1
        self.issued[cert.serial] = Issued(cert.expires, cert.signing_key)
        return cert
