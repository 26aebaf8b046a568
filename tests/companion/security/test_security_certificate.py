"""Certificates: exact layout, round trip, hostile bytes, signature and validity checks."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.errors import LocalProtocolError, RemoteProtocolError
from companion.security.certificate import (
    DEFAULT_OPERATIONS,
    ENCODED_LEN,
    Certificate,
    CertificateStatus,
    Operation,
    Role,
)
from dialects import event

from .keys import AUTHORITY, AUTHORITY_PUB, NOW, OTHER

SIGNING_KEY = bytes(range(100, 132))
AGREEMENT_KEY = bytes(range(150, 182))


def certificate(**changes: Any) -> Certificate:
    fields: dict[str, Any] = {
        "serial": 0x01020304,
        "node_id": 3,
        "role": Role.UAV,
        "operations": DEFAULT_OPERATIONS[Role.UAV],
        "not_before": NOW - 100,
        "expires": NOW + 3600,
        "signing_key": SIGNING_KEY,
        "agreement_key": AGREEMENT_KEY,
    }
    return Certificate(**(fields | changes)).signed_by(AUTHORITY)


CERT = certificate()
ENCODED = CERT.encode()


def test_layout_is_145_little_endian_bytes() -> None:
    assert ENCODED_LEN == len(ENCODED) == 145
    assert ENCODED[:5] == bytes([1, 3, 3]) + struct.pack("<H", DEFAULT_OPERATIONS[Role.UAV])
    assert ENCODED[5:17] == struct.pack("<III", 0x01020304, NOW - 100, NOW + 3600)
    assert ENCODED[17:49] == SIGNING_KEY
    assert ENCODED[49:81] == AGREEMENT_KEY
    assert ENCODED[81:] == CERT.signature
    assert len(CERT.signature) == 64


def test_fits_a_handshake_frame_with_an_ephemeral_key_and_a_signature() -> None:
    assert len(ENCODED) + 32 + 64 <= 253


def test_round_trip() -> None:
    assert Certificate.decode(ENCODED) == CERT
    assert Certificate.decode(bytearray(ENCODED)) == CERT
    for node_id in (1, 255):  # 255: MAVLink's conventional ground station id
        cert = certificate(node_id=node_id)
        assert Certificate.decode(cert.encode()) == cert


def test_role_values_match_the_dialect() -> None:
    assert Role.COMMAND == event.EVENT_NODE_ROLE_COMMAND
    assert Role.GROUND_STATION == event.EVENT_NODE_ROLE_GROUND_STATION
    assert Role.UAV == event.EVENT_NODE_ROLE_UAV


@pytest.mark.parametrize("cut", range(ENCODED_LEN))
def test_every_truncation_is_refused(cut: int) -> None:
    with pytest.raises(RemoteProtocolError):
        Certificate.decode(ENCODED[:cut])


def test_trailing_data_is_refused() -> None:
    with pytest.raises(RemoteProtocolError):
        Certificate.decode(ENCODED + b"\0")


@pytest.mark.parametrize(
    ("offset", "value"),
    [(0, 2), (0, 0), (1, 0), (2, 0), (2, 4), (4, 0x10), (4, 0xFF)],
    ids=["version2", "version0", "node0", "role0", "role4", "op-bit12", "op-bits"],
)
def test_malformed_fields_are_the_peers_error(offset: int, value: int) -> None:
    data = bytearray(ENCODED)
    data[offset] = value
    with pytest.raises(RemoteProtocolError):
        Certificate.decode(bytes(data))


def test_expiry_before_start_is_malformed() -> None:
    data = bytearray(ENCODED)
    data[13:17] = struct.pack("<I", NOW - 100)
    with pytest.raises(RemoteProtocolError, match="expires before"):
        Certificate.decode(bytes(data))


@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_or_raise_remote_protocol_error(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        Certificate.decode(data)


@given(st.binary(min_size=ENCODED_LEN, max_size=ENCODED_LEN))
def test_arbitrary_certificate_sized_bytes_never_verify(data: bytes) -> None:
    try:
        cert = Certificate.decode(data)
    except RemoteProtocolError:
        return
    assert cert.verify(AUTHORITY_PUB, NOW) is CertificateStatus.BAD_SIGNATURE


@given(st.integers(0, ENCODED_LEN - 1), st.integers(1, 255))
def test_any_single_byte_change_fails_verification(index: int, xor: int) -> None:
    data = bytearray(ENCODED)
    data[index] ^= xor
    try:
        cert = Certificate.decode(bytes(data))
    except RemoteProtocolError:
        return
    assert cert.verify(AUTHORITY_PUB, NOW) is CertificateStatus.BAD_SIGNATURE


def test_validity_period_boundaries() -> None:
    cert = certificate(not_before=NOW, expires=NOW + 10)
    assert cert.verify(AUTHORITY_PUB, NOW - 0.001) is CertificateStatus.NOT_YET_VALID
    assert cert.verify(AUTHORITY_PUB, NOW) is CertificateStatus.VALID
    assert cert.verify(AUTHORITY_PUB, NOW + 9.999) is CertificateStatus.VALID
    assert cert.verify(AUTHORITY_PUB, NOW + 10) is CertificateStatus.EXPIRED


def test_signature_of_another_authority_is_bad_at_any_time() -> None:
    forged = certificate().signed_by(OTHER)
    other_pub = OTHER.public_key().public_bytes_raw()
    assert forged.verify(other_pub, NOW) is CertificateStatus.VALID
    assert forged.verify(AUTHORITY_PUB, NOW) is CertificateStatus.BAD_SIGNATURE
    assert forged.verify(AUTHORITY_PUB, NOW + 10**6) is CertificateStatus.BAD_SIGNATURE


def test_unsigned_certificate_is_bad() -> None:
    unsigned = Certificate.decode(ENCODED[:81] + bytes(64))
    assert unsigned.verify(AUTHORITY_PUB, NOW) is CertificateStatus.BAD_SIGNATURE


def test_signature_is_domain_separated() -> None:
    # Signing the bare fields (no tag) must not produce a valid certificate.
    raw = AUTHORITY.sign(ENCODED[:81])
    assert Certificate.decode(ENCODED[:81] + raw).verify(AUTHORITY_PUB, NOW) is (
        CertificateStatus.BAD_SIGNATURE
    )


def test_malformed_authority_key_is_our_error() -> None:
    with pytest.raises(LocalProtocolError):
        CERT.verify(AUTHORITY_PUB[:31], NOW)


@pytest.mark.parametrize(
    "changes",
    [
        {"node_id": 0},
        {"node_id": 256},
        {"serial": -1},
        {"serial": 2**32},
        {"expires": NOW - 100},
        {"signing_key": bytes(31)},
        {"agreement_key": bytes(33)},
        {"operations": Operation(1 << 12)},
        {"version": 2},
    ],
)
def test_constructor_refuses_out_of_range_fields(changes: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        certificate(**changes)


def test_uav_may_not_command() -> None:
    uav = certificate(role=Role.UAV, operations=DEFAULT_OPERATIONS[Role.UAV])
    for op in (Operation.MISSION_ABORT, Operation.MISSION_ASSIGN, Operation.RETASK):
        assert not uav.permits(op)
    assert not uav.permits(Operation.PARAM_UPDATE | Operation.REVOCATION)
    assert uav.permits(Operation.DETECTION | Operation.TELEMETRY | Operation.RELAY)


def test_ground_station_may_command_relay_and_distribute_revocations() -> None:
    gs = certificate(role=Role.GROUND_STATION, operations=DEFAULT_OPERATIONS[Role.GROUND_STATION])
    for op in (Operation.MISSION_ABORT, Operation.RETASK, Operation.RELAY, Operation.REVOCATION):
        assert gs.permits(op)
    assert not gs.permits(Operation.DETECTION)


def test_command_center_commands_but_does_not_relay() -> None:
    ops = DEFAULT_OPERATIONS[Role.COMMAND]
    assert Operation.MISSION_ABORT in ops
    assert Operation.RELAY not in ops
    assert DEFAULT_OPERATIONS[Role.GROUND_STATION] & ops == ops


def test_no_operation_is_always_permitted() -> None:
    assert certificate(operations=Operation(0)).permits(Operation(0))
    assert not certificate(operations=Operation(0)).permits(Operation.ACK)
