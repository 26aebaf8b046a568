"""The autopilot adapter: the companion's link to ArduPilot, and the EVENT commands on it.

- `AutopilotAdapter` (adapter.py): the trio driver; connect, keep `VehicleState`, and
  execute mission upload/start, abort, retask, jump and parameter writes, each ending in
  a `Result` (an EVENT outcome and a reason).
- `CommandExecutor` (executor.py): EVENT command messages in, validated (validation.py),
  executed one at a time (an abort preempts), EVENT_ACK out.
- Sans-IO cores: `AutopilotConnection` (connection.py), the operations in
  mission_protocol.py, commands.py, parameters.py and stream_rates.py, and the
  `StateTracker` (vehicle_state.py).
- `TlogWriter` (tlog.py): the link's traffic as a MAVProxy-format .tlog.
"""

from companion.autopilot.adapter import AbortAction, AutopilotAdapter
from companion.autopilot.executor import CommandExecutor
from companion.autopilot.mission_protocol import MissionItem
from companion.autopilot.operation import Timing
from companion.autopilot.result import Result
from companion.autopilot.tlog import TlogWriter
from companion.autopilot.vehicle_state import LinkEvent, LinkEventKind, VehicleState

__all__ = [
    "AbortAction",
    "AutopilotAdapter",
    "CommandExecutor",
    "LinkEvent",
    "LinkEventKind",
    "MissionItem",
    "Result",
    "Timing",
    "TlogWriter",
    "VehicleState",
]
