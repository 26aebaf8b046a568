"""Link-loss policy (the seed's emergency autonomy), sans-IO.

Rules:
- The agent reports, each second or so, whether a route to the ground station exists.
  When none has existed for `timeout` seconds, the policy fires once: CONTINUE (keep
  flying the mission), LOITER or RTL. It fires again only after the link came back.
- It never fights the autopilot: the action is asked for only while the vehicle is
  airborne and in a mode the agent itself set (AUTO or GUIDED); a failsafe mode the
  autopilot chose (RTL, LAND, ...) is left alone.
- When the route is back, `restored()` returns what happened, once, for the report home.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

AGENT_MODES = frozenset({"AUTO", "GUIDED"})


class Action(enum.Enum):
    CONTINUE = "continue"
    LOITER = "loiter"
    RTL = "rtl"


@dataclass(frozen=True, slots=True)
class Fired:
    """The policy acted: `action` at `at` after `silent` seconds without a route."""

    action: Action
    at: float
    silent: float
    applied: bool
    """False when the vehicle was not in a mode the agent may change (left alone)."""


class LinkLossPolicy:
    """Watches the route to the ground and says when to act."""

    def __init__(self, action: Action, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError(f"link-loss timeout must be positive, not {timeout}")
        self.action = action
        self.timeout = timeout
        self._lost_since: float | None = None
        self._fired: Fired | None = None
        self._unreported: Fired | None = None

    @property
    def lost(self) -> bool:
        """True while the policy has fired and the link is not back."""
        return self._fired is not None

    def update(self, now: float, *, routed: bool, airborne: bool, mode: str) -> Fired | None:
        """Feed the current situation; returns the firing, once, when it happens."""
        if routed:
            self._lost_since = None
            if self._fired is not None:
                self._unreported, self._fired = self._fired, None
            return None
        if self._lost_since is None:
            self._lost_since = now
        if self._fired is not None or now - self._lost_since < self.timeout:
            return None
        applied = self.action is not Action.CONTINUE and airborne and mode in AGENT_MODES
        self._fired = Fired(self.action, now, now - self._lost_since, applied)
        return self._fired

    def restored(self) -> Fired | None:
        """What the policy did during the last outage, once the route is back (once)."""
        fired, self._unreported = self._unreported, None
        return fired
