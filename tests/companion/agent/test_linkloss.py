"""Link-loss policy: fires once after the timeout, leaves failsafes alone, reports after."""

from __future__ import annotations

from companion.agent.linkloss import Action, LinkLossPolicy


def test_fires_once_after_the_timeout_and_reports_when_back() -> None:
    policy = LinkLossPolicy(Action.RTL, timeout=30)
    assert policy.update(0, routed=True, airborne=True, mode="AUTO") is None
    assert policy.update(10, routed=False, airborne=True, mode="AUTO") is None
    assert policy.update(39, routed=False, airborne=True, mode="AUTO") is None
    fired = policy.update(40, routed=False, airborne=True, mode="AUTO")
    assert fired is not None
    assert (fired.action, fired.silent, fired.applied) == (Action.RTL, 30, True)
    assert policy.lost
    assert policy.update(50, routed=False, airborne=True, mode="RTL") is None
    assert policy.restored() is None
    policy.update(60, routed=True, airborne=True, mode="RTL")
    assert policy.restored() == fired
    assert policy.restored() is None
    assert not policy.lost


def test_a_failsafe_mode_or_the_ground_is_left_alone() -> None:
    policy = LinkLossPolicy(Action.LOITER, timeout=5)
    policy.update(0, routed=False, airborne=True, mode="LAND")
    fired = policy.update(6, routed=False, airborne=True, mode="LAND")
    assert fired is not None
    assert not fired.applied
    grounded = LinkLossPolicy(Action.RTL, timeout=5)
    grounded.update(0, routed=False, airborne=False, mode="AUTO")
    fired = grounded.update(6, routed=False, airborne=False, mode="AUTO")
    assert fired is not None
    assert not fired.applied


def test_continue_never_asks_for_anything() -> None:
    policy = LinkLossPolicy(Action.CONTINUE, timeout=1)
    policy.update(0, routed=False, airborne=True, mode="AUTO")
    fired = policy.update(2, routed=False, airborne=True, mode="AUTO")
    assert fired is not None
    assert not fired.applied
