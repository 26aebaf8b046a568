"""PARAM_SET confirmed by PARAM_VALUE: types, casts, unknown names."""

from __future__ import annotations

import math

import pytest

from companion.autopilot.parameters import ParamPhase, ParamSet, same_value, value_problem
from dialects import event
from tests.companion.autopilot.fc import TARGET, TIMING, from_fc, param_value

INT8 = event.MAV_PARAM_TYPE_INT8
INT16 = event.MAV_PARAM_TYPE_INT16
INT32 = event.MAV_PARAM_TYPE_INT32
REAL32 = event.MAV_PARAM_TYPE_REAL32


def test_reads_then_sets_then_confirms() -> None:
    op = ParamSet(TARGET, TIMING, "WPNAV_SPEED", 750.0, REAL32)
    (read,) = op.start(0.0)
    assert (read.get_type(), read.param_id, read.param_index) == (
        "PARAM_REQUEST_READ",
        "WPNAV_SPEED",
        -1,
    )
    (write,) = op.receive(from_fc(param_value("WPNAV_SPEED", 1000.0, REAL32)), 0.2)
    assert op.previous == 1000.0
    assert (write.get_type(), write.param_id, write.param_value, write.param_type) == (
        "PARAM_SET",
        "WPNAV_SPEED",
        750.0,
        REAL32,
    )
    op.receive(from_fc(param_value("WPNAV_SPEED", 750.0, REAL32)), 0.4)
    assert op.result is not None
    assert op.result.ok
    assert op.result.reason == "WPNAV_SPEED=750"


def test_other_parameters_values_are_not_the_answer() -> None:
    op = ParamSet(TARGET, TIMING, "RTL_ALT", 3000, INT32)
    op.start(0.0)
    assert op.receive(from_fc(param_value("RTL_ALT_FINAL", 0, INT32)), 0.1) == []
    assert op.phase is ParamPhase.READ


@pytest.mark.parametrize(
    ("param_type", "value"),
    [(INT8, -7.0), (INT16, 3000.0), (INT32, 2_000_000.0), (INT32, 123_456_789.0)],
)
def test_integer_types_are_compared_after_the_float_cast(param_type: int, value: float) -> None:
    op = ParamSet(TARGET, TIMING, "SOME_PARAM", value, param_type)
    op.start(0.0)
    op.receive(from_fc(param_value("SOME_PARAM", 0, param_type)), 0.1)
    # the value comes back through a float32, as ArduPilot sends it
    op.receive(from_fc(param_value("SOME_PARAM", value, param_type)), 0.2)
    assert op.result is not None
    assert op.result.ok


def test_real32_is_compared_with_tolerance() -> None:
    assert same_value(0.1, 0.10000000149011612, REAL32)
    assert not same_value(0.1, 0.1001, REAL32)
    assert same_value(123_456_789, 123_456_792, INT32)  # float32 has 24 bits
    assert not same_value(5, 6, INT8)


def test_unknown_parameter_is_invalid_after_the_retries() -> None:
    op = ParamSet(TARGET, TIMING, "NO_SUCH_PARAM", 1, INT8)
    op.start(0.0)
    now = 0.0
    reads = 1
    while not op.done:
        now += TIMING.response
        reads += len(op.on_timer(now))
    assert reads == 1 + TIMING.retries
    assert now == pytest.approx(9.0)
    assert op.result is not None
    assert op.result.outcome == event.EVENT_OUTCOME_INVALID
    assert op.result.reason == "unknown parameter NO_SUCH_PARAM"


def test_wrong_type_is_invalid() -> None:
    op = ParamSet(TARGET, TIMING, "RTL_ALT", 3000, INT16)
    op.start(0.0)
    assert op.receive(from_fc(param_value("RTL_ALT", 1500, INT32)), 0.1) == []
    assert op.result is not None
    assert op.result.outcome == event.EVENT_OUTCOME_INVALID
    assert op.result.reason == "RTL_ALT is INT32, not INT16"


def test_value_the_autopilot_kept_is_rejected_after_the_retries() -> None:
    op = ParamSet(TARGET, TIMING, "FENCE_ENABLE", 1, INT8)
    op.start(0.0)
    op.receive(from_fc(param_value("FENCE_ENABLE", 0, INT8)), 0.1)
    now = 0.1
    while not op.done:
        op.receive(from_fc(param_value("FENCE_ENABLE", 0, INT8)), now)
        now += TIMING.response
        for message in op.on_timer(now):
            assert message.get_type() == "PARAM_SET"
    assert op.result is not None
    assert op.result.outcome == event.EVENT_OUTCOME_AUTOPILOT_REJECTED
    assert op.result.reason == "FENCE_ENABLE stayed 0"


def test_a_stale_value_before_the_new_one_does_not_fail() -> None:
    op = ParamSet(TARGET, TIMING, "FENCE_ENABLE", 1, INT8)
    op.start(0.0)
    op.receive(from_fc(param_value("FENCE_ENABLE", 0, INT8)), 0.1)
    op.receive(from_fc(param_value("FENCE_ENABLE", 0, INT8)), 0.2)  # from a param stream
    op.receive(from_fc(param_value("FENCE_ENABLE", 1, INT8)), 0.3)
    assert op.result is not None
    assert op.result.ok


def test_set_without_answer_times_out() -> None:
    op = ParamSet(TARGET, TIMING, "FENCE_ENABLE", 1, INT8)
    op.start(0.0)
    op.receive(from_fc(param_value("FENCE_ENABLE", 0, INT8)), 0.0)
    now = 0.0
    while not op.done:
        now += TIMING.response
        op.on_timer(now)
    assert op.result is not None
    assert op.result.outcome == event.EVENT_OUTCOME_TIMEOUT
    assert op.result.reason == "param FENCE_ENABLE: no PARAM_VALUE"


@pytest.mark.parametrize(
    ("value", "param_type", "problem"),
    [
        (128, INT8, "128 out of range for INT8"),
        (-129, INT8, "-129 out of range for INT8"),
        (1.5, INT16, "1.5 is not an integer (INT16)"),
        (2.0**31, INT32, "2.14748e+09 out of range for INT32"),
        (math.nan, REAL32, "value is not a finite number"),
        (1e39, REAL32, "1e+39 out of range for REAL32"),
        (1.0, event.MAV_PARAM_TYPE_REAL64, "unsupported param type 10"),
        (1.0, 0, "unsupported param type 0"),
    ],
)
def test_value_problems(value: float, param_type: int, problem: str) -> None:
    assert value_problem(value, param_type) == problem


@pytest.mark.parametrize(
    ("value", "param_type"),
    [(127, INT8), (-128, INT8), (255, event.MAV_PARAM_TYPE_UINT8), (0.25, REAL32)],
)
def test_values_that_fit(value: float, param_type: int) -> None:
    assert value_problem(value, param_type) is None


def test_name_longer_than_sixteen_is_refused() -> None:
    with pytest.raises(ValueError, match="1-16"):
        ParamSet(TARGET, TIMING, "A" * 17, 1, INT8)
