"""Detector intake: good lines become reports; anything else is refused with a reason."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.agent.intake import MAX_CHIP, Intake, IntakeError, parse_report
from companion.reliability.priority import Priority

GOOD = {"class_id": 3, "confidence": 0.91, "bbox": [120, 88, 64, 40], "track_id": 12}


def line(**changes: object) -> bytes:
    obj = {**GOOD, **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not None}).encode()


def test_a_good_line_with_a_chip() -> None:
    chip = bytes(range(256)) * 4
    report = parse_report(line(chip=base64.b64encode(chip).decode(), priority="LOW", time=5.5))
    assert report.class_id == 3
    assert report.confidence == pytest.approx(0.91)
    assert report.bbox == (120, 88, 64, 40)
    assert report.track_id == 12
    assert report.priority is Priority.LOW
    assert report.chip == chip
    assert report.time == 5.5


def test_defaults() -> None:
    report = parse_report(line(track_id=None))
    assert (report.track_id, report.priority, report.chip, report.time) == (
        0,
        Priority.HIGH,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (line(class_id=None), "missing 'class_id'"),
        (line(class_id=256), "outside 0..255"),
        (line(class_id="3"), "must be an integer"),
        (line(class_id=True), "must be an integer"),
        (line(confidence=1.5), "outside"),
        (line(confidence="high"), "finite number"),
        (line(bbox=[1, 2, 3]), "four integers"),
        (line(bbox=[1, 2, 3, -4]), "outside"),
        (line(priority="urgent"), "'priority' must be one of"),
        (line(chip="***"), "not valid base64"),
        (line(chip=base64.b64encode(bytes(MAX_CHIP + 1)).decode()), "must be 1.."),
        (line(time=-1), "positive Unix seconds"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_refusals_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(IntakeError, match=reason):
        parse_report(data)


def test_a_datagram_keeps_the_good_lines_and_counts_the_bad() -> None:
    intake = Intake()
    reports = intake.datagram(line() + b"\n{oops\n\n" + line(track_id=13) + b"\n")
    assert [r.track_id for r in reports] == [12, 13]
    assert intake.counters == {"accepted": 2, "refused": 1}
    assert "not JSON" in intake.last_error


@given(st.binary(max_size=300))
def test_garbage_is_refused_never_raised(data: bytes) -> None:
    intake = Intake()
    intake.datagram(data)
    assert intake.counters["accepted"] + intake.counters["refused"] <= data.count(b"\n") + 1


@given(
    st.dictionaries(
        st.sampled_from(["class_id", "confidence", "bbox", "track_id", "priority", "chip"]),
        st.one_of(
            st.none(), st.integers(), st.floats(), st.text(max_size=5), st.lists(st.integers())
        ),
    )
)
def test_mistyped_fields_only_raise_intake_error(obj: dict[str, object]) -> None:
    with contextlib.suppress(IntakeError):
        parse_report(json.dumps(obj))
