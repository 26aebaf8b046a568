"""Cloud uplinks of the ground station: records to the cloud, commands back.

`base.py` is what every uplink shares (the `Uplink` face, outbox rows, the gateway's own
command outcomes); `http.py` speaks the cloud's HTTP API (docs/api.openapi.yaml);
`mqtt.py` publishes to a broker (docs/mqtt.md). Each keeps its records in a durable
outbox of its own until the cloud confirms them.
"""

from .base import CLOUD, CommandHandler, Uplink, gateway_outcome_record
from .http import HttpUplink, open_http_uplink
from .http_config import HttpUplinkConfig

__all__ = [
    "CLOUD",
    "CommandHandler",
    "HttpUplink",
    "HttpUplinkConfig",
    "Uplink",
    "gateway_outcome_record",
    "open_http_uplink",
]
