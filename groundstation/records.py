"""Records: the cloud's view of one message, as the uplink sends it and the cloud stores it.

Rules:
- A Record has the seed's fields (msg_id, msg_type, payload, source, destination,
  priority, timestamp); its JSON form is exactly those seven keys. Reading JSON ignores
  other keys (the seed's clients also send `ttl` and `requires_ack`), so newer clients
  keep working with older services; it takes a priority of `1.0` as 1 (JSON Schema's
  integer).
- Every Record is valid once built: the constructor checks each field and raises
  RecordError naming the field. Reading untrusted JSON raises RecordError and nothing
  else.
- On the wire a record is its compact UTF-8 JSON (`encode_record`): an uplink outbox
  row, an MQTT message, an element of the HTTP batch body `{"messages": [...]}`. Both
  ends of the batch are here: `encode_batch` frames encoded records, `decode_batch`
  reads a body all or nothing, naming every invalid record (InvalidRecords).
- msg_id is stable: derived from the message's content, never random, so a duplicate
  that came twice over the radio maps to the same id and the cloud stores it once.
    * EVENT_DETECTION: f"{src}-detection-{time}-{track_id}" (time in ms): a UAV that
      restarts resends its stored detections under new seqs, and they keep their id;
    * other messages with a reliability `seq` (commands, bulk header):
      f"{src}-{seq}", since seq numbers a sender's messages towards one destination;
      a gateway other than the default 255 adds f"-gw{gateway}" (another seq space);
    * EVENT_ACK: f"{src}-ack-{seq}-{outcome}" (a later outcome is a new record);
    * telemetry, status, heartbeat (no seq): f"{src}-{type}-{time}-{digest}", where
      digest is 8 hex digits of SHA-256 over the message's fields: two samples in the
      same second are different records, two copies of one sample are the same;
    * mission items, bulk data: by what they carry (mission or transfer and position).
- Payload: the message's fields in the dialect's units (dialects/event.xml), arrays as
  lists, char arrays as str, plus `lat_deg`/`lon_deg` where lat/lon exist, enum names
  where they help a reader (`outcome_name`; a telemetry's `mode_name`, named for its
  vehicle kind), and `gateway`, the ground station it came through. Key material
  (EVENT_GROUP_KEY) and security control never become records.
- Time (docs/protocol.md, "Time"): `timestamp` is the time the message carries (the
  sender's wall clock: for a detection, when the frame was taken), `gateway_received`
  the ground station's clock when it arrived, and `age` (ms) how long the sender had held
  it, measured on its own steady clock. A detection whose age exceeds its alert time to
  live (`companion.message_age.LATE_AFTER`, 30 s) has `late: true`: a record synced after an
  outage, not a live alert; every other detection has `late: false`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from companion.autopilot.modes import telemetry_mode_name
from companion.message_age import LATE_AFTER, age_of
from companion.node import issued_at
from dialects import event

from .json_numbers import json_integer

PRIORITIES = range(4)
"""EVENT_PRIORITY values: 0 CRITICAL, 1 HIGH, 2 MEDIUM, 3 LOW."""
FIELDS = ("msg_id", "msg_type", "source", "destination", "priority", "timestamp", "payload")
DEFAULT_GATEWAY = 255

_MSG_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}")
_MSG_TYPE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_MAX_NAME = 64

_REFUSED = frozenset({event.MAVLINK_MSG_ID_EVENT_GROUP_KEY, event.MAVLINK_MSG_ID_EVENT_REVOCATION})
"""Security control: a group key is secret, a revocation list is the fleet's own business."""


class RecordError(ValueError):
    """A record, a batch or a message that cannot be one is invalid; the text says why."""


@dataclass(frozen=True, slots=True)
class Record:
    """One message as the cloud sees it. The constructor validates every field."""

    msg_id: str
    msg_type: str
    source: str
    destination: str
    priority: int
    timestamp: float
    payload: dict[str, Any]

    def __post_init__(self) -> None:
        _check_text("msg_id", self.msg_id, _MSG_ID)
        _check_text("msg_type", self.msg_type, _MSG_TYPE)
        for name in ("source", "destination"):
            value = getattr(self, name)
            if not isinstance(value, str) or not 0 < len(value) <= _MAX_NAME:
                raise RecordError(f"{name} must be a string of 1-{_MAX_NAME} characters")
        if type(self.priority) is not int or self.priority not in PRIORITIES:
            raise RecordError(f"priority must be an integer 0-3, got {self.priority!r}")
        if (
            type(self.timestamp) not in (int, float)
            or not math.isfinite(self.timestamp)
            or self.timestamp < 0
        ):
            raise RecordError(f"timestamp must be a finite number >= 0, got {self.timestamp!r}")
        if not isinstance(self.payload, dict) or not all(isinstance(k, str) for k in self.payload):
            raise RecordError("payload must be a JSON object")

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object (the seven fields)."""
        return {name: getattr(self, name) for name in FIELDS}

    @classmethod
    def from_json(cls, obj: Any) -> Record:
        """Read one record from parsed JSON; RecordError if it is not a valid one."""
        if not isinstance(obj, Mapping):
            raise RecordError(f"a record must be a JSON object, got {type(obj).__name__}")
        missing = [name for name in FIELDS if name not in obj]
        if missing:
            raise RecordError(f"record lacks {', '.join(missing)}")
        fields = {name: obj[name] for name in FIELDS}
        priority = json_integer(fields["priority"])
        return cls(**{**fields, "priority": fields["priority"] if priority is None else priority})


def _check_text(name: str, value: object, pattern: re.Pattern[str]) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise RecordError(f"{name} must match {pattern.pattern}, got {value!r}")


def encode_record(record: Record) -> bytes:
    """The record's compact JSON: an outbox row's payload, an MQTT message, a batch
    element; RecordError if it is not plain JSON (NaN, infinity, a value JSON cannot hold)."""
    try:
        return json.dumps(record.to_json(), separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise RecordError(f"record {record.msg_id} is not plain JSON: {exc}") from exc


def decode_record(data: bytes) -> Record:
    """The record `encode_record` made `data` from; RecordError if the bytes are not one."""
    try:
        return Record.from_json(json.loads(data))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RecordError(f"stored record is not JSON: {exc}") from None


class BatchTooLarge(RecordError):
    """A batch body with more records than the reader takes."""


class InvalidRecords(RecordError):
    """A batch body with invalid records; `rejected` names each (the API's `Refused`)."""

    def __init__(self, rejected: list[dict[str, Any]]) -> None:
        first, more = rejected[0], len(rejected) - 1
        also = f" (and {more} more)" if more else ""
        super().__init__(f"messages[{first['index']}]: {first['error']}{also}")
        self.rejected = rejected
        """{"index", "msg_id" (None unless a string), "error"} per invalid record."""


def encode_batch(encoded: Iterable[bytes]) -> bytes:
    """`{"messages": [...]}` around records encoded by `encode_record`, as they are:
    an uplink sends its outbox rows without parsing them again."""
    return b'{"messages":[' + b",".join(encoded) + b"]}"


def decode_batch(data: bytes, *, max_records: int | None = None) -> list[Record]:
    """Read a `{"messages": [...]}` body: RecordError if it is not a batch, BatchTooLarge
    past `max_records` (before any record is read), InvalidRecords naming every bad one."""
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RecordError(f"body is not JSON: {exc}") from None
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        raise RecordError('body must be a JSON object {"messages": [...]}')
    if max_records is not None and len(messages) > max_records:
        raise BatchTooLarge(f"{len(messages)} records exceed {max_records}")
    records, rejected = [], []
    for index, obj in enumerate(messages):
        try:
            records.append(Record.from_json(obj))
        except RecordError as exc:
            msg_id = obj.get("msg_id") if isinstance(obj, dict) else None
            msg_id = msg_id if isinstance(msg_id, str) else None
            rejected.append({"index": index, "msg_id": msg_id, "error": str(exc)})
    if rejected:
        raise InvalidRecords(rejected)
    return records


# -- from dialect messages --------------------------------------------------------------


def _enum_names(enum: str, prefix: str) -> dict[int, str]:
    return {
        value: entry.name.removeprefix(prefix).lower()
        for value, entry in event.enums[enum].items()
        if not entry.name.endswith("_ENUM_END")
    }


OUTCOME_NAMES = _enum_names("EVENT_OUTCOME", "EVENT_OUTCOME_")
"""EVENT_OUTCOME value -> lowercase name ("accepted", "completed", "invalid", ...)."""
MSG_TYPE_NAMES = _enum_names("EVENT_MSG_TYPE", "EVENT_MSG_TYPE_")
"""EVENT_MSG_TYPE value -> lowercase name ("mission_assign", "detection", ...)."""
_BY_ID: dict[int, str] = {
    msgid: cls.msgname.removeprefix("EVENT_").lower()
    for msgid, cls in event.mavlink_map.items()
    if 24100 <= msgid < 24120 and msgid not in _REFUSED
}
"""Inner message id -> record msg_type ("detection", "telemetry", "ack", ...)."""


def msg_type_of(message: Any) -> str:
    """The record msg_type of an inner EVENT message; RecordError for any other."""
    try:
        return _BY_ID[int(message.get_msgId())]
    except (AttributeError, KeyError, TypeError, ValueError):
        name = getattr(message, "msgname", type(message).__name__)
        raise RecordError(f"{name} is not an EVENT inner message the cloud takes") from None


def record_from_message(
    src: int,
    message: Any,
    priority: int,
    *,
    gateway: int = DEFAULT_GATEWAY,
    received: float | None = None,
) -> Record:
    """The Record of inner message `message` that node `src` sent through `gateway`.

    `timestamp` is the time the message carries (detections: ms, converted to seconds),
    else `received` (default: now); the payload's `gateway_received` is `received`, when
    the ground station had it (after the ids are made: resends keep their id). Raises
    RecordError for a message that is not an EVENT inner message, or for key material.
    """
    msg_type = msg_type_of(message)
    payload = _payload(message)
    msg_id = _msg_id(src, msg_type, message, payload, gateway)
    payload["gateway"] = gateway
    arrived = time.time() if received is None else received
    payload["gateway_received"] = round(arrived, 3)
    issued = issued_at(message)
    when = issued if issued is not None else arrived
    return Record(
        msg_id=msg_id,
        msg_type=msg_type,
        source=f"uav-{src}",
        destination="command",
        priority=int(priority),
        timestamp=when,
        payload=payload,
    )


def _payload(message: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for name in message.get_fieldnames():
        value = getattr(message, name)
        if isinstance(value, bytes):
            value = value.decode("ascii", errors="replace").rstrip("\x00")
        payload[name] = list(value) if isinstance(value, list | tuple) else value
    for axis in ("lat", "lon"):
        if isinstance(payload.get(axis), int):
            payload[f"{axis}_deg"] = payload[axis] / 1e7
    if message.get_msgId() == event.MAVLINK_MSG_ID_EVENT_TELEMETRY:
        payload["mode_name"] = telemetry_mode_name(message.vehicle_type, message.custom_mode)
    if message.get_msgId() == event.MAVLINK_MSG_ID_EVENT_DETECTION:
        age = age_of(message)
        payload["late"] = age is not None and age > LATE_AFTER
    if message.get_msgId() == event.MAVLINK_MSG_ID_EVENT_ACK:
        payload["outcome_name"] = OUTCOME_NAMES.get(message.outcome, str(message.outcome))
        payload["acked_type"] = MSG_TYPE_NAMES.get(message.msg_type, str(message.msg_type))
    return payload


def _msg_id(src: int, msg_type: str, message: Any, fields: dict[str, Any], gateway: int) -> str:
    msgid = message.get_msgId()
    if msgid == event.MAVLINK_MSG_ID_EVENT_ACK:
        return f"{src}-ack-{message.seq}-{message.outcome}"
    suffix = "" if gateway == DEFAULT_GATEWAY else f"-gw{gateway}"
    if msgid == event.MAVLINK_MSG_ID_EVENT_DETECTION:
        # A UAV that restarts sends its stored detections again under new seqs: the
        # detection's own time and track make the id, so the cloud still sees it once.
        return f"{src}-{msg_type}-{message.time}-{message.track_id}{suffix}"
    if hasattr(message, "seq"):
        return f"{src}-{message.seq}{suffix}"
    if msgid == event.MAVLINK_MSG_ID_EVENT_MISSION_ITEMS:
        return f"{src}-{msg_type}-{message.mission_id}-{message.start_index}"
    if msgid == event.MAVLINK_MSG_ID_EVENT_BULK_DATA:
        return f"{src}-{msg_type}-{message.transfer_id}-{message.offset}"
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:8]
    return f"{src}-{msg_type}-{message.time}-{digest}"


# -- command outcomes -------------------------------------------------------------------


def command_outcome_record(
    command_id: str,
    uav: int,
    outcome: int,
    *,
    reason: str = "",
    source: str | None = None,
    priority: int = 1,
    timestamp: float | None = None,
) -> Record:
    """An "ack" record telling the cloud what became of command `command_id`.

    `outcome` is an EVENT_OUTCOME value; `source` defaults to f"uav-{uav}" (the vehicle
    answered) and is the gateway's name when the ground station itself decided (for
    example INVALID for a malformed command). One record per (command, outcome).
    """
    name = OUTCOME_NAMES.get(outcome)
    if name is None:
        raise RecordError(f"outcome {outcome!r} is not an EVENT_OUTCOME value")
    return Record(
        msg_id=f"cmd-{command_id}-{name}",
        msg_type="ack",
        source=f"uav-{uav}" if source is None else source,
        destination="command",
        priority=priority,
        timestamp=time.time() if timestamp is None else timestamp,
        payload={
            "command_id": command_id,
            "uav": uav,
            "outcome": outcome,
            "outcome_name": name,
            "reason": reason,
        },
    )
