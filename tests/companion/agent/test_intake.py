"""Detector intake: good lines become reports; anything else is refused with a reason."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.agent.detection import MAX_CHIP, IntakeError, parse_report
from companion.agent.intake import (
    REFUSAL_BURST,
    REFUSALS_PER_SECOND,
    Intake,
    Refused,
    refusal,
    stored_answer,
)
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
        (line(time=1e300), "'time' must be below"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_refusals_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(IntakeError, match=reason):
        parse_report(data)


def test_a_datagram_keeps_the_good_lines_and_counts_the_bad() -> None:
    intake = Intake()
    checked = intake.lines(line() + b"\n{oops\n\n" + line(track_id=13) + b"\n", 0.0)
    assert [getattr(c, "track_id", "refused") for c in checked] == [12, "refused", 13]
    assert intake.counters == {"accepted": 2, "refused": 1}
    assert intake.refused_by == {"not_json": 1}


@given(st.binary(max_size=300))
def test_garbage_is_refused_never_raised(data: bytes) -> None:
    intake = Intake()
    intake.lines(data, 0.0)
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


def answers_to(data: bytes, intake: Intake | None = None, now: float = 0.0) -> list[Any]:
    """What the agent answers to `data` (every accepted line counted as committed)."""
    intake = intake or Intake()
    answers = intake.answers(len(data))
    for checked in intake.lines(data, now):
        answers.add(checked, now)
    return [json.loads(answer) for answer in answers.data.splitlines()]


def test_each_line_is_answered_stored_or_refused_in_order() -> None:
    data = line(time=1750000000.25) + b"\n" + line(confidence=1.5) + b"\n" + line(time=None)
    assert answers_to(data) == [
        {"stored": True, "time": 1750000000250, "track_id": 12},
        {"stored": False, "error": "'confidence' 1.5 outside 0.0..1.0"},
        {"stored": True, "track_id": 12},
    ]


def test_the_stored_time_is_the_one_the_detection_carries() -> None:
    report = parse_report(line(time=1750000000.123))
    assert report.time_ms == 1750000000123
    assert json.loads(stored_answer(report))["time"] == report.time_ms


def test_a_refusal_is_cut_to_the_size_of_the_line_it_answers() -> None:
    answer = refusal(Refused("not_json", "x" * 500, 40))
    assert len(answer) + 1 == 40
    assert json.loads(answer) == {"stored": False, "error": "x" * 12}
    assert refusal(Refused("not_json", "not JSON", 27)) == b""


@given(st.text(max_size=80), st.integers(1, 120))
def test_a_cut_reason_is_a_prefix_and_fits_escapes_included(reason: str, size: int) -> None:
    answer = refusal(Refused("not_json", reason, size))
    if answer:
        assert len(answer) + 1 <= size
        assert reason.startswith(json.loads(answer)["error"])
    else:
        assert size < 28


def test_a_short_refused_line_gets_no_answer_and_it_is_counted() -> None:
    intake = Intake()
    assert answers_to(b"[1]", intake) == []
    assert intake.counters == {"refused": 1}
    assert intake.answered == {"left_out": 1}


def test_refusal_answers_are_rate_limited_stored_answers_are_not() -> None:
    intake = Intake()
    bad = b'{"class_id": "three", "padding": "' + b"." * 60 + b'"}'
    answered = [len(answers_to(bad, intake, now=0.0)) for _ in range(REFUSAL_BURST + 5)]
    assert answered == [1] * REFUSAL_BURST + [0] * 5
    assert intake.answered == {"refused": REFUSAL_BURST, "refusals_not_answered": 5}
    assert answers_to(line(), intake, now=0.0) == [{"stored": True, "track_id": 12}]
    assert len(answers_to(bad, intake, now=1.0 / REFUSALS_PER_SECOND)) == 1


@given(st.binary(max_size=400), st.lists(st.integers(0, 2), max_size=6))
def test_a_reply_is_never_larger_than_the_datagram_it_answers(
    noise: bytes, picks: list[int]
) -> None:
    pieces = [line(), line(time=1.5, track_id=None), noise]
    data = b"\n".join(pieces[pick] for pick in picks) + noise
    intake = Intake()
    answers = intake.answers(len(data))
    for checked in intake.lines(data, 0.0):
        answers.add(checked, 0.0)
    assert len(answers.data) <= len(data)
