"""Fixed authority keys for certificate and revocation-list tests (reproducible bytes)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

NOW = 1_780_000_000
AUTHORITY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
AUTHORITY_PUB = AUTHORITY.public_key().public_bytes_raw()
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
"""A key of some other authority."""
