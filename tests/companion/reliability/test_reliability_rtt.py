"""RFC 6298 estimator: exact SRTT, RTTVAR and RTO after each sample, clamping, backoff."""

from __future__ import annotations

import pytest

from companion.reliability.rtt import RttEstimator


def test_initial_rto_and_backoff_before_any_sample() -> None:
    rtt = RttEstimator()
    assert rtt.rto == 3.0
    assert [rtt.timeout(n) for n in range(6)] == [3.0, 6.0, 12.0, 24.0, 48.0, 60.0]


def test_rto_follows_rfc_6298_formulas() -> None:
    rtt = RttEstimator()
    rtt.sample(1.0)  # SRTT = R, RTTVAR = R/2, RTO = 1 + 4 * 0.5
    assert (rtt.srtt, rtt.rttvar, rtt.rto) == (1.0, 0.5, 3.0)
    rtt.sample(1.0)  # RTTVAR = 3/4 * 0.5 + 1/4 * 0
    assert (rtt.srtt, rtt.rttvar, rtt.rto) == (1.0, 0.375, 2.5)
    rtt.sample(2.0)  # RTTVAR = 3/4 * 0.375 + 1/4 * 1, SRTT = 7/8 + 2/8
    assert (rtt.srtt, rtt.rttvar, rtt.rto) == (1.125, 0.53125, 3.25)
    assert rtt.timeout(1) == 6.5
    assert rtt.samples == 3


def test_rto_is_clamped_to_minimum_and_maximum() -> None:
    rtt = RttEstimator()
    for _ in range(100):
        rtt.sample(0.05)
    assert rtt.srtt == pytest.approx(0.05)
    assert rtt.rto == 0.5
    rtt = RttEstimator()
    rtt.sample(20.0)  # 20 + 4 * 10 = 60: at the ceiling
    assert rtt.rto == 60.0
    rtt.sample(100.0)
    assert rtt.rto == 60.0


def test_granularity_floors_the_variance_term() -> None:
    rtt = RttEstimator(minimum=0.01, initial=1.0, granularity=0.2)
    for _ in range(200):
        rtt.sample(1.0)
    assert rtt.rto == pytest.approx(1.2)


@pytest.mark.parametrize(("minimum", "initial", "maximum"), [(0, 1, 2), (2, 1, 3), (1, 3, 2)])
def test_inconsistent_bounds_are_refused(minimum: float, initial: float, maximum: float) -> None:
    with pytest.raises(ValueError, match="minimum"):
        RttEstimator(minimum=minimum, initial=initial, maximum=maximum)
