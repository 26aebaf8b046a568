"""Revocation lists: encoding, signatures, and the newest-signed-list-wins state."""

from __future__ import annotations

import contextlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from companion.errors import LocalProtocolError, RemoteProtocolError
from companion.security.certificate import DEFAULT_OPERATIONS, ENCODED_LEN, Certificate, Role
from companion.security.revocation import (
    MAX_ENCODED_LEN,
    MAX_SERIALS,
    Refusal,
    RevocationList,
    RevocationState,
)

from .keys import AUTHORITY, AUTHORITY_PUB, NOW, OTHER


def crl(version: int, *serials: int, key: Ed25519PrivateKey = AUTHORITY) -> RevocationList:
    return RevocationList(version=version, issued_at=NOW, serials=frozenset(serials)).signed_by(key)


def cert(serial: int) -> Certificate:
    return Certificate(
        serial=serial,
        node_id=3,
        role=Role.UAV,
        operations=DEFAULT_OPERATIONS[Role.UAV],
        not_before=NOW,
        expires=NOW + 60,
        signing_key=bytes(32),
        agreement_key=bytes(32),
    )


def test_layout() -> None:
    data = crl(7, 9, 2, 300).encode()
    assert len(data) == 8 + 3 * 4 + 64
    assert data[:20] == struct.pack("<IIIII", 7, NOW, 2, 9, 300)


def test_round_trip() -> None:
    for serials in [(), (1,), tuple(range(1, MAX_SERIALS + 1))]:
        original = crl(3, *serials)
        assert RevocationList.decode(original.encode()) == original


def test_the_largest_list_fits_an_event_revocation_frame() -> None:
    assert MAX_SERIALS == 37
    assert len(crl(1, *range(MAX_SERIALS)).encode()) <= MAX_ENCODED_LEN == 220
    with pytest.raises(LocalProtocolError):
        crl(1, *range(MAX_SERIALS + 1))


def test_no_list_is_certificate_sized() -> None:
    lengths = {len(crl(1, *range(n)).encode()) for n in range(MAX_SERIALS + 1)}
    assert ENCODED_LEN not in lengths


@pytest.mark.parametrize("length", [0, 71, 73, 74, 75, 72 + 4 * 38])
def test_impossible_lengths_are_refused(length: int) -> None:
    with pytest.raises(RemoteProtocolError):
        RevocationList.decode(bytes(length))


def test_serials_out_of_order_or_repeated_are_refused() -> None:
    for serials in [(5, 3), (4, 4)]:
        data = struct.pack("<II", 1, NOW) + struct.pack("<II", *serials) + bytes(64)
        with pytest.raises(RemoteProtocolError, match="ascending"):
            RevocationList.decode(data)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_or_raise_remote_protocol_error(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        RevocationList.decode(data)


def test_signature_checks() -> None:
    assert crl(1, 5).verify(AUTHORITY_PUB)
    assert not crl(1, 5, key=OTHER).verify(AUTHORITY_PUB)
    unsigned = RevocationList(version=1, issued_at=NOW, serials=frozenset({5}))
    assert not unsigned.verify(AUTHORITY_PUB)


def test_revokes_by_serial() -> None:
    assert crl(1, 5, 9).revokes(cert(9))
    assert not crl(1, 5, 9).revokes(cert(6))


def test_newer_lists_replace_older_ones() -> None:
    state = RevocationState()
    assert not state.is_revoked(cert(5))
    assert state.offer(crl(1, 5).encode(), AUTHORITY_PUB)
    assert state.is_revoked(cert(5))
    assert state.offer(crl(4, 6).encode(), AUTHORITY_PUB)
    assert not state.is_revoked(cert(5))
    assert state.is_revoked(cert(6))
    assert state.current == crl(4, 6)
    assert state.refusals == {}


def test_refusals_are_counted_by_reason() -> None:
    state = RevocationState()
    state.offer(crl(3, 5).encode(), AUTHORITY_PUB)
    tampered = bytearray(crl(9, 5, 6).encode())
    tampered[8] ^= 0x01  # serial 5 becomes 4: still ascending, signature no longer matches
    offers = [
        crl(3, 5).encode(),  # the same version again
        crl(2).encode(),  # an older version: would un-revoke serial 5
        crl(9).encode()[:-1],  # truncated
        crl(9, key=OTHER).encode(),  # another authority
        bytes(tampered),
    ]
    assert [state.offer(offer, AUTHORITY_PUB) for offer in offers] == [False] * 5
    assert state.refusals == {
        Refusal.DUPLICATE: 1,
        Refusal.STALE: 1,
        Refusal.MALFORMED: 1,
        Refusal.BAD_SIGNATURE: 2,
    }
    assert state.refusals["crl_stale"] == 1
    assert state.current == crl(3, 5)
    assert state.is_revoked(cert(5))


@given(st.integers(0, 72 + 4 * 2 - 1), st.integers(1, 255))
def test_any_single_byte_change_is_refused(index: int, xor: int) -> None:
    state = RevocationState()
    data = bytearray(crl(2, 10, 20).encode())
    data[index] ^= xor
    assert not state.offer(bytes(data), AUTHORITY_PUB)
    assert state.current is None
