"""Motion models: where a node is at a given time."""

from __future__ import annotations

import pytest

from sitl.motion import Line, Stationary, Waypoints, distance


def test_stationary_stays() -> None:
    assert Stationary((1, 2, 3)).position(1e6) == (1, 2, 3)


def test_line_moves_at_constant_velocity_from_t0() -> None:
    line = Line(start=(100, 0, 50), velocity=(10, -5, 0), t0=20.0)
    assert line.position(20.0) == (100, 0, 50)
    assert line.position(30.0) == (200, -50, 50)
    assert line.position(10.0) == (0, 50, 50)


def test_waypoints_interpolate_and_hold_at_both_ends() -> None:
    track = Waypoints([(10.0, (0, 0, 0)), (20.0, (100, 0, 0)), (40.0, (100, 200, 20))])
    assert track.position(0.0) == (0, 0, 0)
    assert track.position(15.0) == (50, 0, 0)
    assert track.position(20.0) == (100, 0, 0)
    assert track.position(30.0) == (100, 100, 10)
    assert track.position(99.0) == (100, 200, 20)


def test_waypoints_must_be_in_time_order() -> None:
    with pytest.raises(ValueError, match="increase"):
        Waypoints([(10.0, (0, 0, 0)), (10.0, (1, 0, 0))])
    with pytest.raises(ValueError, match="at least one"):
        Waypoints([])


def test_distance_is_euclidean_in_three_dimensions() -> None:
    assert distance((0, 0, 0), (3, 4, 12)) == 13
