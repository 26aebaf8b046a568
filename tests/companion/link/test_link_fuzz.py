"""Hostile input: the link parses it or drops it, never raises, never delivers a forgery."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from companion.link import Link, LinkConfig, RawFrame
from companion.link.payload import decode_frame
from dialects import event
from tests.samples import detection

from .helpers import KEY, NOW, pair

_SENDER = pair()[0]
FRAMES = [_SENDER.send(detection(i), NOW) for i in range(8)]
NO_STX = st.binary(max_size=64).map(lambda b: b.replace(b"\xfd", b""))


def feed_in_chunks(link: Link, data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    out = []
    for start, end in itertools.pairwise(points):
        out += [r.frame.data for r in link.receive_data(data[start:end], NOW)]
    return out


@given(st.binary(max_size=2048), st.lists(st.integers(min_value=0), max_size=20))
def test_random_bytes_never_raise_nor_deliver(data: bytes, cuts: list[int]) -> None:
    link = Link(LinkConfig(system_id=255, key=KEY))
    assert feed_in_chunks(link, data, cuts) == []
    assert link.receive_datagram(data, NOW) == []


@given(st.binary(max_size=2048))
def test_random_bytes_on_an_unsigned_wire_never_raise(data: bytes) -> None:
    link = Link(LinkConfig(system_id=255))
    for received in link.receive_data(data, NOW) + link.receive_datagram(data, NOW):
        assert not received.authenticated


@given(
    st.lists(NO_STX, min_size=len(FRAMES) + 1, max_size=len(FRAMES) + 1),
    st.lists(st.integers(min_value=0)),
)
def test_frames_survive_garbage_between_them(garbage: list[bytes], cuts: list[int]) -> None:
    stream = garbage[0] + b"".join(f + g for f, g in zip(FRAMES, garbage[1:], strict=True))
    assert feed_in_chunks(Link(LinkConfig(system_id=255, key=KEY)), stream, cuts) == FRAMES


@given(st.lists(st.binary(max_size=40), min_size=len(FRAMES) + 1, max_size=len(FRAMES) + 1))
def test_any_garbage_only_ever_costs_frames_never_invents_them(garbage: list[bytes]) -> None:
    stream = garbage[0] + b"".join(f + g for f, g in zip(FRAMES, garbage[1:], strict=True))
    delivered = Link(LinkConfig(system_id=255, key=KEY)).receive_data(stream, NOW)
    got = [r.frame.data for r in delivered]
    assert got == [f for f in FRAMES if f in got]


@given(st.data())
def test_any_modification_of_a_signed_frame_is_rejected(data: st.DataObject) -> None:
    frame = bytearray(FRAMES[0])
    position = data.draw(st.integers(min_value=0, max_value=len(frame) - 1))
    frame[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    link = Link(LinkConfig(system_id=255, key=KEY))
    assert link.receive_data(bytes(frame), NOW) == []
    assert link.receive_datagram(bytes(frame), NOW) == []


@given(st.integers(min_value=0, max_value=len(FRAMES[0]) - 1))
def test_any_truncation_is_rejected(length: int) -> None:
    link = Link(LinkConfig(system_id=255, key=KEY))
    assert link.receive_datagram(FRAMES[0][:length], NOW) == []


def _mutate(frames: list[bytes], rng: random.Random) -> tuple[bytes, set[int]]:
    """Damage a stream of frames; return it and the indexes of frames left intact."""
    pieces, intact = [], set()
    for i, frame in enumerate(frames):
        roll = rng.random()
        if roll < 0.15:
            damaged = bytearray(frame)
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
            pieces.append(bytes(damaged))
        elif roll < 0.25:
            pieces.append(frame[: rng.randrange(len(frame))])
        elif roll < 0.30:
            continue
        else:
            pieces.append(frame)
            intact.add(i)
        if rng.random() < 0.1:
            pieces.append(rng.randbytes(rng.randrange(1, 30)))
        if rng.random() < 0.05 and pieces:
            pieces.append(rng.choice(pieces))  # an earlier piece again: a replay
    return b"".join(pieces), intact


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fuzz_damaged_streams(seed: int) -> None:
    rng = random.Random(seed)
    sender = Link(LinkConfig(system_id=3, key=KEY))
    frames = [sender.send(detection(i), NOW) for i in range(60)]
    stream, intact = _mutate(frames, rng)
    receiver = Link(LinkConfig(system_id=255, key=KEY))
    cuts = [rng.randrange(len(stream) + 1) for _ in range(rng.randrange(1, 40))]
    got = feed_in_chunks(receiver, stream, cuts)
    got += [r.frame.data for r in receiver.receive_idle(NOW)]
    delivered = [frames.index(g) for g in got]
    assert delivered == sorted(set(delivered)), "each authentic frame once, in order"
    assert intact <= set(delivered), "an undamaged frame was lost"


MESSAGE_IDS = sorted(event.mavlink_map)


@given(st.sampled_from(MESSAGE_IDS), st.binary(max_size=255))
def test_any_payload_of_any_known_message_decodes(message_id: int, payload: bytes) -> None:
    header = bytes((0xFD, len(payload), 0, 0, 0, 1, 1)) + message_id.to_bytes(3, "little")
    message = decode_frame(RawFrame(header + payload + b"\x00\x00"))
    assert message.get_msgId() == message_id
