"""Sealing: bundles round trip, any modification is rejected, the overhead is 24 bytes."""

from __future__ import annotations

import os
import random
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import given
from hypothesis import strategies as st

from companion.errors import LocalProtocolError, RemoteProtocolError
from companion.link.payload import encode_payload
from companion.security.envelope import (
    OVERHEAD,
    Header,
    decode_bundle,
    encode_bundle,
    open_sealed,
    seal,
)
from dialects import event
from tests.samples import detection, event_classes, fields, sample_message

KEY = bytes(range(32))
AEAD = ChaCha20Poly1305(KEY)
INNER = [cls for cls in event_classes() if cls.id < 24120]


def header(counter: int = 1, **changes: Any) -> Header:
    values: dict[str, Any] = {"counter": counter, "src": 3, "dst": 255, "priority": 1}
    return Header(**(values | changes))


def sealed_ok(hdr: Header, plaintext: bytes) -> tuple[Header, bytes]:
    """Seal, stepping the counter past the 1-in-256 zero last byte as a sender does."""
    while (data := seal(AEAD, hdr, plaintext)) is None:
        hdr = header(hdr.counter + 1)
    return hdr, data


def test_every_inner_message_round_trips_sealed() -> None:
    rng = random.Random(3)
    for cls in INNER:
        message = sample_message(cls, rng)
        hdr, data = sealed_ok(header(), encode_bundle([message]))
        (got,) = decode_bundle(open_sealed(AEAD, hdr, data) or b"")
        assert fields(got) == fields(message)


def test_bundles_carry_a_long_mission() -> None:
    rng = random.Random(4)
    assign = sample_message(event.MAVLink_event_mission_assign_message, rng)
    items = [sample_message(event.MAVLink_event_mission_items_message, rng) for _ in range(4)]
    plaintext = encode_bundle([assign, *items])
    assert [fields(m) for m in decode_bundle(plaintext)] == [fields(m) for m in [assign, *items]]


def test_sealed_detection_costs_24_bytes(report: Any) -> None:
    message = detection()
    _, data = sealed_ok(header(), encode_bundle([message]))
    overhead = 7 + len(data) - len(encode_payload(message))
    report(f"security: sealed detection overhead {overhead} B over its own frame")
    assert overhead == OVERHEAD == 24


def test_header_fields_are_authenticated_but_hops_are_not() -> None:
    hdr, data = sealed_ok(header(), encode_bundle([detection()]))
    for changed in (
        header(hdr.counter + 1),
        header(hdr.counter, src=4),
        header(hdr.counter, dst=254),
        header(hdr.counter, priority=0),
        header(hdr.counter, group=True),
        header(hdr.counter, key_phase=1),
    ):
        assert open_sealed(AEAD, changed, data) is None
    assert open_sealed(AEAD, header(hdr.counter, hops_left=3), data) is not None


def test_meta_byte_round_trips() -> None:
    hdr = header(9, priority=2, group=True, key_phase=1, hops_left=6)
    assert Header.from_fields(9, 3, 255, hdr.meta) == hdr


def test_wrong_key_and_truncation_are_rejected() -> None:
    hdr, data = sealed_ok(header(), encode_bundle([detection()]))
    assert open_sealed(ChaCha20Poly1305(os.urandom(32)), hdr, data) is None
    assert all(open_sealed(AEAD, hdr, data[:n]) is None for n in range(len(data)))


def test_a_zero_last_byte_is_refused() -> None:
    plaintext = encode_bundle([detection()])
    zero = next(
        c
        for c in range(5000)
        if AEAD.encrypt(header(c).nonce(), plaintext, header(c).associated_data())[-1] == 0
    )
    assert seal(AEAD, header(zero), plaintext) is None


def test_outer_messages_cannot_be_bundled() -> None:
    heartbeat = event.MAVLink_heartbeat_message(2, 3, 0, 0, 4, 3)
    with pytest.raises(LocalProtocolError):
        encode_bundle([heartbeat])
    with pytest.raises(LocalProtocolError):
        encode_bundle([])


@given(st.data())
def test_any_modification_is_rejected(data: st.DataObject) -> None:
    hdr, sealed = sealed_ok(
        header(data.draw(st.integers(0, 2**24 - 1000))), encode_bundle([detection()])
    )
    position = data.draw(st.integers(0, len(sealed) - 1))
    flipped = bytearray(sealed)
    flipped[position] ^= data.draw(st.integers(1, 255))
    assert open_sealed(AEAD, hdr, bytes(flipped)) is None


@given(st.binary(max_size=300))
def test_any_plaintext_decodes_or_is_a_remote_error(plaintext: bytes) -> None:
    try:
        messages = decode_bundle(plaintext)
    except RemoteProtocolError:
        return
    assert messages
    assert all(24100 <= m.get_msgId() < 24120 for m in messages)


@given(st.lists(st.sampled_from(INNER), min_size=1, max_size=4), st.integers(0, 2**32))
def test_any_bundle_round_trips(classes: list[Any], seed: int) -> None:
    rng = random.Random(seed)
    messages = [sample_message(cls, rng) for cls in classes]
    hdr, data = sealed_ok(header(), encode_bundle(messages))
    got = decode_bundle(open_sealed(AEAD, hdr, data) or b"")
    assert [fields(m) for m in got] == [fields(m) for m in messages]
