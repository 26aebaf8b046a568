"""Hostile input to the detector intake: each line is a detection or a refusal with a named
reason, never an exception; the log stays bounded however much is refused (issue 17)."""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.agent import intake as intake_module
from companion.agent.detection import (
    MAX_DEPTH,
    MAX_LINE,
    REASONS,
    DetectionReport,
    IntakeError,
    parse_report,
)
from companion.agent.intake import LOG_INTERVAL, MAX_DATAGRAM, Intake, Refused
from companion.reliability.priority import Priority

GOOD = {"class_id": 3, "confidence": 0.91, "bbox": [120, 88, 64, 40], "track_id": 12}
GOOD_LINE = json.dumps(GOOD).encode()


def with_field(name: str, literal: str) -> bytes:
    """A good line whose `name` is the JSON text `literal`, written as is."""
    return GOOD_LINE[:-1] + f', "{name}": {literal}}}'.encode()


def nested(depth: int) -> bytes:
    return with_field("meta", "[" * depth + "]" * depth)


HOSTILE = {
    "deep_brackets": (b"[" * 60000, "too_deep"),
    "deep_objects": (b'{"a":' * 12000, "too_deep"),
    "class_id_of_5000_digits": (with_field("class_id", "1" * 5000), "number_too_long"),
    "metadata_of_5000_digits": (with_field("meta", "9" * 5000), "number_too_long"),
    "time_1e20": (with_field("time", "1e20"), "out_of_range"),
    "time_1e300": (with_field("time", "1e300"), "out_of_range"),
    "time_infinity": (with_field("time", "Infinity"), "not_finite"),
    "time_minus_infinity": (with_field("time", "-Infinity"), "not_finite"),
    "time_nan": (with_field("time", "NaN"), "not_finite"),
    "time_1e999": (with_field("time", "1e999"), "not_finite"),
    "confidence_nan": (with_field("confidence", "NaN"), "not_finite"),
    "bbox_huge": (with_field("bbox", "[1, 2, 3, 99999999999999999999]"), "out_of_range"),
    "track_id_negative": (with_field("track_id", "-1"), "out_of_range"),
    "class_id_float": (with_field("class_id", "3.0"), "wrong_type"),
    "not_utf8": (b'{"class_id": "\xff"}', "not_utf8"),
    "utf16": ('{"class_id": 3}'.encode("utf-16"), "not_utf8"),
    "oversize": (with_field("meta", '"' + "x" * MAX_LINE + '"'), "oversize"),
    "one_level_too_deep": (nested(MAX_DEPTH), "too_deep"),
    "array": (b"[1, 2]", "not_object"),
    "garbage": (b"\x00\x01{", "not_json"),
    "missing_bbox": (json.dumps({**GOOD, "bbox": None}).encode(), "wrong_type"),
    "missing_class_id": (b'{"confidence": 0.5, "bbox": [1, 2, 3, 4]}', "missing_field"),
    "chip_not_base64": (with_field("chip", '"***"'), "bad_chip"),
    "chip_empty": (with_field("chip", '""'), "out_of_range"),
    "priority_unknown": (with_field("priority", '"urgent"'), "out_of_range"),
}


@pytest.mark.parametrize(("data", "reason"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_lines_are_refused_with_their_reason(data: bytes, reason: str) -> None:
    with pytest.raises(IntakeError) as refused:
        parse_report(data)
    assert refused.value.reason == reason


@pytest.mark.parametrize(("data", "reason"), HOSTILE.values(), ids=HOSTILE.keys())
def test_the_intake_counts_each_by_its_reason(data: bytes, reason: str) -> None:
    intake = Intake()
    assert reasons(intake, data) == [reason]
    assert intake.counters == {"refused": 1}
    assert intake.refused_by == {reason: 1}


def reasons(intake: Intake, data: bytes) -> list[str]:
    return [c.reason if isinstance(c, Refused) else "accepted" for c in intake.lines(data, 0.0)]


def test_brackets_and_digits_inside_strings_are_text() -> None:
    report = parse_report(with_field("meta", json.dumps("[" * 500 + "7" * 500 + '\\"{')))
    assert report.class_id == 3
    assert parse_report(nested(MAX_DEPTH - 1)).track_id == 12, "room for metadata"


def test_an_unterminated_string_of_escapes_is_scanned_in_linear_time() -> None:
    started = time.perf_counter()
    for tail in (b"", b"\\"):
        with pytest.raises(IntakeError) as refused:
            parse_report(b'"' + b'\\"' * 60000 + tail)
        assert refused.value.reason == "not_json"
    assert time.perf_counter() - started < 5.0, "quadratic backtracking would take minutes"


def test_whole_datagrams_refused_oversize_and_empty() -> None:
    intake = Intake()
    assert reasons(intake, b" " * (MAX_DATAGRAM + 1)) == ["oversize"]
    assert reasons(intake, b"") == ["empty"]
    assert reasons(intake, b" \n\t\n") == ["empty"]
    assert intake.refused_by == {"oversize": 1, "empty": 2}


def good(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "class_id": 3,
        "confidence": 0.5,
        "bbox": (1, 2, 3, 4),
        "track_id": 0,
        "priority": Priority.HIGH,
        "chip": None,
        "time": None,
    }
    return {**values, **changes}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"time": math.inf}, "not_finite"),
        ({"time": math.nan}, "not_finite"),
        ({"time": 1e20}, "out_of_range"),
        ({"time": 10**400}, "out_of_range"),
        ({"class_id": 10**5000}, "out_of_range"),
        ({"confidence": 10**400}, "out_of_range"),
        ({"confidence": True}, "wrong_type"),
        ({"bbox": (1, 2, 3)}, "wrong_type"),
        ({"bbox": [1, 2, 3, 4]}, "wrong_type"),
        ({"bbox": (1, 2, 3, 65536)}, "out_of_range"),
        ({"track_id": -1}, "out_of_range"),
        ({"priority": "high"}, "wrong_type"),
        ({"chip": b""}, "out_of_range"),
        ({"chip": "abc"}, "wrong_type"),
    ],
)
def test_a_report_built_in_python_is_checked_like_a_parsed_one(
    changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(IntakeError) as refused:
        DetectionReport(**good(**changes))
    assert refused.value.reason == reason
    assert str(refused.value), "the message says what"


def test_a_bug_in_a_check_is_counted_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(line: bytes | str) -> DetectionReport:
        raise KeyError(line)

    monkeypatch.setattr(intake_module, "parse_report", broken)
    intake = Intake()
    assert reasons(intake, GOOD_LINE) == ["unexpected"]
    assert intake.refused_by == {"unexpected": 1}


def test_refusals_are_logged_once_a_minute_per_reason_and_summarised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    intake = Intake()
    kinds = [b"[" * 100, b"{oops", with_field("time", "Infinity")]
    with caplog.at_level(logging.WARNING, logger="event.agent.intake"):
        for i in range(9000):
            now = i / 300  # 30 s of a 300-a-second flood
            intake.lines(kinds[i % 3], now)
            intake.log_summary(now)
        refused = [r.getMessage() for r in caplog.records]
        assert len(refused) == 3, "the first of each reason, then nothing for a minute"
        assert {m.split()[1] for m in refused} == {
            "reason=too_deep",
            "reason=not_json",
            "reason=not_finite",
        }
        intake.log_summary(LOG_INTERVAL)
        (summary,) = [r.getMessage() for r in caplog.records[3:]]
    assert summary == (
        "event=detections_refused refused=9000 not_finite=3000 not_json=3000 too_deep=3000"
    )
    assert intake.refused_by == {"too_deep": 3000, "not_json": 3000, "not_finite": 3000}
    caplog.clear()
    intake.log_summary(LOG_INTERVAL * 3)
    assert caplog.records == [], "no summary when nothing was refused"


def assert_parsed_or_named(data: bytes | str) -> None:
    assert outcome(data) in {*REASONS, "accepted"} - {"unexpected"}


def outcome(data: bytes | str) -> str:
    """ "accepted", or the reason `parse_report` gave; any other exception goes up."""
    try:
        parse_report(data)
    except IntakeError as exc:
        return exc.reason
    return "accepted"


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_parse_or_are_refused_by_name(data: bytes) -> None:
    assert_parsed_or_named(data)
    intake = Intake()
    checked = intake.lines(data, 0.0)
    assert intake.counters["accepted"] + intake.counters["refused"] == len(checked)
    assert "unexpected" not in intake.refused_by


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**30, max_value=10**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([1e20, 1e300, 2**53, -(2**63), 255, 256, 65535, 65536])
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from([*GOOD, "priority", "chip", "time", "meta"])


@given(st.dictionaries(FIELDS, JSON_VALUES), st.lists(FIELDS, max_size=3))
def test_mutated_reports_parse_or_are_refused_by_name(
    changes: dict[str, Any], dropped: list[str]
) -> None:
    obj = {k: v for k, v in {**GOOD, **changes}.items() if k not in dropped}
    assert_parsed_or_named(json.dumps(obj))


@given(
    st.lists(
        st.tuples(st.integers(0, len(GOOD_LINE)), st.integers(0, 3), st.binary(max_size=4)),
        max_size=6,
    )
)
def test_byte_mutations_of_a_good_line_parse_or_are_refused_by_name(
    edits: list[tuple[int, int, bytes]],
) -> None:
    data = GOOD_LINE
    for at, cut, insert in edits:
        data = data[:at] + insert + data[at + cut :]
    assert_parsed_or_named(data)


@given(st.dictionaries(st.sampled_from(list(good())), JSON_VALUES | st.binary(max_size=4)))
def test_reports_built_from_anything_are_checked_or_refused_by_name(
    changes: dict[str, Any],
) -> None:
    try:
        report = DetectionReport(**good(**changes))
    except IntakeError as exc:
        reason = exc.reason
    else:
        reason = "accepted"
        assert 0 <= (report.time_ms or 0) < 2**64
    assert reason in {*REASONS, "accepted"} - {"unexpected"}
