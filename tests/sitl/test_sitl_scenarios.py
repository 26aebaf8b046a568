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
    """Detections made in the dark all arrive, late; commands of the dark all expire."""
    report = scenarios.run("dark", seed=1)
    dark = report.dark
    assert dark is not None
    assert dark.made == 228
    assert dark.arrived == dark.made, "every detection made in the dark is delivered"
    assert dark.late >= 0.9 * dark.made, "held beyond 30 s: flagged late"
    assert dark.commands == 10
    assert dark.expired == dark.commands, "a command past its time to live expires"
    assert dark.acted == 0, "and none acts late"
