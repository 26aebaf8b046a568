"""A test fleet: one authority, identities and session managers for any node id."""

from __future__ import annotations

from companion.link import SigningClock
from companion.security.authority import FleetAuthority, NodeKeys
from companion.security.certificate import Role
from companion.security.revocation import RevocationState
from companion.security.session import SessionManager

NOW_WALL = 1_780_000_000.0
DAY = 86_400


class Fleet:
    """Issues certificates from a fresh authority, valid from NOW_WALL."""

    def __init__(self) -> None:
        self.authority = FleetAuthority.create("test-fleet")

    def identity(self, node_id: int, role: Role, valid_for: int = DAY) -> NodeKeys:
        _, keys = self.authority.issue(node_id, role, valid_for=valid_for, now=NOW_WALL)
        return keys

    def manager(
        self,
        node_id: int,
        role: Role,
        *,
        valid_for: int = DAY,
        identity: NodeKeys | None = None,
        clock: SigningClock | None = None,
        revocations: RevocationState | None = None,
    ) -> SessionManager:
        return SessionManager(
            identity or self.identity(node_id, role, valid_for),
            revocations or RevocationState(),
            clock or SigningClock(),
        )

    def revoke(self, serial: int, state: RevocationState) -> None:
        crl = self.authority.revoke(serial, now=NOW_WALL)
        assert state.offer(crl.encode(), self.authority.public_key)
