"""The named scenarios, short runs: exact outcomes that must hold on every run."""

from __future__ import annotations

import pytest

from sitl import scenarios


def test_line_delivers_everything_once_through_two_relays() -> None:
    report = scenarios.run("line", seed=1, minutes=2)
    assert report.delivered == {"HIGH": (56, 56)}
    assert report.duplicates == 0
    assert report.control_share < 0.05


def test_same_seed_same_figures() -> None:
    first = scenarios.run("line", seed=2, minutes=1)
    again = scenarios.run("line", seed=2, minutes=1)
    assert first == again


def test_unknown_scenario_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        scenarios.main(["nope"])


def test_repair_routes_around_a_failed_relay_within_three_seconds() -> None:
    report = scenarios.run("repair", seed=1, minutes=1)
    assert report.repair is not None
    assert report.repair < 3.0
    assert report.delivered == {"HIGH": (60, 60)}


def test_bulk_never_goes_ahead_of_an_abort() -> None:
    report = scenarios.run("bulk", seed=1, minutes=1)
    assert report.delivered["CRITICAL"][0] == report.delivered["CRITICAL"][1] > 0
    assert report.critical_behind_lower == 0


def test_swarm_of_ten_moving_with_loss_delivers_everything_once() -> None:
    report = scenarios.run("swarm10", seed=1, minutes=2)
    assert report.delivered == {"HIGH": (128, 128)}
    assert report.duplicates == 0
    assert report.control_share < 0.05


def test_ground_station_dark_for_ten_minutes() -> None:
    report = scenarios.run("dark", seed=1)
    assert report.after_outage is not None
    delivered, alive, ordered = report.after_outage
    assert delivered == alive > 0, "every message still alive when it came back arrives"
    assert ordered, "each sender's buffered messages arrive in priority order"
    assert report.duplicates == 0
    assert report.delivered["LOW"] == (80, 80)  # an hour to live: all outlived the dark
