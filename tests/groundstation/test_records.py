"""Records: validation, JSON round trip, batches, and dialect messages to records."""

from __future__ import annotations

import contextlib
import json
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialects import event
from groundstation.records import (
    FIELDS,
    InvalidRecords,
    Record,
    RecordError,
    command_outcome_record,
    decode_batch,
    decode_record,
    encode_batch,
    encode_record,
    msg_type_of,
    record_from_message,
)
from tests.samples import detection, event_classes, sample_message

REFUSED = {event.MAVLINK_MSG_ID_EVENT_GROUP_KEY, event.MAVLINK_MSG_ID_EVENT_REVOCATION}
INNER = [cls for cls in event_classes() if cls.id < 24120 and cls.id not in REFUSED]


def record(**changes: Any) -> Record:
    fields: dict[str, Any] = {
        "msg_id": "3-17",
        "msg_type": "detection",
        "source": "uav-3",
        "destination": "command",
        "priority": 1,
        "timestamp": 1_750_000_000.5,
        "payload": {"lat_deg": -35.36, "bbox": [1, 2, 3, 4]},
    }
    return Record(**{**fields, **changes})


def telemetry(time: int, lat: int) -> Any:
    return event.MAVLink_event_telemetry_message(
        time, lat, 1491652374, 584, 1000, 9000, 1600, 3, 4, 80, 3, 12
    )


def test_json_round_trip_is_exact() -> None:
    original = record()
    obj = json.loads(json.dumps(original.to_json()))
    assert set(obj) == set(FIELDS)
    assert Record.from_json(obj) == original


def test_reading_ignores_unknown_keys_like_the_seeds_ttl() -> None:
    obj = {**record().to_json(), "ttl": 30, "requires_ack": True}
    assert Record.from_json(obj) == record()


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"msg_id": ""}, "msg_id"),
        ({"msg_id": "has space"}, "msg_id"),
        ({"msg_id": "x" * 129}, "msg_id"),
        ({"msg_type": "Detection"}, "msg_type"),
        ({"source": ""}, "source"),
        ({"destination": 7}, "destination"),
        ({"priority": 4}, "priority"),
        ({"priority": True}, "priority"),
        ({"priority": 1.0}, "priority"),
        ({"timestamp": float("nan")}, "timestamp"),
        ({"timestamp": -1}, "timestamp"),
        ({"timestamp": "now"}, "timestamp"),
        ({"payload": [1, 2]}, "payload"),
        ({"payload": {1: 2}}, "payload"),
    ],
)
def test_invalid_fields_are_refused_by_name(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(RecordError, match=named):
        record(**changes)


def test_missing_fields_are_listed() -> None:
    obj = record().to_json()
    del obj["priority"], obj["payload"]
    with pytest.raises(RecordError, match="priority, payload"):
        Record.from_json(obj)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.sampled_from([*FIELDS, "x"]), inner, max_size=8)
        ),
        max_leaves=20,
    )
)
def test_garbage_raises_record_error_only(obj: Any) -> None:
    with contextlib.suppress(RecordError):
        Record.from_json(obj)


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_garbage_batches_raise_record_error_only(data: bytes) -> None:
    with contextlib.suppress(RecordError):
        decode_batch(data)


def test_json_nested_past_the_recursion_limit_is_a_record_error() -> None:
    with pytest.raises(RecordError, match="not JSON"):
        decode_batch(b"[" * 5000)
    with pytest.raises(RecordError, match="not JSON"):
        decode_record(b'{"payload":' * 5000)


def test_batch_round_trip_and_errors_name_the_record() -> None:
    records = [record(msg_id=f"3-{i}") for i in range(5)]
    data = encode_batch(encode_record(r) for r in records)
    whole = {"messages": [r.to_json() for r in records]}
    assert data == json.dumps(whole, separators=(",", ":")).encode()  # framing = one dumps
    assert decode_batch(data) == records
    body = json.loads(data)
    body["messages"][3]["priority"] = 9
    with pytest.raises(RecordError, match=r"messages\[3\]"):
        decode_batch(json.dumps(body).encode())
    with pytest.raises(RecordError, match="messages"):
        decode_batch(b'{"records": []}')


def test_a_batch_names_every_invalid_record_and_refuses_too_many() -> None:
    body = {"messages": [record().to_json(), {"msg_id": "x"}, 5, {"msg_id": 7}]}
    with pytest.raises(InvalidRecords, match=r"messages\[1\]: .*\(and 2 more\)") as caught:
        decode_batch(json.dumps(body).encode())
    assert [(r["index"], r["msg_id"]) for r in caught.value.rejected] == [
        (1, "x"),
        (2, None),
        (3, None),
    ]
    with pytest.raises(RecordError, match="4 records exceed 3"):
        decode_batch(json.dumps(body).encode(), max_records=3)


def test_a_payload_that_is_not_json_cannot_be_encoded() -> None:
    with pytest.raises(RecordError, match="plain JSON"):
        encode_record(record(payload={"x": float("inf")}))
    with pytest.raises(RecordError, match="not JSON"):
        decode_record(b"{not json")


def test_detection_becomes_a_record_in_dialect_units() -> None:
    message = detection(seq=41)
    message.time = 1_750_000_000_250  # ms
    made = record_from_message(7, message, 1)
    assert made.msg_id == f"7-detection-{message.time}-{message.track_id}"
    assert (made.msg_type, made.source, made.destination) == ("detection", "uav-7", "command")
    assert made.timestamp == 1_750_000_000.25
    assert made.payload["lat"] == -353632621
    assert made.payload["lat_deg"] == pytest.approx(-35.3632621)
    assert made.payload["bbox"] == [120, 88, 64, 40]
    assert made.payload["gateway"] == 255
    assert Record.from_json(json.loads(json.dumps(made.to_json()))) == made


@pytest.mark.parametrize(("age_ms", "late"), [(0, False), (30_000, False), (30_001, True)])
def test_a_detection_older_than_its_alert_ttl_is_flagged_late(age_ms: int, late: bool) -> None:
    message = detection(seq=41)
    message.time = 1_750_000_000_250
    message.age = age_ms
    made = record_from_message(7, message, 3, received=1_750_000_900.0)
    assert made.payload["late"] is late
    assert (made.payload["age"], made.payload["gateway_received"]) == (age_ms, 1_750_000_900.0)
    assert made.timestamp == 1_750_000_000.25, "the original detection time"


def test_telemetry_names_its_mode_for_its_vehicle_kind() -> None:
    plane = telemetry(100, 1)
    plane.custom_mode, plane.vehicle_type = 11, event.MAV_TYPE_FIXED_WING
    made = record_from_message(7, plane, 2).payload
    assert (made["custom_mode"], made["vehicle_type"], made["mode_name"]) == (11, 1, "RTL")
    unsaid = telemetry(100, 1)  # vehicle_type 0: a sender that did not say gets Copter's
    assert record_from_message(7, unsaid, 2).payload["mode_name"] == "GUIDED"


def test_a_duplicate_from_the_radio_has_the_same_id() -> None:
    first = record_from_message(7, detection(seq=5), 1, received=1.0)
    again = record_from_message(7, detection(seq=5), 1, received=2.0)
    assert first.msg_id == again.msg_id
    assert record_from_message(7, telemetry(100, 1), 2).msg_id == (
        record_from_message(7, telemetry(100, 1), 2).msg_id
    )


def test_two_samples_in_one_second_are_two_records() -> None:
    one = record_from_message(7, telemetry(100, 1), 2)
    two = record_from_message(7, telemetry(100, 2), 2)
    assert one.msg_id.startswith("7-telemetry-100-")
    assert one.msg_id != two.msg_id


def test_another_gateway_numbers_its_own_seq_space() -> None:
    message = detection(seq=5)
    expected = f"7-detection-{message.time}-{message.track_id}-gw254"
    assert record_from_message(7, message, 1, gateway=254).msg_id == expected
    abort = event.MAVLink_event_mission_abort_message(5, 1, 0, 0)
    assert record_from_message(7, abort, 0, gateway=254).msg_id == "7-5-gw254"


def test_a_detection_sent_again_under_a_new_seq_keeps_its_id() -> None:
    """After a restart a UAV's outbox sends its detections again, numbered anew."""
    first, again = detection(seq=5), detection(seq=5)
    again.seq = 90210
    assert record_from_message(7, first, 1).msg_id == record_from_message(7, again, 1).msg_id


def test_ack_names_seq_and_outcome() -> None:
    ack = event.MAVLink_event_ack_message(
        9, event.EVENT_MSG_TYPE_MISSION_ABORT, event.EVENT_OUTCOME_COMPLETED, b"RTL"
    )
    made = record_from_message(4, ack, 0, received=5.0)
    assert made.msg_id == f"4-ack-9-{event.EVENT_OUTCOME_COMPLETED}"
    assert made.timestamp == 5.0
    assert made.payload["reason"] == "RTL"
    assert made.payload["outcome_name"] == "completed"
    assert made.payload["acked_type"] == "mission_abort"


@pytest.mark.parametrize("cls", INNER, ids=lambda cls: cls.msgname)
def test_every_inner_message_becomes_a_valid_record(cls: Any) -> None:
    message = sample_message(cls, random.Random(cls.id))
    made = record_from_message(12, message, 2, received=1_750_000_000.0)
    assert made.msg_type == cls.msgname.removeprefix("EVENT_").lower()
    assert set(message.get_fieldnames()) <= set(made.payload)
    assert decode_record(encode_record(made)) == made


@pytest.mark.parametrize("msgid", sorted(REFUSED))
def test_key_material_never_becomes_a_record(msgid: int) -> None:
    message = sample_message(event.mavlink_map[msgid], random.Random(1))
    with pytest.raises(RecordError, match="not an EVENT inner message"):
        record_from_message(3, message, 1)


def test_other_dialect_messages_are_refused() -> None:
    heartbeat = event.MAVLink_heartbeat_message(2, 3, 81, 4, 4, 3)
    with pytest.raises(RecordError):
        msg_type_of(heartbeat)
    with pytest.raises(RecordError):
        msg_type_of(object())


def test_command_outcome_record_is_one_per_command_and_outcome() -> None:
    accepted = command_outcome_record("c-1", 3, event.EVENT_OUTCOME_ACCEPTED, timestamp=9.0)
    done = command_outcome_record("c-1", 3, event.EVENT_OUTCOME_COMPLETED, reason="landed")
    assert accepted.msg_id == "cmd-c-1-accepted"
    assert done.msg_id == "cmd-c-1-completed"
    assert done.payload["command_id"] == "c-1"
    assert done.payload["reason"] == "landed"
    assert (accepted.source, accepted.msg_type) == ("uav-3", "ack")
    with pytest.raises(RecordError, match="EVENT_OUTCOME"):
        command_outcome_record("c-1", 3, 99)
