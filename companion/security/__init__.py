"""End-to-end security: certificates, sessions, sealed envelopes, authorization."""

from .authority import FleetAuthority, NodeKeys
from .certificate import Certificate, CertificateStatus, Operation, Role
from .revocation import RevocationList, RevocationState

__all__ = [
    "Certificate",
    "CertificateStatus",
    "FleetAuthority",
    "NodeKeys",
    "Operation",
    "RevocationList",
    "RevocationState",
    "Role",
]
