"""The link layer: round trips, signing, and every way a frame is refused."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from companion.errors import LocalProtocolError
from companion.link import Drop, Link, LinkConfig, SigningClock, UnsignedPolicy, ticks
from companion.link.signing import MAX_AGE, TICKS_PER_SECOND
from companion.link.timestamp_store import TimestampStore
from dialects import event
from tests.samples import all_classes, detection, event_classes, fields, sample_message

from .helpers import KEY, NOW, OTHER_KEY, frame_with_id, pair, recrc, strip_signature


@pytest.mark.parametrize("cls", all_classes(), ids=lambda cls: cls.msgname)
def test_every_dialect_message_round_trips_signed(cls: Any) -> None:
    uav, gs = pair()
    rng = random.Random(cls.msgname)
    for _ in range(3):
        sent = sample_message(cls, rng)
        (got,) = gs.receive_data(uav.send(sent, NOW), NOW)
        assert got.authenticated
        assert got.message.get_type() == cls.msgname
        assert fields(got.message) == fields(sent)
        assert (got.frame.system_id, got.frame.component_id) == (3, 191)
    assert not gs.drops


def test_event_messages_round_trip_as_datagrams() -> None:
    uav, gs = pair()
    rng = random.Random(7)
    sent = [sample_message(cls, rng) for cls in event_classes()]
    datagram = b"".join(uav.send(m, NOW) for m in sent)
    got = gs.receive_datagram(datagram, NOW)
    assert [fields(r.message) for r in got] == [fields(m) for m in sent]


def test_sequence_numbers_wrap() -> None:
    uav, gs = pair()
    seqs = [gs.receive_data(uav.send(detection(i), NOW), NOW)[0].frame.seq for i in range(300)]
    assert seqs[:3] == [0, 1, 2]
    assert seqs[256] == 0


def test_tampered_payload_with_fixed_crc_is_a_bad_signature() -> None:
    uav, gs = pair()
    frame = bytearray(uav.send(detection(), NOW))
    frame[12] ^= 0x40  # a payload byte; the attacker also fixes the CRC
    assert gs.receive_data(recrc(frame), NOW) == []
    assert gs.drops == {Drop.BAD_SIGNATURE: 1}


def test_tampered_signature_and_wrong_key_are_bad_signatures() -> None:
    uav, gs = pair()
    frame = bytearray(uav.send(detection(), NOW))
    frame[-1] ^= 1
    outsider = Link(LinkConfig(system_id=9, key=OTHER_KEY))
    assert gs.receive_data(bytes(frame), NOW) == []
    assert gs.receive_data(outsider.send(detection(), NOW), NOW) == []
    assert gs.receive_idle(NOW) == []  # the line goes quiet: the last failure is settled
    assert gs.drops == {Drop.BAD_SIGNATURE: 2}


def test_tampered_timestamp_is_a_bad_signature() -> None:
    uav, gs = pair()
    frame = bytearray(uav.send(detection(), NOW))
    frame[-8] ^= 1  # inside the 48-bit timestamp
    assert gs.receive_data(bytes(frame), NOW) == []
    assert gs.drops == {Drop.BAD_SIGNATURE: 1}


def test_replayed_frame_is_delivered_once() -> None:
    uav, gs = pair()
    first, second = uav.send(detection(1), NOW), uav.send(detection(2), NOW)
    assert len(gs.receive_data(first + second, NOW)) == 2
    assert gs.receive_data(first, NOW) == []
    assert gs.receive_data(second, NOW) == []
    assert gs.drops == {Drop.REPLAY: 2}


def test_out_of_order_frames_of_one_stream_are_replays() -> None:
    uav, gs = pair()
    older, newer = uav.send(detection(1), NOW), uav.send(detection(2), NOW)
    assert len(gs.receive_data(newer, NOW)) == 1
    assert gs.receive_data(older, NOW) == []
    assert gs.drops == {Drop.REPLAY: 1}


def test_frame_older_than_a_minute_is_stale() -> None:
    uav, gs = pair()
    old = uav.send(detection(), NOW)
    later = NOW + MAX_AGE / TICKS_PER_SECOND + 1
    assert gs.receive_data(old, later) == []
    assert gs.drops == {Drop.STALE: 1}


def test_frame_just_under_a_minute_old_is_accepted() -> None:
    uav, gs = pair()
    old = uav.send(detection(), NOW)
    assert len(gs.receive_data(old, NOW + 59)) == 1


def test_streams_are_per_sender() -> None:
    key = KEY
    a, b = Link(LinkConfig(system_id=3, key=key)), Link(LinkConfig(system_id=4, key=key))
    gs = Link(LinkConfig(system_id=255, key=key))
    late_a = a.send(detection(), NOW + 5)
    early_b = b.send(detection(), NOW)
    assert len(gs.receive_data(late_a + early_b, NOW)) == 2


def test_unsigned_frames_are_refused_by_default() -> None:
    uav, gs = pair()
    assert gs.receive_data(strip_signature(uav.send(detection(), NOW)), NOW) == []
    assert gs.drops == {Drop.UNSIGNED: 1}


def test_unsigned_policy_admits_listed_ids_unauthenticated() -> None:
    uav, _ = pair()
    radio_status = event.MAVLINK_MSG_ID_RADIO_STATUS
    gs = Link(
        LinkConfig(system_id=255, key=KEY, unsigned=UnsignedPolicy(frozenset({radio_status})))
    )
    status = event.MAVLink_radio_status_message(200, 190, 90, 60, 55, 0, 0)
    (got,) = gs.receive_data(strip_signature(uav.send(status, NOW)), NOW)
    assert not got.authenticated
    assert gs.receive_data(strip_signature(uav.send(detection(), NOW)), NOW) == []
    assert gs.drops == {Drop.UNSIGNED: 1}


def test_never_signs_on_behalf_of_unsigned_traffic() -> None:
    autopilot = Link(LinkConfig(system_id=1, component_id=1))  # unsigned serial wire
    companion_fc_side = Link(LinkConfig(system_id=3))
    radio = Link(LinkConfig(system_id=3, key=KEY))
    (got,) = companion_fc_side.receive_data(autopilot.send(detection(), NOW), NOW)
    assert not got.authenticated
    with pytest.raises(LocalProtocolError, match="arrived unauthenticated"):
        radio.send(got.message, NOW)
    relayed = radio.relay(got)
    assert relayed == got.frame.data
    assert not relayed[2] & 0x01  # still unsigned: passed on, never signed for it


def test_authenticated_messages_may_be_resent() -> None:
    uav, gs = pair()
    (got,) = gs.receive_data(uav.send(detection(), NOW), NOW)
    assert gs.send(got.message, NOW)


def test_unknown_message_and_other_dialects() -> None:
    _, gs = pair()
    unknown = frame_with_id(0xFFF000, b"\x01\x02\x03", crc_extra=0)
    other_dialect = frame_with_id(event.MAVLINK_MSG_ID_EVENT_DETECTION, b"\x07" * 36, crc_extra=1)
    assert gs.receive_data(unknown + other_dialect, NOW) == []
    assert gs.drops == {Drop.UNKNOWN_MESSAGE: 1, Drop.BAD_CRC: 1}


def test_unsupported_incompat_flags_are_dropped() -> None:
    _, gs = pair(key=None)
    flagged = frame_with_id(event.MAVLINK_MSG_ID_HEARTBEAT, b"\x01" * 9, crc_extra=50, flags=0x02)
    assert gs.receive_data(flagged, NOW) == []
    assert gs.drops == {Drop.UNSUPPORTED_FLAGS: 1}


def test_truncated_frame_in_a_stream_does_not_hide_the_next() -> None:
    uav, gs = pair()
    cut = uav.send(detection(1), NOW)[:30]
    whole = uav.send(detection(2), NOW)
    got = gs.receive_data(cut + whole, NOW)
    assert [r.message.seq for r in got] == [2]
    assert gs.drops == {Drop.TRUNCATED: 1}


def test_truncated_datagram() -> None:
    uav, gs = pair()
    whole = uav.send(detection(1), NOW)
    got = gs.receive_datagram(whole + uav.send(detection(2), NOW)[:-5], NOW)
    assert [r.message.seq for r in got] == [1]
    assert gs.drops == {Drop.TRUNCATED: 1}


def test_corrupted_frame_is_a_bad_crc() -> None:
    uav, gs = pair()
    corrupt = bytearray(uav.send(detection(1), NOW))
    corrupt[20] ^= 0x08
    got = gs.receive_data(bytes(corrupt) + uav.send(detection(2), NOW), NOW)
    assert [r.message.seq for r in got] == [2]
    assert gs.drops == {Drop.BAD_CRC: 1}


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 10_000])
def test_stream_fed_in_any_chunks_with_garbage_around(chunk: int) -> None:
    uav, gs = pair()
    frames = [uav.send(detection(i), NOW) for i in range(20)]
    garbage = bytes(range(0xE0, 0xFD))  # no STX inside
    stream = garbage + garbage.join(frames) + garbage
    got = []
    for i in range(0, len(stream), chunk):
        got += gs.receive_data(stream[i : i + chunk], NOW)
    assert [r.message.seq for r in got] == list(range(20))
    assert not gs.drops
    assert gs.skipped_bytes == len(garbage) * 21


def test_keyless_link_sends_unsigned_and_accepts_signed_unverified() -> None:
    plain = Link(LinkConfig(system_id=3))
    frame = plain.send(detection(), NOW)
    assert not frame[2] & 0x01
    uav, _ = pair()
    (got,) = plain.receive_data(uav.send(detection(), NOW), NOW)
    assert not got.authenticated


def test_out_of_range_field_is_a_local_error() -> None:
    uav, _ = pair()
    with pytest.raises(LocalProtocolError, match="cannot encode EVENT_DETECTION"):
        uav.send(detection(seq=2**40), NOW)


def test_config_is_validated() -> None:
    with pytest.raises(LocalProtocolError):
        LinkConfig(system_id=0)
    with pytest.raises(LocalProtocolError):
        LinkConfig(system_id=1, key=b"short")


def test_receiver_adopts_fleet_time_without_a_clock() -> None:
    uav, _ = pair()
    pi_without_rtc = Link(LinkConfig(system_id=7, key=KEY))
    frame = uav.send(detection(), NOW)
    assert len(pi_without_rtc.receive_data(frame, 0.0)) == 1
    assert pi_without_rtc.clock.now(0.0) == ticks(NOW)
    # Its own frames now carry fleet time, so the fleet accepts them as fresh.
    _, gs = pair()
    assert len(gs.receive_data(pi_without_rtc.send(detection(), 0.0), NOW)) == 1


def test_timestamps_never_repeat_across_a_restart(tmp_path: Path) -> None:
    store = TimestampStore(tmp_path / "signing.ts")
    _, gs = pair()

    def boot() -> Link:
        return Link(LinkConfig(system_id=3, key=KEY), SigningClock(restored=store.load(NOW)))

    uav = boot()
    for _ in range(5):
        frame = uav.send(detection(), NOW)
        pending = uav.clock.pending_reservation
        if pending is not None:
            store.save(pending)
            uav.clock.confirm_reservation(pending)
        assert gs.receive_data(frame, NOW)
    # Reboot with the wall clock set back an hour (no RTC, no GPS yet).
    uav = boot()
    assert len(gs.receive_data(uav.send(detection(), NOW - 3600), NOW)) == 1
    assert not gs.drops


def test_reservation_is_asked_for_once_per_window() -> None:
    clock = SigningClock(reserve_ahead=100)
    clock.next(NOW)
    first = clock.pending_reservation
    assert first == ticks(NOW) + 100
    clock.confirm_reservation(first)
    clock.next(NOW)
    assert clock.pending_reservation is None
    clock.next(NOW + 0.01)  # 1000 ticks later: past the reservation
    assert clock.pending_reservation == ticks(NOW + 0.01) + 100


def test_timestamp_store_survives_corruption(tmp_path: Path) -> None:
    store = TimestampStore(tmp_path / "signing.ts")
    assert store.load(NOW) == 0
    store.save(123456789)
    assert store.load(NOW) == 123456789
    store.path.write_bytes(b"\xff garbage")
    assert store.load(NOW) == 0
    assert store.corrupt_loads == 1


def test_quiet_line_releases_a_frame_stuck_behind_a_truncated_one() -> None:
    uav, gs = pair()
    whole = uav.send(detection(1), NOW)
    cut = whole[:20]
    short = uav.send(event.MAVLink_event_heartbeat_message(1, 3, 0), NOW)
    assert len(cut + short) < len(whole)
    assert gs.receive_data(cut + short, NOW) == []  # still waiting for the rest of "cut"
    assert [r.message.get_type() for r in gs.receive_idle(NOW)] == ["EVENT_HEARTBEAT"]
    assert gs.drops == {Drop.TRUNCATED: 1}
