"""Fragments: split and reassemble a sealed mission in any order, every refusal counted,
bounded memory under arbitrary input."""

from __future__ import annotations

import random
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.errors import LocalProtocolError
from companion.link.payload import decode_payload, encode_payload
from companion.reliability.fragment import DATA_LEN, Reassembled, Reassembler, split
from companion.security.envelope import decode_bundle, encode_bundle
from dialects import event

KEY, NONCE = bytes(range(32)), bytes(12)
GCS, UAV, META = 255, 7, 0xF1  # HIGH priority, 15 hops left


def mission(waypoints: int = 50) -> list[Any]:
    assign = event.MAVLink_event_mission_assign_message(1, 9, waypoints, 1, 0)
    items = [
        event.MAVLink_event_mission_items_message(
            9,
            start,
            min(16, waypoints - start),
            [start + 1] * 16,
            [start + 2] * 16,
            [30] * 16,
            [0] * 16,
            [2] * 16,
        )
        for start in range(0, waypoints, 16)
    ]
    return [assign, *items]


def sealed_mission() -> bytes:
    """The mission bundle sealed as the session would: ciphertext and tag."""
    data = ChaCha20Poly1305(KEY).encrypt(NONCE, encode_bundle(mission()), None)
    assert data[-1] != 0  # else the session would seal again with the next counter
    return data


def over_the_air(message: Any) -> Any:
    """Encode as MAVLink 2 would (trailing zeros stripped) and decode again (zero-padded)."""
    return decode_payload(message.get_msgId(), encode_payload(message))


def fragment(index: int, count: int, data: list[int] | None = None, **fields: int) -> Any:
    header = {"counter": 5, "src": UAV, "dst": GCS, "meta": META, "next_hop": 0} | fields
    counter = list(header["counter"].to_bytes(3, "little"))
    payload = data if data is not None else [1] * DATA_LEN
    return event.MAVLink_event_fragment_message(
        counter,
        header["src"],
        header["dst"],
        header["meta"],
        header["next_hop"],
        index,
        count,
        payload,
    )


def test_split_sizes() -> None:
    data = sealed_mission()
    assert 800 <= len(data) <= 850
    fragments = split(70_000, UAV, GCS, META, data)
    assert [f.count for f in fragments] == [4] * 4
    assert [f.index for f in fragments] == [0, 1, 2, 3]
    assert len(encode_payload(fragments[0])) == 255  # a full frame
    assert len(encode_payload(fragments[3])) == 9 + len(data) - 3 * DATA_LEN
    assert bytes(fragments[0].counter) == (70_000).to_bytes(3, "little")


@pytest.mark.parametrize(
    ("size", "message"),
    [(DATA_LEN, "fragments"), (255 * DATA_LEN + 1, "fragments"), (0, "non-zero")],
)
def test_split_refuses_what_cannot_be_fragmented(size: int, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        split(1, UAV, GCS, META, b"\x01" * size)


def test_split_refuses_a_zero_last_byte_and_a_wide_counter() -> None:
    with pytest.raises(LocalProtocolError, match="non-zero"):
        split(1, UAV, GCS, META, b"\x01" * 300 + b"\x00")
    with pytest.raises(LocalProtocolError, match="24 bits"):
        split(1 << 24, UAV, GCS, META, b"\x01" * 300)


@pytest.mark.parametrize("seed", range(8))
def test_mission_round_trip_in_any_order_with_duplicates(seed: int) -> None:
    rng = random.Random(seed)
    data = sealed_mission()
    fragments = [over_the_air(f) for f in split(42, UAV, GCS, META, data)]
    arrivals = fragments + rng.choices(fragments, k=rng.randint(1, 6))
    rng.shuffle(arrivals)
    reassembler = Reassembler()
    done = [r for f in arrivals if (r := reassembler.accept(f, 1.0)) is not None]
    assert done == [Reassembled(src=UAV, dst=GCS, meta=META, counter=42, data=data)]
    plaintext = ChaCha20Poly1305(KEY).decrypt(NONCE, done[0].data, None)
    assert [m.get_type() for m in decode_bundle(plaintext)] == [m.get_type() for m in mission()]
    late = reassembler.counters["fragment_after_completion"]
    assert reassembler.counters["fragment_duplicate"] + late == len(arrivals) - 4
    assert (reassembler.buffered, reassembler.bundles()) == (0, 0)


def test_last_fragment_length_comes_from_its_non_zero_last_byte() -> None:
    data = bytes(range(1, 248)) + b"\x00\x00\x07"  # zeros inside are kept
    reassembler = Reassembler()
    results = [reassembler.accept(over_the_air(f), 0.0) for f in split(1, UAV, GCS, META, data)]
    assert results[-1] is not None
    assert results[-1].data == data


@pytest.mark.parametrize(
    ("bad", "counter"),
    [
        (fragment(2, 2), "fragment_index_out_of_range"),
        (fragment(0, 1), "fragment_count_too_small"),
        (fragment(0, 0), "fragment_count_too_small"),
        (fragment(0, 2, [1] * 200), "fragment_bad_length"),
        (fragment(1, 2, [0] * DATA_LEN), "fragment_bad_length"),  # an empty last fragment
    ],
)
def test_malformed_fragments_are_counted_and_dropped(bad: Any, counter: str) -> None:
    reassembler = Reassembler()
    assert reassembler.accept(bad, 0.0) is None
    assert reassembler.counters == {counter: 1}
    assert reassembler.bundles() == 0


def test_changes_within_a_bundle_are_refused() -> None:
    reassembler = Reassembler()
    reassembler.accept(fragment(0, 3), 0.0)
    assert reassembler.accept(fragment(1, 4), 0.0) is None
    assert reassembler.accept(fragment(1, 3, dst=9), 0.0) is None
    assert reassembler.accept(fragment(1, 3, meta=META ^ 0x01), 0.0) is None
    assert reassembler.accept(fragment(0, 3), 0.0) is None
    assert reassembler.accept(fragment(1, 3, meta=META & 0x0F), 0.0) is None  # hops differ: fine
    assert reassembler.accept(fragment(2, 3), 0.0) is not None
    assert reassembler.counters["fragment_count_changed"] == 1
    assert reassembler.counters["fragment_header_changed"] == 2
    assert reassembler.counters["fragment_duplicate"] == 1
    assert reassembler.counters["bundle_completed"] == 1


def test_incomplete_bundles_expire_after_the_idle_timeout() -> None:
    reassembler = Reassembler(timeout=30.0)
    reassembler.accept(fragment(0, 3), 10.0)
    reassembler.accept(fragment(1, 3), 20.0)  # progress pushes the deadline
    assert reassembler.next_deadline() == 50.0
    reassembler.on_timer(49.9)
    assert reassembler.bundles() == 1
    reassembler.on_timer(50.0)
    assert (reassembler.bundles(), reassembler.buffered) == (0, 0)
    assert reassembler.counters["bundle_expired"] == 1
    assert reassembler.next_deadline() is None


def test_late_copies_after_completion_are_refused_for_a_while() -> None:
    reassembler = Reassembler(timeout=30.0)
    reassembler.accept(fragment(0, 2), 0.0)
    assert reassembler.accept(fragment(1, 2), 1.0) is not None
    assert reassembler.accept(fragment(0, 2), 2.0) is None
    assert reassembler.bundles() == 0
    reassembler.on_timer(31.0)
    reassembler.accept(fragment(0, 2), 32.0)  # the counter may be in use again
    assert reassembler.bundles() == 1
    assert reassembler.counters["fragment_after_completion"] == 1


def test_per_source_limit_evicts_that_source_oldest_bundle() -> None:
    reassembler = Reassembler(max_per_source=2)
    for counter in (1, 2, 3):
        reassembler.accept(fragment(0, 2, counter=counter), 0.0)
    reassembler.accept(fragment(0, 2, counter=1, src=8), 0.0)
    assert (reassembler.bundles(UAV), reassembler.bundles(8)) == (2, 1)
    assert reassembler.counters["bundle_evicted_source_limit"] == 1
    assert reassembler.accept(fragment(1, 2, counter=3), 0.0) is not None  # 1 was evicted
    assert reassembler.accept(fragment(1, 2, counter=1), 0.0) is None


def test_memory_limit_evicts_the_oldest_and_refuses_the_impossible() -> None:
    reassembler = Reassembler(max_bytes=3 * DATA_LEN, max_per_source=10)
    for counter in (1, 2, 3):
        reassembler.accept(fragment(0, 3, counter=counter), 0.0)
    assert reassembler.buffered == 3 * DATA_LEN
    reassembler.accept(fragment(1, 3, counter=3), 0.0)
    assert reassembler.counters["bundle_evicted_memory"] == 1
    assert reassembler.bundles() == 2
    assert reassembler.accept(fragment(0, 4, counter=9), 0.0) is None
    assert reassembler.counters["bundle_too_large"] == 1


fragments = st.builds(
    fragment,
    index=st.integers(0, 6) | st.integers(0, 255),
    count=st.integers(0, 6) | st.integers(0, 255),
    data=st.none()
    | st.lists(st.sampled_from([0, 1, 255]), min_size=DATA_LEN, max_size=DATA_LEN)
    | st.lists(st.integers(0, 255), max_size=300),
    counter=st.integers(0, 3) | st.integers(0, (1 << 24) - 1),
    src=st.integers(1, 4),
    dst=st.sampled_from([GCS, 0]),
    meta=st.sampled_from([META, 0x00, 0x0F]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(fragments, st.floats(0.0, 20.0)), max_size=60))
def test_arbitrary_fragments_never_raise_nor_exceed_the_bounds(
    arrivals: list[tuple[Any, float]],
) -> None:
    reassembler = Reassembler(max_bytes=4 * DATA_LEN, max_per_source=2, timeout=30.0)
    now = 0.0
    for message, step in arrivals:
        now += step
        reassembler.on_timer(now)
        result = reassembler.accept(message, now)
        assert result is None or len(result.data) > DATA_LEN
        assert 0 <= reassembler.buffered <= reassembler.max_bytes
        assert all(reassembler.bundles(src) <= 2 for src in range(1, 5))
